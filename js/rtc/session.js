// @ts-check
/**
 * A participant in one session: signaling + full mesh (or, when `joined.sfu` names a Janus
 * VideoRoom, media through that SFU: sfu.js) + local media + chat, with events and
 * plain-data snapshots. UI-free: the web page (js/app.js) and the notebook widgets are shells
 * around this one implementation.
 *
 * Events (detail):
 *   state        {state, previous, delay?, reason?}    see SessionState
 *   joined       {session, peerId, rejoin}              (re-join: new peer_id, mesh rebuilt)
 *   peer-added / peer-removed {peer} · peer-state {peer, state} · stream {peer, stream}
 *   message      {entry}                                chat/app data, also our own sends
 *   error        {code, message, fatal}                 fatal ones end the attempt to join
 *   local        {audio, video}                         the tracks we send changed
 */

import { Emitter } from "./emitter.js";
import { LocalMedia } from "./media.js";
import { Mesh } from "./mesh.js";
import { Sfu } from "./sfu.js";
import { SignalingClient } from "./signaling.js";

/**
 * @typedef {'idle'|'connecting'|'joined'|'reconnecting'|'failed'|'left'} SessionState
 * @typedef {{from: string | null, name: string | null, data: any, time: number,
 *            to: string | null, self: boolean}} ChatEntry
 * @typedef {{session?: string, name?: string, password?: string, token?: string}} JoinOptions
 */

/** Error codes the session adds to the protocol's. */
export const SESSION_ERRORS = {
  SFU_UNSUPPORTED: "sfu-unsupported",
};

export class Session extends Emitter {
  /**
   * @param {{server: string, rtcConfig?: RTCConfiguration, maxMessages?: number,
   *          signaling?: ConstructorParameters<typeof SignalingClient>[1]}} options
   *   server: the signaling WebSocket URL (ws://HOST:PORT/ws)
   */
  constructor(options) {
    super();
    this.server = options.server;
    this.maxMessages = options.maxMessages ?? 500;
    this.signaling = new SignalingClient(options.server, options.signaling);
    this.mesh = new Mesh({ send: (signal) => this.signaling.send(signal),
      rtcConfig: options.rtcConfig });
    /** media through a Janus VideoRoom when `joined.sfu` says so (see sfu.js) */
    this.sfu = new Sfu({ rtcConfig: options.rtcConfig });
    this.media = new LocalMedia();
    /** @type {SessionState} */
    this.state = "idle";
    /** @type {{code: string, message: string} | null} */
    this.error = null;
    /** @type {ChatEntry[]} */
    this.messages = [];
    /** @type {string[]} every state this session went through, for tests and logs */
    this.history = ["idle"];
    this._wire();
  }

  /** This participant's peer_id (changes after a re-join). */
  get peerId() {
    return this.signaling.peerId;
  }

  get sessionId() {
    return this.signaling.session;
  }

  /** @type {Map<string, import("./mesh.js").Peer>} */
  get peers() {
    return this.sfu.active ? this.sfu.peers : this.mesh.peers;
  }

  _wire() {
    const sig = this.signaling;
    sig.on("state", (detail) => {
      const state = detail.state === "closed" ? "left" : detail.state;
      if (this.state === "failed" && state === "left") return; // keep the reason visible
      this._setState(state, detail);
    });
    sig.on("joined", ({ message, rejoin }) => this._joined(message, rejoin));
    sig.on("disconnected", () => {
      this.mesh.online = false;
    });
    sig.on("error", (detail) => {
      if (detail.fatal) {
        this.error = { code: detail.code, message: detail.message };
        this.mesh.online = false;
      }
      this.emit("error", detail);
    });
    sig.on("message", ({ message }) => this._signal(message));
    for (const type of ["peer-added", "peer-removed", "peer-state", "stream", "error"]) {
      for (const source of [this.mesh, this.sfu]) {
        if (type === "error") {
          source.on(type, (detail) => this.emit("error", { code: detail.code ?? "webrtc",
            message: detail.message, fatal: false, peer: detail.peer }));
        } else {
          source.on(type, (detail) => this.emit(type, detail));
        }
      }
    }
    this.media.on("change", (tracks) => {
      this.mesh.setTrack("audio", tracks.audio);
      this.mesh.setTrack("video", tracks.video);
      this.sfu.setTrack("audio", tracks.audio);
      this.sfu.setTrack("video", tracks.video);
      this.emit("local", tracks);
    });
  }

  /**
   * @param {SessionState} state
   * @param {Record<string, any>} [detail]
   */
  _setState(state, detail = {}) {
    const previous = this.state;
    this.state = state;
    if (state !== previous) this.history.push(state);
    this.mesh.online = state === "joined";
    this.emit("state", { ...detail, state, previous });
  }

