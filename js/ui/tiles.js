// @ts-check
/**
 * The participant grid shared by the page and the Conference widget: one tile per
 * participant (you first) with video, audio, name, flags, connection state, a level meter
 * and a small info line. A gallery: the grid gets denser as people join (scrolling past what
 * fits), the active speaker is highlighted (`znb-active`, `data-active` on the grid): the one
 * the kernel's voice activity detection names (setActive), else the loudest recent remote
 * level — once the kernel has VAD, only levels it does not hear (setLevel `vad` false: the
 * Conference's own Janus viewer) — and a click pins one participant large (click again to
 * unpin). A notice covers the video
 * when it cannot be shown (E2EE without the right key), a banner shows a problem (the local
 * tile: a failing source). Styles: js/ui/ui.css.
 */

import { h, play } from "./dom.js";
import { Meter } from "./meter.js";

/** What a connection state reads as on a tile ("" once connected). */
export const STATE_LABELS = /** @type {Record<string, string>} */ ({
  new: "waiting", connecting: "connecting…", connected: "", disconnected: "unstable…",
  failed: "reconnecting…", closed: "left",
});

/** What a remote peer's E2EE state reads as over its video ("ok" and none: nothing). */
export const E2EE_LABELS = /** @type {Record<string, string>} */ ({
  "wrong-key": "encrypted — wrong key", "no-key": "encrypted — no key",
});

/**
 * A tile's notice for E2EE `state`, with `hint` (how to add the key here) under "no-key".
 * @param {string | null} state
 * @param {string} [hint]
 */
export function e2eeNotice(state, hint) {
  const label = E2EE_LABELS[state ?? ""] ?? "";
  return state === "no-key" && hint ? `${label}\n${hint}` : label;
}

/** Active speaker: louder than this (dBFS, recent peak) to count as speaking. */
export const SPEAKING_DB = -45;
/** How fast a recent peak fades (dB per second), so the highlight follows the talk. */
const PEAK_DECAY_DB_PER_S = 15;

/**
 * A remote participant's flags from its announced media: "muted", "camera off"; unknown
 * (null, a client that never says) shows nothing.
 * @param {{audio?: boolean | null, video?: boolean | null} | null | undefined} media
 */
export function mediaFlags(media) {
  const flags = [];
  if (media?.audio === false) flags.push("muted");
  if (media?.video === false) flags.push("camera off");
  return flags;
}

/**
 * A linear level (0..1, getStats `audioLevel`) as dBFS; null for silence or unknown.
 * @param {number | null | undefined} level
 */
export function linearToDb(level) {
  return level ? 20 * Math.log10(level) : null;
}

export class Tile {
  /**
   * @param {string} key
   * @param {{local?: boolean, onBlocked?: () => void, noKeyHint?: string}} [options]
   */
  constructor(key, options = {}) {
    this.key = key;
    this.local = Boolean(options.local);
    this.onBlocked = options.onBlocked;
    this.noKeyHint = options.noKeyHint;
    this.video = h("video", { autoplay: true, playsInline: true, muted: true });
    this.audio = h("audio", { autoplay: true });
    this.name = h("span", { class: "znb-name" });
    this.flags = h("span", { class: "znb-flags" });
    this.state = h("span", { class: "znb-state" });
    this.meter = new Meter();
    this.info = h("div", { class: "znb-info" });
    this.notice = h("div", { class: "znb-notice", role: "status" });
    this.banner = h("div", { class: "znb-banner", role: "alert" });
    /** @type {HTMLCanvasElement | null | undefined} what showCanvas() shows */
    this.canvas = undefined;
    /** @type {MediaStream | null | undefined} what show() shows */
    this.stream = undefined;
    /** @type {number | undefined} recent peak level (dBFS) and when it was set */
    this.peak = undefined;
    /** @type {number | undefined} */
    this.peakAt = undefined;
    /** the level came from a source whose VAD names the speaker (the kernel's) */
    this.vad = false;
    this.el = h("figure", { class: `znb-tile${this.local ? " znb-local" : ""}`,
      dataset: { peer: key, state: "new" } }, [this.video, this.audio, this.notice, this.banner,
      h("figcaption", { class: "znb-label" }, [this.name, this.flags, this.state]),
      this.meter.el, this.info]);
  }

