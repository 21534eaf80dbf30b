// @ts-check
/**
 * Full-mesh WebRTC: one RTCPeerConnection per remote participant, negotiated so that it
 * interoperates with the kernel's aiortc peers (zero_nb/kernel_rtc/peer.py).
 *
 * Rules shared with the kernel:
 * - Every connection has exactly one audio and one video transceiver, both sendrecv. Local
 *   sources change with `replaceTrack` (mute, camera off, screen share, resolution): never
 *   renegotiation.
 * - Peers already in a session send the offers to a newcomer, so first contact never collides.
 * - Perfect-negotiation roles: the peer with the smaller peer_id (string compare) is polite.
 * - aiortc has no rollback and no ICE restart, so *every* offer is made and answered on a fresh
 *   RTCPeerConnection. An offer with `reset: true` says "discard your connection with me".
 *   On a collision the impolite side ignores the incoming offer; the polite side drops its own
 *   connection and answers. After a failure the impolite side offers a fresh connection soon,
 *   the polite side later if nothing arrived meanwhile.
 * - Candidates are trickled (aiortc accepts them; it sends all of its own inside the SDP).
 *
 * Transport-free: outgoing signals go to the `send` callback, incoming ones to `handle()`, so
 * the page (WebSocket) and the notebook widget (comm) share this file.
 *
 * Events on Mesh (detail): peer-added {peer} · peer-removed {peer} · peer-state {peer, state}
 *   · stream {peer, stream} (a new MediaStream with the peer's audio+video receiver tracks)
 *   · error {peer, message}
 */

import { Emitter } from "./emitter.js";

/**
 * @typedef {'new'|'connecting'|'connected'|'disconnected'|'failed'|'closed'} PeerState
 * @typedef {{type: string, to?: string, from?: string, [key: string]: any}} Signal
 * @typedef {{audio: MediaStreamTrack | null, video: MediaStreamTrack | null}} LocalTracks
 */

export const KINDS = /** @type {const} */ (["audio", "video"]);

/** Timings (ms); tests may shorten them. */
export const TIMING = {
  restartImpolite: 500, // after 'failed': impolite side offers a fresh connection
  restartPolite: 5000, // polite side, if no fresh offer arrived meanwhile
  watchdog: 12000, // not connected this long after an offer/answer: treat as failed
  disconnected: 6000, // 'disconnected' this long: treat as failed
};

/**
 * Send `track` on every live sender of `kind` in `pc` (replaceTrack: no renegotiation).
 * @param {RTCPeerConnection} pc
 * @param {'audio'|'video'} kind
 * @param {MediaStreamTrack | null} track
 */
export async function replaceKindTrack(pc, kind, track) {
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.receiver.track.kind === kind && transceiver.currentDirection !== "stopped") {
      await transceiver.sender.replaceTrack(track);
    }
  }
}

/**
 * Stats of every peer as {peer_id: stats | null} (null where getStats failed).
 * @param {Iterable<Peer>} peers
 */
export async function peersStats(peers) {
  /** @type {Record<string, any>} */
  const out = {};
  await Promise.all([...peers].map(async (peer) => {
    try {
      out[peer.id] = await peer.stats();
    } catch {
      out[peer.id] = null;
    }
  }));
  return out;
}

export class Peer extends Emitter {
  /**
   * @param {Mesh} mesh
   * @param {string} id
   * @param {string} name
   */
  constructor(mesh, id, name) {
    super();
    this.mesh = mesh;
    this.id = id;
    this.name = name;
    /** @type {PeerState} */
    this.state = "new";
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** Remote audio + video of the current connection (a new stream per connection). */
    this.stream = new MediaStream();
    this.restarts = 0;
    this.offersSent = 0;
    this.answersSent = 0;
    this.joinedAt = Date.now();
    /** @type {number | null} */
    this.connectedAt = null;
    this.closed = false;
    /** @type {RTCIceCandidateInit[]} remote candidates waiting for a remote description */
    this._pending = [];
    /** @type {Signal[]} our candidates waiting until our SDP has been sent */
    this._outbox = [];
    this._sdpSent = false;
    /** @type {Promise<void>} every negotiation step runs in order, one at a time */
    this._chain = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
  }

  /** The polite side yields on collisions: the smaller peer_id (string compare). */
  get polite() {
    return (this.mesh.selfId ?? "") < this.id;
  }

  // -- connection -----------------------------------------------------------------------------

  /** Discard the current connection (if any) and make a fresh one. */
  _newPc() {
    this._closePc();
    const pc = new RTCPeerConnection(this.mesh.rtcConfig);
    this.pc = pc;
    this._pending = [];
    this._outbox = [];
    this._sdpSent = false;
    pc.onicecandidate = (event) => {
      if (pc !== this.pc) return;
      /** @type {Signal} */
      const signal = { type: "candidate", to: this.id,
        candidate: event.candidate ? event.candidate.toJSON() : null };
      if (this._sdpSent) this.mesh._send(signal);
      else this._outbox.push(signal); // a candidate must never overtake its offer/answer
    };
    pc.onconnectionstatechange = () => {
      if (pc === this.pc) this._setState(/** @type {PeerState} */ (pc.connectionState));
    };
    return pc;
  }