  /**
   * @param {Record<string, any>} message
   * @param {boolean} rejoin
   */
  _joined(message, rejoin) {
    const sfu = message.sfu;
    if (sfu && sfu.kind === "janus" && typeof sfu.url === "string") {
      // SFU-backed session: publish to and subscribe from its Janus room, no mesh
      this.error = null;
      this.mesh.reset(null);
      this.sfu.online = true;
      if (Array.isArray(message.ice_servers)) {
        this.sfu.rtcConfig = { ...this.sfu.rtcConfig, iceServers: message.ice_servers };
      }
      this.sfu.start(message.peer_id, sfu); // resets the previous Janus session, never throws
      for (const info of message.peers ?? []) this.sfu.add(info.peer_id, info.name ?? "");
      this.emit("joined", { session: message.session, peerId: message.peer_id, rejoin });
      return;
    }
    if (sfu !== undefined && sfu !== null && sfu !== false) {
      // an SFU kind this page does not know: refuse clearly, do not break
      const kind = JSON.stringify(sfu.kind ?? null);
      this.error = { code: SESSION_ERRORS.SFU_UNSUPPORTED, message: `Session ` +
        `'${message.session}' is served through an SFU of a kind (${kind}) this page does ` +
        "not support: join it from a notebook (zero_nb.join) or ask its host for a mesh " +
        "session." };
      this._setState("failed", { reason: this.error.message });
      this.signaling.leave();
      this.mesh.reset(null);
      this.emit("error", { ...this.error, fatal: true });
      return;
    }
    this.error = null;
    this.sfu.reset(null);
    // a fresh mesh every time: after a re-join every peer_id (ours too) is new
    this.mesh.reset(message.peer_id);
    if (Array.isArray(message.ice_servers)) {
      // optional server hint (not in protocol v1 yet): the server's STUN/TURN list
      this.mesh.rtcConfig = { ...this.mesh.rtcConfig, iceServers: message.ice_servers };
    }
    this.mesh.online = true;
    for (const info of message.peers ?? []) {
      this.mesh.add(info.peer_id, info.name ?? "", { offer: false }); // they offer to us
    }
    this.emit("joined", { session: message.session, peerId: message.peer_id, rejoin });
  }

  /** @param {Record<string, any>} message */
  _signal(message) {
    if (this.sfu.active) {
      if (message.type === "peer-joined") {
        this.sfu.add(message.peer_id, message.name ?? "");
        return;
      }
      if (message.type === "peer-left") {
        this.sfu.remove(message.peer_id);
        return;
      }
      if (["offer", "answer", "candidate"].includes(message.type)) return; // no mesh here
    }
    switch (message.type) {
      case "peer-joined":
        this.mesh.add(message.peer_id, message.name ?? "", { offer: true });
        break;
      case "peer-left":
        this.mesh.remove(message.peer_id);
        break;
      case "offer":
      case "answer":
      case "candidate":
        this.mesh.handle(/** @type {any} */ (message));
        break;
      case "message": {
        const from = message.from ?? null;
        this._record({ from, name: (from && this.peers.get(from)?.name) || null,
          data: message.data, time: Date.now() / 1000, to: message.to ?? null, self: false });
        break;
      }
      default:
        break; // unknown types from a newer server are ignored
    }
  }

  /** @param {ChatEntry} entry */
  _record(entry) {
    this.messages.push(entry);
    if (this.messages.length > this.maxMessages) this.messages.shift();
    this.emit("message", { entry });
  }

  // -- public API -------------------------------------------------------------------------

  /**
   * Join (or switch to) a session; reconnects and re-joins by itself until {@link leave}.
   * Start local media first (`session.media.start(...)`) to send camera and microphone.
   * @param {JoinOptions} options
   */
  join(options) {
    this.error = null;
    this.mesh.reset(null);
    this.sfu.reset(null);
    this.signaling.join(options);
  }

  /** Leave the session, close every connection and release the devices. */
  leave() {
    this.signaling.leave();
    this.mesh.reset(null);
    this.sfu.reset(null); // destroys the Janus session
    this.media.stop();
    this._setState("left");
  }

  /**
   * Send chat/app data (any JSON) to everyone else, or to one peer_id. Returns false while
   * not joined. Chat text is sent as a plain string.
   * @param {any} data
   * @param {string | null} [to]
   */
  send(data, to = null) {
    /** @type {Record<string, any>} */
    const message = { type: "message", data };
    if (to) message.to = to;
    if (!this.signaling.send(/** @type {any} */ (message))) return false;
    this._record({ from: this.peerId, name: null, data, time: Date.now() / 1000, to,
      self: true });
    return true;
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.media.setMuted(muted);
    this.emit("local", this.media.tracks);
  }

  /** @param {boolean} off */
  setCameraOff(off) {
    this.media.setCameraOff(off);
    this.emit("local", this.media.tracks);
  }

  /** Plain data: state, ids, peers, local media, chat (for tests, logs and shells). */
  snapshot() {
    return {
      state: this.state,
      history: [...this.history],
      error: this.error,
      server: this.server,
      session: this.sessionId,
      peerId: this.peerId,
      rejoins: this.signaling.rejoins,
      peers: [...this.peers.values()].map((peer) => peer.describe()),
      sfu: this.sfu.active ? this.sfu.describe() : null,
      local: this.media.describe(),
      messages: this.messages.map((entry) => ({ ...entry })),
    };
  }

  /** getStats per peer_id: `video.framesDecoded` advancing proves the video plays. */
  stats() {
    return this.sfu.active ? this.sfu.stats() : this.mesh.stats();
  }
}