  /**
   * @param {{name?: string, state?: string, flags?: string[], info?: string,
   *          e2ee?: string | null, banner?: string}} fields
   *   e2ee: the peer's E2EE state (a notice instead of its video unless "ok" or none);
   *   banner: a problem to show on the tile ("" hides it)
   */
  update(fields) {
    if (fields.name !== undefined) this.name.textContent = fields.name;
    if (fields.state !== undefined) {
      this.el.dataset.state = fields.state;
      this.state.dataset.state = fields.state;
      this.state.textContent = this.local ? "" : STATE_LABELS[fields.state] ?? fields.state;
    }
    if (fields.flags !== undefined) this.flags.textContent = fields.flags.join(" · ");
    if (fields.info !== undefined) this.info.textContent = fields.info;
    if (fields.e2ee !== undefined) {
      this.el.dataset.e2ee = fields.e2ee ?? "";
      this.notice.textContent = e2eeNotice(fields.e2ee, this.noKeyHint);
      // frames that do not open are dropped; muting as well keeps a receiver that cannot
      // drop them (a page without the key) from playing ciphertext as noise
      this.audio.muted = fields.e2ee === "no-key" || fields.e2ee === "wrong-key";
    }
    if (fields.banner !== undefined) this.banner.textContent = fields.banner;
  }

  /**
   * Show a stream: its video muted in the <video>, its audio (remote tiles only) in <audio>.
   * The same stream again is a no-op, so callers may re-apply on every update.
   * @param {MediaStream | null} stream
   */
  show(stream) {
    if (stream === this.stream) return;
    this.stream = stream;
    const video = stream?.getVideoTracks() ?? [];
    const audio = stream?.getAudioTracks() ?? [];
    play(this.video, stream ? new MediaStream(video) : null);
    if (!this.local) play(this.audio, stream ? new MediaStream(audio) : null, this.onBlocked);
  }

  /**
   * Show a canvas something else paints (media over the widget comm) in place of the
   * <video>; null goes back to the <video>. The same canvas again is a no-op.
   * @param {HTMLCanvasElement | null} canvas
   */
  showCanvas(canvas) {
    if (canvas === (this.canvas ?? null)) return;
    this.canvas?.remove();
    this.canvas = canvas;
    this.video.hidden = canvas !== null;
    if (canvas) this.video.after(canvas);
  }

  /** @param {number | null | undefined} db  dBFS (-60..0), null: no audio */
  setLevel(db) {
    this.meter.set(db);
    const now = performance.now();
    const faded = (this.peak ?? -120) - ((now - (this.peakAt ?? now)) / 1000) * PEAK_DECAY_DB_PER_S;
    this.peak = Math.max(db ?? -120, faded);
    this.peakAt = now;
  }

  dispose() {
    this.video.srcObject = null;
    this.audio.srcObject = null;
    this.el.remove();
  }
}

export class TileGrid {
  /**
   * @param {{onBlocked?: () => void, onChange?: (grid: TileGrid) => void,
   *          noKeyHint?: string}} [options]
   *   onBlocked: a tile's sound needs a click; onChange: tiles, pin or active speaker changed;
   *   noKeyHint: how to add the E2EE passphrase here, under "encrypted — no key"
   */
  constructor(options = {}) {
    this.onBlocked = options.onBlocked;
    this.noKeyHint = options.noKeyHint;
    this.onChange = options.onChange; // the layer policy (js/ui/layers.js) listens
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    /** @type {string | null} the participant shown large, if any */
    this.pinned = null;
    /** @type {string | null} the active speaker: the kernel's, or the loudest recent one */
    this.active = null;
    /** @type {string | null | undefined} whom the kernel's VAD names (undefined: no VAD) */
    this.voiced = undefined;
    this.el = h("div", { class: "znb-grid", ariaLabel: "Participants" });
  }

