// @ts-check
/**
 * A session's class state as the server tells it (docs/protocol.md, "Running a class"):
 * hosts, raised hands in order, the spotlight, the lock; `muted` (a host asks us to mute)
 * and `removed`. UI-free; the session feeds it every server message and it emits:
 *   class   {hosts, hands, spotlight, locked}   any of them changed
 *   muted   {by}                                 a host muted our microphone (we may unmute)
 *   removed {by, reason}                         a host removed us from the session
 *   breakout {group, groups, endsAt}             the class split, we moved, or it gathered
 *   broadcast {text, by}                         a host's message to every room of the class
 */

import { Emitter } from "./emitter.js";

export class ClassState extends Emitter {
  /** @param {(message: {type: string, [key: string]: any}) => boolean} send */
  constructor(send) {
    super();
    this.send = send;
    /** @type {string[]} */ this.hosts = [];
    /** @type {string[]} */ this.hands = [];
    /** @type {string | null} */ this.spotlight = null;
    this.locked = false;
    /** @type {string | null} */ this.self = null;
    /** @type {string | null} our breakout group (null: the class's own room) */
    this.group = null;
    /** @type {Record<string, string[]> | null} group -> peer ids while the class is split */
    this.groups = null;
    /** @type {number | null} Date.now() at the breakout's end (advisory) */
    this.endsAt = null;
  }

  /** @param {Record<string, any>} joined */
  joined(joined) {
    this.self = joined.peer_id;
    this.hosts = joined.hosts ?? [];
    this.hands = joined.hands ?? [];
    this.spotlight = joined.spotlight ?? null;
    this.locked = Boolean(joined.locked);
    this.group = joined.group ?? null;
    this._breakout(joined.breakout ?? null);
    this._changed();
  }

  /** @param {{groups?: Record<string, string[]> | null, seconds_left?: number | null} | null} info */
  _breakout(info) {
    this.groups = info?.groups ?? null;
    const left = info?.seconds_left;
    this.endsAt = typeof left === "number" ? Date.now() + left * 1000 : null;
    if (!this.groups) this.group = null;
    this.emit("breakout", { group: this.group, groups: this.groups, endsAt: this.endsAt });
  }

  /**
   * A server message; true if it was a class message.
   * @param {Record<string, any>} message
   */
  signal(message) {
    switch (message.type) {
      case "peer-joined":
        if (message.host) { this.hosts = [...this.hosts, message.peer_id]; this._changed(); }
        return false;
      case "hosts": this.hosts = message.hosts ?? []; break;
      case "hands": this.hands = message.hands ?? []; break;
      case "spotlight": this.spotlight = message.peer ?? null; break;
      case "locked": this.locked = Boolean(message.locked); break;
      case "muted": this.emit("muted", { by: message.by ?? null }); return true;
      case "breakout": this._breakout(message); return true;
      case "broadcast":
        this.emit("broadcast", { text: String(message.text ?? ""), by: message.by ?? null });
        return true;
      case "removed":
        this.emit("removed", { by: message.by ?? null, reason: message.reason ?? "" });
        return true;
      default: return false;
    }
    this._changed();
    return true;
  }

  get isHost() { return this.self !== null && this.hosts.includes(this.self); }
  get handRaised() { return this.self !== null && this.hands.includes(this.self); }

  /** @param {string} id  1-based place in the hands queue, 0 if not raised */
  handPlace(id) { return this.hands.indexOf(id) + 1; }

  /** Raise or lower our hand (toggle when `raised` is undefined). */
  toggleHand(raised = !this.handRaised) {
    return this.send({ type: "hand", raised });
  }

  _changed() {
    this.emit("class", { hosts: this.hosts, hands: this.hands, spotlight: this.spotlight,
      locked: this.locked });
  }
}
