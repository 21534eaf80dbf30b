// @ts-check
/**
 * Conference(room): the call in a notebook, with the page's UI modules (js/ui/): a tile per
 * participant (you first), the controls, a stats line and a status line. The browser
 * captures with js/rtc/media.js and sends to the kernel over the local link; the others come
 * back from the kernel in the link's slots — or, in an SFU session (the `sfu` trait), straight
 * from Janus (js/rtc/sfu_viewer.js), each tile at the layer js/ui/layers.js picks. Messages:
 * docs/widget-protocol.md. Level meters and the active speaker come from the kernel's `levels`;
 * for peers the kernel does not receive (`room.subscribe`), from the viewer's getStats.
 */

import { LocalMedia } from "../rtc/media.js";
import { SfuViewer } from "../rtc/sfu_viewer.js";
import { Controls } from "../ui/controls.js";
import { h } from "../ui/dom.js";
import { LayerPolicy } from "../ui/layers.js";
import { StatsLine } from "../ui/stats.js";
import { StatusLine } from "../ui/status.js";
import { linearToDb, mediaFlags, TileGrid } from "../ui/tiles.js";
import { CommDown } from "./comm_down.js";
import { KernelLink, registry, widgetMediaError } from "./link.js";

/** @typedef {import("./link.js").Model} Model */
/** @typedef {{key: string, name: string, local: boolean, state: string, e2ee?: string | null,
 *   media?: {audio: boolean | null, video: boolean | null}}} Row */

/** How to add the E2EE passphrase in a notebook (under "encrypted — no key"). */
export const NO_KEY_HINT = "join with zero_nb.join(..., e2ee='the passphrase') to see and " +
  "hear them";

/** What a Conference whose room has left says (instead of tiles and controls). */
export const LEFT_TEXT = "This room has left the session: run zero_nb.join(...) in a cell " +
  "to join again.";

class ConferenceView {
  /**
   * @param {Model} model
   * @param {HTMLElement} el
   */
  constructor(model, el) {
    this.model = model;
    this.capture = Boolean(model.get("capture"));
    this.media = new LocalMedia();
    this.link = this.newLink();
    /** @type {CommDown | null} the tiles' media over the comm (js/widgets/comm_down.js) */
    this.down = null;
    /** @type {SfuViewer | null} the others' media straight from Janus (SFU sessions) */
    this.viewer = null;
    /** @type {string | null} the view that asked the kernel for the room's pin */
    this.pinAsked = null;
    /** @type {Set<string>} the peers the kernel's last `levels` measured (the viewer: the rest) */
    this.heard = new Set();
    this.levelTimer = setInterval(() => this.viewerLevels(), 1000);
    this.layers = new LayerPolicy((id, layer) => this.viewer?.setLayer(id, layer));
    this.grid = new TileGrid({ onChange: (grid) => this.layers.apply(grid),
      noKeyHint: NO_KEY_HINT });
    this.stats = new StatsLine();
    this.status = new StatusLine();
    /** a problem the kernel also heard about; stays on show */
    this.problem = "";
    /** the room has left: tiles, controls, link and capture are gone for good */
    this.left = false;
    this.controls = new Controls(this.media, { capture: this.capture,
      onChange: () => this.reportMedia(),
      onLeave: () => model.send({ type: "leave", view: this.link.view }),
      onError: (message, code) => this.report(message, code) });
    this.controls.resolution.value = model.get("resolution") || "VGA";
    /** the link for guests who reach only the Jupyter server, and what their media needs */
    this.guests = h("div", { class: "znb-guests" });
    this.root = h("div", { class: "znb-conference" }, [this.grid.el, this.controls.el,
      this.stats.el, this.status.el, this.guests]);
    el.append(this.root);
    /** @type {[string, (...args: any[]) => void][]} */
    this.listeners = [["change:participants", () => this.layout()],
      ["change:joined", () => this.layout()],
      ["change:local_error", () => this.layout()],
      ["change:stats", () => this.showStats()],
      ["change:slots", () => this.relink()],
      ["change:sfu", () => this.syncViewer()],
      ["msg:custom", (msg) => this.onMessage(msg)]];
    for (const [event, cb] of this.listeners) model.on(event, cb);
    this.stopMedia = [
      this.media.on("change", (tracks) => this.onTracks(tracks)),
      this.media.on("ended", ({ message }) => this.report(message, "device-lost")),
    ];
    this.layout();
    this.syncViewer();
    this.guests.hidden = true;
    // answered with a message: the link carries the server's token, saved state must not
    this.guestsAsked = this.link.view;
    model.send({ type: "guests", view: this.guestsAsked });
    registry().conferences.add(this);
  }

