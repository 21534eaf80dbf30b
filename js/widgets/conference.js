// @ts-check
/**
 * Conference(room): a tile per participant (you first) with name, audio meter and state;
 * camera / mic / screen share / resolution / leave; a compact stats line. The page captures
 * with js/rtc/media.js (shared with the standalone page) and sends to the kernel over the
 * local link; remote participants come back from the kernel in the link's slots.
 */

import { LocalMedia, RESOLUTIONS } from "../rtc/media.js";
import { h, KernelLink, meter, videoElement } from "./link.js";

/** @typedef {import("./link.js").Model} Model */
/** @typedef {{key: string, name: string, local: boolean, state: string, slot: number | null}} Row */

/** @param {{model: Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const capture = Boolean(model.get("capture"));
  const media = new LocalMedia();
  const link = new KernelLink(model, { widget: "Conference" });
  /** @type {Map<string, {tile: HTMLElement, video: HTMLVideoElement | null, slot: number | null,
   *   meter: ReturnType<typeof meter>, state: HTMLElement}>} */
  const tiles = new Map();
  const grid = h("div", { class: "znb-grid" });
  const status = h("div", { class: "znb-status" });
  const statsLine = h("div", { class: "znb-stats" });

  const camBtn = h("button", { textContent: "Camera off", onclick: () => {
    media.setCameraOff(!media.cameraOff);
    reportMedia();
  } });
  const micBtn = h("button", { textContent: "Mute", onclick: () => {
    media.setMuted(!media.muted);
    reportMedia();
  } });
  const shareBtn = h("button", { textContent: "Share screen", onclick: async () => {
    try {
      if (media.screen) media.stopScreenShare();
      else await media.shareScreen();
    } catch (err) {
      status.textContent = `Screen share: ${/** @type {any} */ (err)?.message ?? err}`;
    }
    reportMedia();
  } });
  const resSelect = h("select", { title: "camera resolution", onchange: async () => {
    try {
      await media.setResolution(resSelect.value);
    } catch {
      status.textContent = media.error?.message ?? "cannot change the resolution";
    }
    reportMedia();
  } }, Object.keys(RESOLUTIONS).map((r) => h("option", { value: r, textContent: r })));
  resSelect.value = model.get("resolution") || "VGA";
  const leaveBtn = h("button", { textContent: "Leave", class: "znb-leave", onclick: () => {
    model.send({ type: "leave", view: link.view });
  } });
  const controls = h("div", { class: "znb-controls" },
    capture ? [camBtn, micBtn, shareBtn, resSelect, leaveBtn] : [leaveBtn]);
  const root = h("div", { class: "znb-conference" }, [grid, controls, statsLine, status]);
  el.append(root);

  function reportMedia() {
    camBtn.textContent = media.cameraOff ? "Camera on" : "Camera off";
    micBtn.textContent = media.muted ? "Unmute" : "Mute";
    shareBtn.textContent = media.screen ? "Stop sharing" : "Share screen";
    const d = media.describe();
    model.send({ type: "media", view: link.view, camera: !d.cameraOff && d.video,
      mic: !d.muted && d.audio, sharing: d.sharing, resolution: d.resolution });
  }

  /** @param {Row} row */
  function tileFor(row) {
    let t = tiles.get(row.key);
    if (!t) {
      const m = meter();
      const state = h("span", { class: "znb-state" });
      const tile = h("div", { class: "znb-tile" + (row.local ? " znb-local" : "") }, [
        h("div", { class: "znb-label" }, [h("span", { class: "znb-name" }), state]), m.el]);
      t = { tile, video: null, slot: null, meter: m, state };
      tiles.set(row.key, t);
    }
    t.tile.querySelector(".znb-name").textContent = row.name;
    t.state.textContent = row.state;
    t.state.dataset.state = row.state;
    let stream = null;
    const slot = row.local && capture ? null : link.slotOf(row.key);
    if (row.local && capture) stream = media.previewStream();
    else if (slot >= 0) stream = link.slotStream(slot);
    if (stream && (!t.video || t.slot !== slot || row.local)) {
      t.video?.remove();
      t.video = videoElement(stream, !row.local);
      t.slot = slot;
      t.tile.prepend(t.video);
    }
    return t.tile;
  }

  function layout() {
    /** @type {Row[]} */
    const rows = model.get("participants") ?? [];
    const keys = new Set(rows.map((r) => r.key));
    for (const [key, t] of tiles) {
      if (!keys.has(key)) {
        t.tile.remove();
        tiles.delete(key);
      }
    }
    rows.forEach((row) => grid.append(tileFor(row)));
    // a camera/mic problem stays on show: the link's state must not overwrite it
    const linkText = link.error || (link.state === "connected" ? "" : `kernel link: ${link.state}`);
    status.textContent = model.get("joined")
      ? [media.error?.message, linkText].filter(Boolean).join(" · ") : "left the session";
  }

  const onStats = () => { statsLine.textContent = model.get("stats_line") ?? ""; };
  /** @param {any} msg */
  const onMsg = (msg) => {
    if (msg?.type !== "levels") return;
    for (const [key, db] of Object.entries(msg.levels)) tiles.get(key)?.meter.set(db);
  };
  model.on("change:participants", layout);
  model.on("change:joined", layout);
  model.on("change:stats_line", onStats);
  model.on("msg:custom", onMsg);
  link.addEventListener("slots", layout);
  link.addEventListener("state", layout);
  link.addEventListener("error", layout);
  const stopChange = media.on("change", (tracks) => {
    link.setTracks(tracks);
    const local = tiles.get("local");
    if (local?.video) local.video.srcObject = media.previewStream();
  });
  layout();
  onStats();

  (async () => {
    if (capture) {
      await media.start({ audio: true, video: true, resolution: resSelect.value });
      reportMedia();
      layout();
    }
    await link.start(capture ? media.tracks : {});
  })();

  return () => {
    model.off("change:participants", layout);
    model.off("change:joined", layout);
    model.off("change:stats_line", onStats);
    model.off("msg:custom", onMsg);
    stopChange();
    link.close();
    media.stop();
    root.remove();
  };
}

export default { render };
