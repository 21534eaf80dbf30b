// @ts-check
/**
 * The numbers a call shows: the per-tile info ("640×480 30 fps · 3 ms"), your own tile's
 * sending state ("sending 320×240 · 142 of 150 kbit/s · limit: bandwidth") and the stats
 * line ("bot: 30 fps · 812 kbit/s · RTT 3 ms | ..."). The page computes rows from getStats; the
 * Conference widget gets them from the kernel (`stats` trait, see docs/widget-protocol.md).
 */

import { h } from "./dom.js";

/** @typedef {{name: string, fps?: number | null, kbps?: number | null,
 *   rtt_ms?: number | null}} StatsRow */

/**
 * @param {number | null | undefined} value
 * @param {string} unit
 */
function fmt(value, unit) {
  return value == null || Number.isNaN(value) ? "-" : `${Math.round(value)}${unit}`;
}

/**
 * One compact line for every peer.
 * @param {StatsRow[]} rows
 */
export function formatStatsLine(rows) {
  return rows.map((r) => `${r.name || "?"}: ${fmt(r.fps, " fps")} · ${fmt(r.kbps, " kbit/s")}` +
    ` · RTT ${fmt(r.rtt_ms, " ms")}`).join(" | ") || "waiting for participants";
}

/**
 * A tile's info line from RemotePeer.stats(): size, fps and round-trip time.
 * @param {Record<string, any>} stats
 */
export function tileInfo(stats) {
  const v = stats.video ?? {};
  if (!v.width) return "";
  return `${v.width}×${v.height}${v.fps ? ` ${Math.round(v.fps)} fps` : ""}` +
    (stats.rtt != null ? ` · ${Math.round(stats.rtt * 1000)} ms` : "");
}

/**
 * Your tile's info: the layers sent (size and rid), actual and target kbit/s, and why the
 * browser sends less than it may (`qualityLimitationReason`: bandwidth, cpu, other, none).
 * @param {ReturnType<typeof import("../rtc/send_quality.js").summarizeSending>} sent
 * @param {number | null} kbps  the actual rate (a {@link Rates} of `sent.bytesSent`)
 */
export function sendingInfo(sent, kbps) {
  if (!sent.layers.length) return "";
  const layers = sent.layers.map((l) => `${l.rid ? `${l.rid} ` : ""}${l.width}×${l.height}`);
  const target = sent.targetKbps != null ? ` of ${fmt(sent.targetKbps, "")}` : "";
  return `sending ${[...new Set(layers)].join(" + ")} · ${fmt(kbps, "")}${target} kbit/s` +
    ` · limit: ${sent.limitation ?? "-"}`;
}

/** Received (or sent) kbit/s per key from successive byte counters. */
export class Rates {
  constructor() {
    /** @type {Map<string, {bytes: number, time: number}>} */
    this.last = new Map();
  }

  /**
   * @param {string} id
   * @param {Record<string, any>} stats  RemotePeer.stats()
   */
  kbps(id, stats) {
    return this.rate(id, (stats.video?.bytesReceived ?? 0) + (stats.audio?.bytesReceived ?? 0));
  }

  /**
   * @param {string} id
   * @param {number} bytes  a byte counter that only grows
   */
  rate(id, bytes) {
    const now = performance.now();
    const prev = this.last.get(id);
    this.last.set(id, { bytes, time: now });
    if (!prev || now <= prev.time || bytes < prev.bytes) return null; // a connection went
    return ((bytes - prev.bytes) * 8) / (now - prev.time); // bits per ms = kbit/s
  }
}

/** The stats line element. */
export class StatsLine {
  constructor() {
    this.el = h("div", { class: "znb-stats" });
  }

  /**
   * @param {StatsRow[]} rows
   * @param {{transport: string, reason: string} | null} [link]  the widget's link to the
   *   kernel: which transport ("webrtc", "comm") leads the line, why in its tooltip
   */
  set(rows, link = null) {
    const line = formatStatsLine(rows);
    this.el.textContent = link?.transport ? `link: ${link.transport} | ${line}` : line;
    this.el.title = link?.reason ?? "";
  }
}