  _closePc() {
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.onicecandidate = pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch {
        // closing twice is harmless
      }
    }
  }

  /**
   * Attach local tracks to the connection's transceivers and publish its receive tracks.
   * @param {RTCPeerConnection} pc
   */
  async _bind(pc) {
    const stream = new MediaStream();
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind !== "audio" && kind !== "video") continue;
      transceiver.direction = "sendrecv";
      await transceiver.sender.replaceTrack(this.mesh.tracks[kind]);
      stream.addTrack(transceiver.receiver.track);
    }
    if (pc !== this.pc) return;
    this.stream = stream;
    this.emit("stream", { stream });
    this.mesh.emit("stream", { peer: this, stream });
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {Signal} signal
   */
  _sendSdp(pc, signal) {
    if (pc !== this.pc) return;
    this.mesh._send(signal);
    this._sdpSent = true;
    const outbox = this._outbox;
    this._outbox = [];
    for (const candidate of outbox) this.mesh._send(candidate);
    this._arm(TIMING.watchdog);
  }

  /** @param {PeerState} state */
  _setState(state) {
    if (state === this.state || this.closed) return;
    this.state = state;
    if (state === "connected") {
      this.connectedAt = Date.now();
      clearTimeout(this._timer);
    } else if (state === "failed") {
      this._arm(this.polite ? TIMING.restartPolite : TIMING.restartImpolite);
    } else if (state === "disconnected") {
      this._arm(TIMING.disconnected);
    }
    this.emit("state", { state });
    this.mesh.emit("peer-state", { peer: this, state });
  }

  /**
   * Unless connected by then, offer a fresh connection after `delay` ms.
   * @param {number} delay
   */
  _arm(delay) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      if (this.closed || this.pc?.connectionState === "connected") return;
      if (this.state !== "failed") this._setState("failed"); // re-arms with the role's delay
      else this.restart();
    }, delay);
  }

  /** Offer a fresh connection (after a failure); the remote side discards its own. */
  restart() {
    if (this.closed || !this.mesh.online) return Promise.resolve();
    this.restarts += 1;
    return this.offer({ reset: true });
  }

  /**
   * Offer on a fresh connection; `reset` tells the remote side to discard its connection.
   * @param {{reset?: boolean}} [options]
   */
  offer(options = {}) {
    return this._run(async () => {
      if (this.closed) return;
      const reset = Boolean(options.reset) || this.pc !== null;
      const pc = this._newPc();
      for (const kind of KINDS) pc.addTransceiver(kind, { direction: "sendrecv" });
      await this._bind(pc);
      if (this.state !== "connecting") this._setState("connecting");
      await pc.setLocalDescription(await pc.createOffer());
      /** @type {Signal} */
      const signal = { type: "offer", to: this.id, sdp: pc.localDescription?.sdp };
      if (reset) signal.reset = true;
      this.offersSent += 1;
      this._sendSdp(pc, signal);
    });
  }

  /**
   * Apply one relayed signal from this peer.
   * @param {Signal} signal
   */
  handle(signal) {
    return this._run(async () => {
      if (this.closed) return;
      if (signal.type === "offer") await this._onOffer(signal);
      else if (signal.type === "answer") await this._onAnswer(signal);
      else if (signal.type === "candidate") await this._onCandidate(signal);
    });
  }

  /** @param {Signal} signal */
  async _onOffer(signal) {
    const current = this.pc;
    const collision = current !== null && current.signalingState !== "stable";
    if (collision && !this.polite) return; // ours wins: the polite side answers it
    // no rollback in aiortc: a fresh connection stands in for it, for every offer
    const pc = this._newPc();
    if (this.state !== "connecting") this._setState("connecting");
    await pc.setRemoteDescription({ type: "offer", sdp: signal.sdp });
    await this._bind(pc);
    await this._flushPending(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    this.answersSent += 1;
    this._sendSdp(pc, { type: "answer", to: this.id, sdp: pc.localDescription?.sdp });
  }

  /** @param {Signal} signal */
  async _onAnswer(signal) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== "have-local-offer") return; // stray or stale answer
    await pc.setRemoteDescription({ type: "answer", sdp: signal.sdp });
    await this._flushPending(pc);
  }

  /** @param {Signal} signal */
  async _onCandidate(signal) {
    const candidate = signal.candidate;
    if (!candidate || !candidate.candidate) return; // end of candidates: nothing to do
    const pc = this.pc;
    if (pc && pc.remoteDescription) await this._addCandidate(pc, candidate);
    else this._pending.push(candidate);
  }

  /** @param {RTCPeerConnection} pc */
  async _flushPending(pc) {
    const pending = this._pending;
    this._pending = [];
    for (const candidate of pending) await this._addCandidate(pc, candidate);
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {RTCIceCandidateInit} candidate
   */
  async _addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate);
    } catch {
      // a late candidate of a connection that was replaced: its ufrag no longer matches
    }
  }

  /**
   * Queue one negotiation step behind the others; errors are reported, never thrown.
   * @param {() => Promise<void>} step
   */
  _run(step) {
    const next = this._chain.then(step).catch((err) => {
      if (this.closed) return;
      const message = `negotiation with ${this.name || this.id} failed: ${err?.message ?? err}`;
      this.mesh.emit("error", { peer: this, message });
      this._arm(TIMING.restartImpolite);
    });
    this._chain = next;
    return next;
  }

  /**
   * Put a local track on this connection's sender of `kind` (no renegotiation).
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    if (this.pc) await replaceKindTrack(this.pc, kind, track);
  }

  /**
   * One snapshot of this connection's statistics (plain data; null before a connection).
   * `video.framesDecoded` advancing proves the remote video plays.
   */
  async stats() {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    /** @type {Record<string, any>} */
    const out = { state: this.state, video: {}, audio: {}, sent: {}, rtt: null };
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.video = { framesDecoded: s.framesDecoded ?? 0, framesReceived: s.framesReceived ?? 0,
          framesDropped: s.framesDropped ?? 0, width: s.frameWidth ?? null,
          height: s.frameHeight ?? null, fps: s.framesPerSecond ?? null,
          bytesReceived: s.bytesReceived ?? 0, packetsLost: s.packetsLost ?? 0,
          jitter: s.jitter ?? null };
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.audio = { level: s.audioLevel ?? null, samples: s.totalSamplesReceived ?? 0,
          bytesReceived: s.bytesReceived ?? 0, packetsLost: s.packetsLost ?? 0,
          jitter: s.jitter ?? null };
      } else if (s.type === "outbound-rtp") {
        out.sent[s.kind] = { bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0,
          framesEncoded: s.framesEncoded ?? undefined, width: s.frameWidth ?? undefined,
          height: s.frameHeight ?? undefined };
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        out.rtt = s.currentRoundTripTime ?? out.rtt;
      }
    });
    return out;
  }

  close() {
    if (this.closed) return;
    clearTimeout(this._timer);
    this._closePc();
    this.state = "closed";
    this.closed = true;
    for (const track of this.stream.getTracks()) track.stop();
    this.emit("state", { state: "closed" });
  }

  /** Plain data for tests and UIs. */
  describe() {
    return { peerId: this.id, name: this.name, state: this.state, polite: this.polite,
      restarts: this.restarts, offersSent: this.offersSent, answersSent: this.answersSent,
      signalingState: this.pc?.signalingState ?? null, connectedAt: this.connectedAt };
  }
}

