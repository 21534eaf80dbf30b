// @ts-check
/**
 * Camera(): the page's camera and microphone, sent to the kernel over the local link, with
 * a small self view and the shared controls (mute, camera off, device pickers).
 */

import { LocalMedia } from "../rtc/media.js";
import { Controls } from "../ui/controls.js";
import { h, videoElement } from "../ui/dom.js";
import { StatusLine } from "../ui/status.js";
import { KernelLink, widgetMediaError } from "./link.js";

/** @param {{model: import("./link.js").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const media = new LocalMedia();
  const link = new KernelLink(model, { widget: "Camera", slots: 0 });
  const preview = videoElement(null);
  const status = new StatusLine();
  let problem = "";
  const report = (/** @type {string} */ message, /** @type {string} */ code) => {
    problem = message;
    model.send({ type: "error", view: link.view, code, message });
    showState();
  };
  const controls = new Controls(media, { onError: report });
  const root = h("div", { class: "znb-camera" }, [
    h("div", { class: "znb-tile znb-local" }, [preview]), controls.el, status.el]);
  el.append(root);
  function showState() {
    // a camera/mic problem stays on show: the link's state must not overwrite it
    const linkText = link.statusText();
    const transport = link.transport ? `link: ${link.transport}` : "";
    status.show([problem, linkText, transport].filter(Boolean).join(" · "));
  }
  link.addEventListener("state", showState);
  link.addEventListener("error", showState);
  link.addEventListener("transport", showState);
  const stops = [media.on("change", (tracks) => {
    link.setTracks(tracks);
    preview.srcObject = media.previewStream();
    controls.update();
  }), media.on("ended", ({ message }) => report(message, "device-lost"))];
  (async () => {
    await media.start({ audio: true, video: true, resolution: model.get("resolution") });
    if (media.error) {
      const error = widgetMediaError(media.error);
      report(error.message, error.code);
    }
    showState();
    await link.start(media.tracks);
  })();
  return () => {
    for (const stop of stops) stop();
    controls.dispose();
    link.close();
    media.dispose();
    root.remove();
  };
}

export default { render };
