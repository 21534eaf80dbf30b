// @ts-check
/**
 * A participant in one session: signaling + a topology (topology.js: full mesh, or media
 * through a Janus VideoRoom when `joined.sfu` says so) + local media + chat, with events and
 * plain-data snapshots. UI-free: the web page (js/app.js) is a shell around it.
 *
 * Events (detail):
 *   state        {state, previous, delay?, reason?}    see SessionState
 *   joined       {session, peerId, rejoin}              (re-join: new peer_id, mesh rebuilt)
 *   peer-added / peer-removed {peer} · peer-state {peer, state} · stream {peer, stream}
 *   peer-media   {peer, media}                         a peer muted / turned its camera off
 *   message      {entry}                                chat/app data, also our own sends
 *   error        {code, message, fatal}                 fatal ones end the attempt to join
 *   local        {audio, video}                         the tracks we send changed
 *   moved        {session, group, parent}               a breakout moved us (joined follows)
 * `session.klass` (classroom.js) holds hosts, hands, spotlight, the breakout; a host's `muted`
 * mutes us.
 */

import { ClassState } from "./classroom.js";
import { E2EE_PC_CONFIG, E2eeLink, e2eeSupport } from "./e2ee.js";
import { Emitter } from "./emitter.js";
import { LocalMedia } from "./media.js";
import { readMedia } from "./peer.js";
import { SignalingClient } from "./signaling.js";
import { topologyFor, UnsupportedTopology } from "./topology.js";

/**
 * @typedef {'idle'|'connecting'|'joined'|'reconnecting'|'failed'|'left'} SessionState
 * @typedef {{from: string | null, name: string | null, data: any, time: number,
 *            to: string | null, self: boolean}} ChatEntry
 * @typedef {{session?: string, name?: string, password?: string, token?: string,
 *            host_token?: string}} JoinOptions
 */

const RELAYS = new Set(["offer", "answer", "candidate"]);

/** Error codes the session adds to the protocol's. */
export const SESSION_ERRORS = {
  SFU_UNSUPPORTED: "sfu-unsupported",
};

export class Session extends Emitter {
  /**
   * @param {{server: string, rtcConfig?: RTCConfiguration, maxMessages?: number,
   *          signaling?: ConstructorParameters<typeof SignalingClient>[1],
   *          e2ee?: string | null}} options
   *   server: the signaling WebSocket URL (ws://HOST:PORT/ws); e2ee: a passphrase for end-to-end
   *   encrypted media (docs/e2ee.md)
   */
  constructor(options) {
    super();
    this.server = options.server;
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    // -- E2EE hook (js/rtc/e2ee.js); the fallback API needs a flag on every connection
    /** @type {E2eeLink | null} */
    this.e2ee = options.e2ee ? new E2eeLink(options.e2ee) : null;
    if (this.e2ee && e2eeSupport() === "encoded-streams") {
      this.rtcConfig = { ...this.rtcConfig, ...E2EE_PC_CONFIG };
    }
    this.maxMessages = options.maxMessages ?? 500;
    this.signaling = new SignalingClient(options.server, options.signaling);
    this.klass = new ClassState((message) => this.signaling.send(message));
    this.klass.on("muted", () => this.setMuted(true)); // a request: the user may unmute
    this.klass.on("removed", () => this.leave());
    /** @type {import("./topology.js").Topology | null} how peers are reached, once joined */
    this.topology = null;
    /** @type {(() => void)[]} */
    this._unwire = [];
    this.media = new LocalMedia();
    /** @type {SessionState} */
    this.state = "idle";
    /** @type {{code: string, message: string} | null} */
    this.error = null;
    /** @type {ChatEntry[]} */
    this.messages = [];
    /** @type {string[]} every state this session went through, for tests and logs */
    this.history = ["idle"];
    /** @type {Map<string, import("./peer.js").PeerMedia>} each peer's media, from signaling */
    this._peerMedia = new Map();
    this._wire();
  }

