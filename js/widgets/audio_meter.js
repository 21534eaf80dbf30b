// @ts-check
/** AudioMeter(feed): a level bar driven by the kernel's `level_db` trait. */

import { h } from "../ui/dom.js";
import { Meter } from "../ui/meter.js";

/** @param {{model: import("./link.js").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const m = new Meter();
  const text = h("span", { class: "znb-db" });
  const root = h("div", { class: "znb-audio-meter" }, [
    h("span", { class: "znb-name", textContent: model.get("label") }), m.el, text]);
  const update = () => {
    const db = model.get("level_db");
    m.set(db <= -120 ? null : db);
    text.textContent = db <= -120 ? "silent" : `${db.toFixed(1)} dBFS`;
  };
  model.on("change:level_db", update);
  update();
  el.append(root);
  return () => {
    model.off("change:level_db", update);
    root.remove();
  };
}

export default { render };
