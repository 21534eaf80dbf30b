// @ts-check
/** A level bar for dBFS values (-60..0), on tiles and in the AudioMeter widget. */

import { h } from "./dom.js";

export class Meter {
  constructor() {
    this.bar = h("div", { class: "znb-meter-bar" });
    this.el = h("div", { class: "znb-meter", title: "audio level" }, [this.bar]);
  }

  /** @param {number | null | undefined} db  null: no audio */
  set(db) {
    const v = db == null ? 0 : Math.max(0, Math.min(1, (db + 60) / 60));
    this.bar.style.width = `${(v * 100).toFixed(0)}%`;
    this.el.title = db == null ? "no audio" : `${db.toFixed(1)} dBFS`;
  }
}