  /** SFU session: watch Janus (the room comes in `sfu`, its pin on request); else stop. */
  syncViewer() {
    const sfu = this.model.get("sfu");
    if (!sfu?.url) {
      this.closeViewer();
    } else if (!this.viewer && this.pinAsked === null) {
      this.pinAsked = this.link.view;
      this.model.send({ type: "sfu-pin", view: this.pinAsked });
    }
    this.viewer?.setRoster(this.roster());
    this.layout();
  }

  /** peer_id -> {feed, name}: the kernel's Janus feeds with the participants' names. */
  roster() {
    /** @type {Record<string, number>} */
    const feeds = this.model.get("sfu")?.feeds ?? {};
    /** @type {Row[]} */
    const rows = this.model.get("participants") ?? [];
    const names = new Map(rows.map((r) => [r.key, r.name]));
    return Object.fromEntries(Object.entries(feeds).map(([id, feed]) =>
      [id, { feed, name: names.get(id) ?? id }]));
  }

  /**
   * @param {{pin?: string, e2ee?: import("../rtc/sfu_viewer.js").FrameKey}} msg  the kernel's
   *   answer to `sfu-pin`: the room's pin, and in an E2EE session the frame key
   */
  startViewer(msg) {
    const sfu = this.model.get("sfu");
    if (this.viewer || !sfu?.url) return;
    const viewer = this.viewer = new SfuViewer();
    registry().viewers.add(viewer);
    for (const event of ["peer-added", "peer-state", "stream", "e2ee"]) {
      viewer.on(event, () => this.layout());
    }
    viewer.on("error", ({ message }) => {
      this.problem = message; // Janus lost or a feed failed: stays on show
      this.layout();
    });
    viewer.start({ kind: "janus", url: sfu.url, room: sfu.room, pin: msg.pin }, msg.e2ee);
    this.layers.reset(); // what was asked before the viewer existed went nowhere
    this.layers.apply(this.grid);
    viewer.setRoster(this.roster());
  }

  closeViewer() {
    if (this.viewer) registry().viewers.delete(this.viewer);
    this.viewer?.close();
    this.viewer = null;
    this.pinAsked = null;
  }

  /**
   * The tiles' media from the kernel over the widget comm instead of the link's WebRTC: the
   * link moves first (camera and mic over the comm too; its `transport` event calls back).
   * @param {string} [reason]
   */
  useComm(reason = "") {
    if (this.link.transport !== "comm") {
      this.link.useComm(reason);
      return;
    }
    if (this.down?.view === this.link.view) return;
    this.down?.close();
    this.down = new CommDown(this.model, this.link.view);
    this.down.start(reason);
    this.layout();
  }

  /** @param {string} [reason] */
  useWebrtc(reason = "") {
    this.down?.close(reason);
    this.down = null;
    this.layout();
  }

  /** A local link with as many slots as the kernel asks for (`slots` grows with the class);
   * once a link moved to the comm, the next ones start there.
   * @param {string} [mode] */
  newLink(mode) {
    const link = new KernelLink(this.model, { widget: "Conference", mode });
    link.addEventListener("transport", () => {
      if (link === this.link && link.transport === "comm") this.useComm(link.reason);
    });
    for (const event of ["slots", "state", "error", "transport"]) {
      link.addEventListener(event, () => this.layout());
    }
    return link;
  }

  /** More participants than slots: offer again with more (a new view: the kernel swaps). */
  async relink() {
    if (this.model.get("slots") === this.link.nslots) return;
    this.link.close();
    // on the comm already: the new view starts there (its transport event brings the tiles)
    this.link = this.newLink(this.link.transport === "comm" ? "comm" : undefined);
    this.layout();
    await this.link.start(this.capture ? this.media.tracks : {});
  }

  async start() {
    if (this.capture) {
      await this.media.start({ audio: true, video: true,
        resolution: this.controls.resolution.value });
      const error = this.media.error && widgetMediaError(this.media.error);
      if (error) this.report(error.message, error.code);
      this.reportMedia();
      this.layout();
    }
    await this.link.start(this.capture ? this.media.tracks : {});
  }

  /**
   * A camera/mic problem: shown here and sent to the kernel (room's `error` event).
   * @param {string} message
   * @param {string} code
   */
  report(message, code) {
    this.problem = message;
    this.model.send({ type: "error", view: this.link.view, code, message });
    this.layout();
  }

