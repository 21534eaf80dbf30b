// @ts-check
/** VideoView(feed): a kernel feed, live over the local link (slot 0). */

import { h, videoElement } from "../ui/dom.js";
import { KernelLink } from "./link.js";

/** @param {{model: import("./link.js").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const link = new KernelLink(model, { widget: "VideoView", slots: 1 });
  const video = videoElement(link.slotStream(0), true);
  const label = h("div", { class: "znb-label", textContent: model.get("label") });
  const root = h("div", { class: "znb-tile znb-view" }, [video, label]);
  el.append(root);
  link.start({});
  return () => {
    link.close();
    root.remove();
  };
}

export default { render };
