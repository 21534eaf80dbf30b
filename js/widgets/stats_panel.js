// @ts-check
/**
 * StatsPanel(room): room.stats(flat=True) as a table, refreshed by the kernel. Your outbound
 * video rows carry the encoder's target and whether the network limits it
 * (`quality_limitation`: "bandwidth" or "none"); inbound video rows the simulcast layer.
 */

import { h } from "../ui/dom.js";

const COLUMNS = ["name", "direction", "kind", "state", "fps", "bitrate_kbps", "target_kbps",
  "quality_limitation", "layer", "rtt_ms", "packets_lost", "jitter_ms"];

/** @param {any} v */
const fmt = (v) => (v == null ? "–" : typeof v === "number" ? String(Math.round(v * 10) / 10) : String(v));

/** @param {{model: import("./link.js").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const table = h("table", { class: "znb-stats-table" });
  const update = () => {
    /** @type {Record<string, any>[]} */
    const rows = model.get("stats") ?? [];
    table.replaceChildren(
      h("tr", {}, COLUMNS.map((c) => h("th", { textContent: c }))),
      ...rows.map((r) => h("tr", {}, COLUMNS.map((c) => h("td", { textContent: fmt(r[c]) })))));
  };
  model.on("change:stats", update);
  update();
  el.append(table);
  return () => {
    model.off("change:stats", update);
    table.remove();
  };
}

export default { render };