  /**
   * Show `key` large (null: nobody); pinning the pinned one again unpins.
   * @param {string | null} key
   */
  pin(key) {
    this.pinned = key === this.pinned ? null : key;
    for (const [k, tile] of this.tiles) tile.el.classList.toggle("znb-pinned", k === this.pinned);
    this.el.classList.toggle("znb-has-pin", this.pinned !== null);
    this.el.dataset.pinned = this.pinned ?? "";
    this.onChange?.(this);
  }

  /**
   * A tile's audio level (dBFS, null: none); the active speaker follows (see `speaker`).
   * @param {string} key
   * @param {number | null | undefined} db
   * @param {boolean} [vad]  the kernel measured it: its VAD, not this level, says who speaks
   */
  setLevel(key, db, vad = false) {
    const tile = this.tiles.get(key);
    tile?.setLevel(db);
    if (tile) tile.vad = vad;
    this.highlight(this.speaker());
  }

  /**
   * The active speaker as the kernel's voice activity detection names it (null: nobody it
   * hears); from then on levels the kernel measured only move the meters.
   * @param {string | null} key
   */
  setActive(key) {
    this.voiced = key;
    this.highlight(this.speaker());
  }

  /** The kernel's VAD pick, else the loudest recent remote level it does not judge. */
  speaker() {
    if (this.voiced) return this.voiced;
    let best = null;
    let loudest = SPEAKING_DB;
    for (const [k, tile] of this.tiles) {
      const judged = this.voiced !== undefined && tile.vad; // VAD heard it: not speech
      if (!tile.local && !judged && (tile.peak ?? -120) > loudest) {
        best = k;
        loudest = /** @type {number} */ (tile.peak);
      }
    }
    return best;
  }

  /** @param {string | null} best */
  highlight(best) {
    const changed = best !== this.active;
    this.active = best; // re-applied every time: a tile made after its speaker was named
    for (const [k, tile] of this.tiles) tile.el.classList.toggle("znb-active", k === best);
    this.el.dataset.active = best ?? "";
    if (changed) this.onChange?.(this);
  }

  /**
   * The tile for `key`, made (and appended) on first use.
   * @param {string} key
   * @param {{local?: boolean}} [options]
   */
  tile(key, options = {}) {
    let tile = this.tiles.get(key);
    if (!tile) {
      tile = new Tile(key, { ...options, onBlocked: this.onBlocked, noKeyHint: this.noKeyHint });
      tile.el.addEventListener("click", () => this.pin(key));
      this.tiles.set(key, tile);
      if (tile.local) this.el.prepend(tile.el);
      else this.el.append(tile.el);
      this._resized();
    }
    return tile;
  }

  /** @param {string} key */
  get(key) {
    return this.tiles.get(key);
  }

  /** @param {string} key */
  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.dispose();
    this.tiles.delete(key);
    if (this.pinned === key) this.pin(null);
    if (this.active === key) this.active = null;
    this._resized();
  }

  /**
   * Keep only these keys (in this order); the others go.
   * @param {string[]} keys
   */
  retain(keys) {
    const keep = new Set(keys);
    for (const key of [...this.tiles.keys()]) if (!keep.has(key)) this.remove(key);
    for (const key of keys) {
      const tile = this.tiles.get(key);
      if (tile) this.el.append(tile.el);
    }
  }

  clear() {
    this.retain([]);
  }

  _resized() {
    this.el.dataset.count = String(this.tiles.size);
    this.el.classList.toggle("many", this.tiles.size > 2);
    this.el.classList.toggle("znb-crowd", this.tiles.size > 6); // a class: smaller tiles
    this.onChange?.(this);
  }
}