  /** This participant's peer_id (changes after a re-join). */
  get peerId() {
    return this.signaling.peerId;
  }

  get sessionId() {
    return this.signaling.session;
  }

  /** @type {Map<string, import("./peer.js").RemotePeer>} */
  get peers() {
    return this.topology?.peers ?? new Map();
  }

  _wire() {
    const sig = this.signaling;
    sig.on("state", (detail) => {
      const state = detail.state === "closed" ? "left" : detail.state;
      if (this.state === "failed" && state === "left") return; // keep the reason visible
      this._setState(state, detail);
    });
    sig.on("joined", ({ message, rejoin }) => this._joined(message, rejoin));
    // a breakout group or back: the peers we left said peer-left; a fresh topology for these
    sig.on("moved", ({ message }) => {
      this._joined(message, false);
      this.emit("moved", { session: message.session, group: message.group ?? null,
        parent: message.parent ?? null });
    });
    sig.on("error", (detail) => {
      if (detail.fatal) this.error = { code: detail.code, message: detail.message };
      this.emit("error", detail);
    });
    sig.on("message", ({ message }) => this._signal(message));
    this.media.on("change", (tracks) => {
      this.topology?.setTrack("audio", tracks.audio);
      this.topology?.setTrack("video", tracks.video);
      this.announceMedia();
      this.emit("local", tracks);
    });
  }

  /**
   * Replace the topology (null: none); its events become the session's.
   * @param {import("./topology.js").Topology | null} topology
   */
  _useTopology(topology) {
    for (const off of this._unwire) off();
    this._unwire = [];
    this.topology?.close();
    this.topology = topology;
    if (!topology) return;
    // first listener: a new peer carries its announced media before anyone renders it
    this._unwire.push(topology.on("peer-added", ({ peer }) => {
      peer.media = this._peerMedia.get(peer.id) ?? readMedia(null);
      this._keyless(peer);
    }));
    for (const type of ["peer-added", "peer-removed", "peer-state", "stream", "peer-media"]) {
      this._unwire.push(topology.on(type, (detail) => this.emit(type, detail)));
    }
    this._unwire.push(topology.on("error", (detail) => this.emit("error", {
      code: detail.code ?? "webrtc", message: detail.message, fatal: false, peer: detail.peer })));
  }

  /**
   * @param {SessionState} state
   * @param {Record<string, any>} [detail]
   */
  _setState(state, detail = {}) {
    const previous = this.state;
    this.state = state;
    if (state !== previous) this.history.push(state);
    this.emit("state", { ...detail, state, previous });
  }

  /**
   * A fresh topology every time: after a re-join every peer_id (ours too) is new.
   * @param {Record<string, any>} message
   * @param {boolean} rejoin
   */
  _joined(message, rejoin) {
    this.error = null;
    // E2EE hook: a key salted with the session name; peer.e2ee follows each peer
    this.e2ee?.start(message.session, (peer, state) => this.emit("e2ee", { peer, state }));
    this._peerMedia = new Map((message.peers ?? []).map(
      (/** @type {any} */ row) => [row.peer_id, readMedia(row.media)]));
    try {
      this._useTopology(topologyFor(message, { rtcConfig: this.rtcConfig, e2ee: this.e2ee,
        tracks: this.media.tracks, send: (signal) => this.signaling.send(
          // offers and answers name the session they were made for: the server drops what
          // a topology of the room we left still sends
          RELAYS.has(signal.type) ? { ...signal, session: message.session } : signal),
        online: () => this.state === "joined" }));
    } catch (err) {
      if (!(err instanceof UnsupportedTopology)) throw err;
      this._refuse(message.session, err.kind);
      return;
    }
    this.topology?.start(message);
    this.klass.joined(message);
    this.emit("joined", { session: message.session, peerId: message.peer_id, rejoin,
      parent: message.parent ?? null });
  }