export class Mesh extends Emitter {
  /**
   * @param {{send: (signal: Signal) => boolean | void, rtcConfig?: RTCConfiguration}} options
   *   send: deliver a signal to the server (returns false if it could not)
   *   rtcConfig: ICE servers etc.; default none (never an implicit public STUN server)
   */
  constructor(options) {
    super();
    this._sendSignal = options.send;
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    /** @type {string | null} this participant's peer_id in the current session */
    this.selfId = null;
    /** True while signals can reach the server (restarts wait otherwise). */
    this.online = false;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {LocalTracks} what every connection sends */
    this.tracks = { audio: null, video: null };
  }

  /** @param {Signal} signal */
  _send(signal) {
    return this._sendSignal(signal);
  }

  /**
   * Start over as `selfId` (after joined / re-joined): every old connection goes.
   * @param {string | null} selfId
   */
  reset(selfId) {
    this.clear();
    this.selfId = selfId;
  }

  /**
   * A remote participant; `offer: true` when it is the newcomer (we were here first).
   * @param {string} id
   * @param {string} name
   * @param {{offer?: boolean}} [options]
   */
  add(id, name, options = {}) {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new Peer(this, id, name);
      this.peers.set(id, peer);
      this.emit("peer-added", { peer });
      // the newcomer waits for our offer; if it never comes, its watchdog resets
      if (!options.offer) peer._arm(TIMING.watchdog);
    }
    if (options.offer) peer.offer();
    return peer;
  }

  /** @param {string} id */
  remove(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.close();
    this.emit("peer-removed", { peer });
  }

  clear() {
    for (const id of [...this.peers.keys()]) this.remove(id);
  }

  /**
   * Apply a relayed offer/answer/candidate (with `from`). Unknown senders are ignored.
   * @param {Signal} signal
   */
  handle(signal) {
    const peer = signal.from ? this.peers.get(signal.from) : undefined;
    return peer ? peer.handle(signal) : Promise.resolve();
  }

  /**
   * Send `track` as this participant's `kind` on every connection (replaceTrack only).
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    this.tracks[kind] = track;
    await Promise.all([...this.peers.values()].map((peer) => peer.setTrack(kind, track)));
  }

  /** Stats for every peer: {peer_id: {...}} (see Peer.stats). */
  async stats() {
    return peersStats(this.peers.values());
  }
}