  /** @param {import("../rtc/peer.js").LocalTracks} tracks */
  onTracks(tracks) {
    this.link.setTracks(tracks);
    this.grid.get("local")?.show(new MediaStream(
      [tracks.video, tracks.audio].filter((t) => t !== null)));
    this.controls.update();
  }

  reportMedia() {
    this.controls.update();
    const d = this.media.describe();
    this.model.send({ type: "media", view: this.link.view, camera: !d.cameraOff && d.video,
      mic: !d.muted && d.audio, sharing: d.sharing, resolution: d.resolution,
      data_saver: d.dataSaver }); // quality hook: the kernel caps what it sends
  }

  /** @param {Row} row */
  showRow(row) {
    const tile = this.grid.tile(row.key, { local: row.local });
    // SFU: the tile shows (and its state is) this page's own subscription to the peer
    const watched = row.local ? undefined : this.viewer?.peers.get(row.key);
    // your tile: a failing source or filter (room's error event, peer None) while it fails
    tile.update({ name: row.name, state: watched?.state ?? row.state,
      e2ee: watched?.e2ee ?? row.e2ee ?? null,
      flags: mediaFlags(row.media), // muted / camera off
      banner: row.local ? this.model.get("local_error") || "" : "" });
    if (row.local && this.capture) {
      if (!tile.stream) tile.show(this.media.previewStream());
      return;
    }
    if (watched) {
      tile.show(watched.stream);
      return;
    }
    const slot = this.link.slotOf(row.key);
    if (this.down) {
      tile.show(null);
      tile.showCanvas(slot >= 0 ? this.down.canvas(slot) : null);
      return;
    }
    tile.showCanvas(null);
    tile.show(slot >= 0 ? this.link.slotStream(slot) : null);
  }

  layout() {
    if (!this.model.get("joined")) {
      this.showLeft();
      return;
    }
    /** @type {Row[]} */
    const rows = this.model.get("participants") ?? [];
    this.grid.retain(rows.map((r) => r.key));
    for (const row of rows) this.showRow(row);
    // a camera/mic problem stays on show: the link's state must not overwrite it
    const linkText = this.link.statusText();
    this.showStats();
    this.status.show([this.problem, linkText].filter(Boolean).join(" · "));
  }

  /**
   * The room left (its leave button, or room.leave() in a cell): no tiles, no controls that
   * would act on nothing, camera and mic released, and a line that says so.
   */
  showLeft() {
    this.grid.retain([]);
    if (!this.left) {
      this.left = true;
      this.controls.el.remove(); // gone, not hidden: a style cannot bring them back
      this.stats.el.remove();
      this.link.close();
      this.closeViewer();
      this.down?.close();
      this.down = null;
      this.media.stop();
    }
    this.status.show(LEFT_TEXT);
  }

  /** The stats line: the link's transport first, then the kernel's per-peer rows. */
  showStats() {
    this.stats.set(this.model.get("stats") ?? [], this.link);
  }

  /** @param {any} msg */
  onMessage(msg) {
    if (msg?.type === "sfu-pin" && msg.view === this.pinAsked) this.startViewer(msg);
    if (msg?.type === "guests" && msg.view === this.guestsAsked) {
      this.guests.textContent = msg.text ?? "";
      this.guests.hidden = !msg.text;
    }
    if (msg?.type !== "levels") return;
    const vad = "active" in msg;
    if (vad) this.grid.setActive(msg.active); // the kernel's VAD
    this.heard = new Set();
    for (const [key, db] of Object.entries(msg.levels)) {
      if (db === null && this.viewer?.peers.has(key)) continue; // viewerLevels fills it in
      if (db !== null) this.heard.add(key);
      this.grid.setLevel(key, db, vad);
    }
  }

  /** SFU: meters (and the level rule) for the peers the kernel does not hear, as the page. */
  async viewerLevels() {
    if (!this.viewer || document.hidden) return;
    const stats = await this.viewer.stats();
    for (const [id, s] of Object.entries(stats)) {
      if (s && !this.heard.has(id)) this.grid.setLevel(id, linearToDb(s.audio.level));
    }
  }

  dispose() {
    for (const [event, cb] of this.listeners) this.model.off(event, cb);
    for (const stop of this.stopMedia) stop();
    clearInterval(this.levelTimer);
    this.controls.dispose();
    this.down?.close("closed");
    registry().conferences.delete(this);
    this.link.close();
    this.closeViewer();
    this.media.dispose();
    this.root.remove();
  }
}

/** @param {{model: Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const view = new ConferenceView(model, el);
  view.start();
  return () => view.dispose();
}

export default { render };