  /**
   * An SFU kind this page does not know: refuse clearly, do not break.
   * @param {string} session
   * @param {string} kind
   */
  _refuse(session, kind) {
    this.error = { code: SESSION_ERRORS.SFU_UNSUPPORTED, message: `Session ` +
      `'${session}' is served through an SFU of a kind (${kind}) this page does ` +
      "not support: join it from a notebook (zero_nb.join) or ask its host for a mesh " +
      "session." };
    this._setState("failed", { reason: this.error.message });
    this.signaling.leave();
    this._useTopology(null);
    this.emit("error", { ...this.error, fatal: true });
  }

  /** @param {Record<string, any>} message */
  _signal(message) {
    const topology = this.topology;
    if (this.klass.signal(message)) return;
    switch (message.type) {
      case "peer-joined":
        this._noteMedia(message.peer_id, message.media); // before: peer-added reads it
        topology?.peerJoined(message.peer_id, message.name ?? "");
        break;
      case "peer-left":
        this._peerMedia.delete(message.peer_id);
        topology?.peerLeft(message.peer_id);
        break;
      case "peer-media":
        this._noteMedia(message.peer_id, message);
        break;
      case "offer":
      case "answer":
      case "candidate":
        topology?.signal(/** @type {any} */ (message));
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

  /**
   * Keep a peer's announced media (signaling's `media` object) and show it on the peer.
   * @param {string} id
   * @param {any} wire
   */
  _noteMedia(id, wire) {
    const media = readMedia(wire);
    this._peerMedia.set(id, media);
    const peer = this.peers.get(id);
    peer?.setMedia(media);
    if (peer && this._keyless(peer)) this.emit("e2ee", { peer, state: peer.e2ee });
  }

  /**
   * E2EE hook: a peer that says it encrypts while this page has no passphrase reads
   * "no-key" (its tile hides the video and mutes the sound instead of playing ciphertext).
   * True if that changed `peer.e2ee`.
   * @param {import("./peer.js").RemotePeer} peer
   */
  _keyless(peer) {
    if (this.e2ee || !peer.media.e2ee || peer.e2ee === "no-key") return false;
    peer.e2ee = "no-key";
    return true;
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
    this._useTopology(null);
    this.announceMedia(); // the join itself says whether we are muted
    this.signaling.join(options);
  }

  /** Leave the session, close every connection and release the devices. */
  leave() {
    this.signaling.leave();
    this._useTopology(null); // an SFU topology destroys its Janus session
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
    this.announceMedia();
    this.emit("local", this.media.tracks);
  }

  /** @param {boolean} off */
  setCameraOff(off) {
    this.media.setCameraOff(off);
    this.announceMedia();
    this.emit("local", this.media.tracks);
  }

  /**
   * Tell the others what we send now (mic muted, camera off or missing): call after
   * changing `session.media` directly (the controls do). Only changes go out.
   */
  announceMedia() {
    const d = this.media.describe();
    // a shared screen is sent even with the camera off (media.js keeps the two apart)
    this.signaling.setMedia({ audio: d.audio && !d.muted,
      video: d.video && (d.sharing || !d.cameraOff), e2ee: Boolean(this.e2ee) });
  }

  /** Plain data: state, ids, peers, local media, chat (for tests, logs and shells). */
  snapshot() {
    const topology = this.topology;
    return {
      state: this.state,
      history: [...this.history],
      error: this.error,
      server: this.server,
      session: this.sessionId,
      peerId: this.peerId,
      rejoins: this.signaling.rejoins,
      topology: topology?.describe() ?? null,
      peers: topology?.describePeers() ?? [],
      local: this.media.describe(),
      messages: this.messages.map((entry) => ({ ...entry })),
    };
  }

  /** getStats per peer_id: `video.framesDecoded` advancing proves the video plays. */
  async stats() {
    return this.topology?.stats() ?? {};
  }
}
