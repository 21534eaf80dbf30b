// @ts-check
/**
 * Mesh negotiation with one remote peer, made to interoperate with the kernel's aiortc peers
 * (zero_nb/kernel_rtc/peer.py). Only the Mesh uses it; the peer it drives is a plain
 * {@link RemotePeer}.
 *
 * - Every connection has exactly one audio and one video transceiver, both sendrecv. Local
 *   sources change with `replaceTrack`: never renegotiation.
 * - Perfect-negotiation roles: the peer with the smaller peer_id (string compare) is polite.
 * - aiortc has no rollback and no ICE restart, so *every* offer is made and answered on a fresh
 *   RTCPeerConnection. An offer with `reset: true` says "discard your connection with me".
 *   On a collision the impolite side ignores the incoming offer; the polite side drops its own
 *   connection and answers. After a failure the impolite side offers a fresh connection soon,
 *   the polite side later if nothing arrived meanwhile.
 * - Candidates are trickled (aiortc accepts them; it sends all of its own inside the SDP),
 *   never ahead of their offer/answer.
 */

import { KINDS } from "./peer.js";

/**
 * @typedef {{type: string, to?: string, from?: string, [key: string]: any}} Signal
 * @typedef {{selfId: string | null, rtcConfig: RTCConfiguration,
 *   tracks: import("./peer.js").LocalTracks, online: () => boolean,
 *   send: (signal: Signal) => any, emit: (type: string, detail: any) => void,
 *   e2ee?: import("./e2ee.js").E2eeLink | null}} MeshContext
 */

/** Timings (ms); tests may shorten them. */
export const TIMING = {
  restartImpolite: 500, // after 'failed': impolite side offers a fresh connection
  restartPolite: 5000, // polite side, if no fresh offer arrived meanwhile
  watchdog: 12000, // not connected this long after an offer/answer: treat as failed
  disconnected: 6000, // 'disconnected' this long: treat as failed
};

export class Negotiation {
  /**
   * @param {import("./peer.js").RemotePeer} peer
   * @param {MeshContext} mesh
   */
  constructor(peer, mesh) {
    this.peer = peer;
    this.mesh = mesh;
    this.restarts = 0;
    this.offersSent = 0;
    this.answersSent = 0;
    /** @type {RTCIceCandidateInit[]} remote candidates waiting for a remote description */
    this._pending = [];
    /** @type {Signal[]} our candidates waiting until our SDP has been sent */
    this._outbox = [];
    this._sdpSent = false;
    /** @type {Promise<void>} every negotiation step runs in order, one at a time */
    this._chain = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    this._stopState = peer.on("state", ({ state }) => this._onState(state));
  }

  /** The polite side yields on collisions: the smaller peer_id (string compare). */
  get polite() {
    return (this.mesh.selfId ?? "") < this.peer.id;
  }

  /** @param {import("./peer.js").PeerState} state */
  _onState(state) {
    if (state === "connected") clearTimeout(this._timer);
    else if (state === "failed") this.arm(this.polite ? TIMING.restartPolite : TIMING.restartImpolite);
    else if (state === "disconnected") this.arm(TIMING.disconnected);
  }

  /**
   * Unless connected by then, offer a fresh connection after `delay` ms.
   * @param {number} delay
   */
  arm(delay) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      const peer = this.peer;
      if (peer.closed || peer.pc?.connectionState === "connected") return;
      if (peer.state !== "failed") peer.setState("failed"); // re-arms with the role's delay
      else this.restart();
    }, delay);
  }

  /** A fresh connection for the peer; our candidates wait in the outbox until our SDP. */
  _newPc() {
    const pc = this.peer.usePc(new RTCPeerConnection(this.mesh.rtcConfig));
    this._pending = [];
    this._outbox = [];
    this._sdpSent = false;
    pc.onicecandidate = (event) => {
      if (pc !== this.peer.pc) return;
      /** @type {Signal} */
      const signal = { type: "candidate", to: this.peer.id,
        candidate: event.candidate ? event.candidate.toJSON() : null };
      if (this._sdpSent) this.mesh.send(signal);
      else this._outbox.push(signal);
    };
    return pc;
  }

  /**
   * Attach local tracks to the connection's transceivers and publish its receive tracks.
   * @param {RTCPeerConnection} pc
   */
  async _bind(pc) {
    this.mesh.e2ee?.bind(pc, this.peer); // E2EE hook (js/rtc/e2ee.js): first, see there
    const stream = new MediaStream();
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind !== "audio" && kind !== "video") continue;
      transceiver.direction = "sendrecv";
      await transceiver.sender.replaceTrack(this.mesh.tracks[kind]);
      stream.addTrack(transceiver.receiver.track);
    }
    if (pc === this.peer.pc) this.peer.setStream(stream);
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {Signal} signal
   */
  _sendSdp(pc, signal) {
    if (pc !== this.peer.pc) return;
    this.mesh.send(signal);
    this._sdpSent = true;
    const outbox = this._outbox;
    this._outbox = [];
    for (const candidate of outbox) this.mesh.send(candidate);
    this.arm(TIMING.watchdog);
  }

  /** Offer a fresh connection (after a failure); the remote side discards its own. */
  restart() {
    if (this.peer.closed || !this.mesh.online()) return Promise.resolve();
    this.restarts += 1;
    return this.offer({ reset: true });
  }

  /**
   * Offer on a fresh connection; `reset` tells the remote side to discard its connection.
   * @param {{reset?: boolean}} [options]
   */
  offer(options = {}) {
    return this._run(async () => {
      const reset = Boolean(options.reset) || this.peer.pc !== null;
      const pc = this._newPc();
      for (const kind of KINDS) pc.addTransceiver(kind, { direction: "sendrecv" });
      await this._bind(pc);
      if (this.peer.state !== "connecting") this.peer.setState("connecting");
      await pc.setLocalDescription(await pc.createOffer());
      /** @type {Signal} */
      const signal = { type: "offer", to: this.peer.id, sdp: pc.localDescription?.sdp };
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
      if (signal.type === "offer") await this._onOffer(signal);
      else if (signal.type === "answer") await this._onAnswer(signal);
      else if (signal.type === "candidate") await this._onCandidate(signal);
    });
  }

  /** @param {Signal} signal */
  async _onOffer(signal) {
    const current = this.peer.pc;
    const collision = current !== null && current.signalingState !== "stable";
    if (collision && !this.polite) return; // ours wins: the polite side answers it
    // no rollback in aiortc: a fresh connection stands in for it, for every offer
    const pc = this._newPc();
    if (this.peer.state !== "connecting") this.peer.setState("connecting");
    await pc.setRemoteDescription({ type: "offer", sdp: signal.sdp });
    await this._bind(pc);
    await this._flushPending(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    this.answersSent += 1;
    this._sendSdp(pc, { type: "answer", to: this.peer.id, sdp: pc.localDescription?.sdp });
  }

  /** @param {Signal} signal */
  async _onAnswer(signal) {
    const pc = this.peer.pc;
    if (!pc || pc.signalingState !== "have-local-offer") return; // stray or stale answer
    await pc.setRemoteDescription({ type: "answer", sdp: signal.sdp });
    await this._flushPending(pc);
  }

  /** @param {Signal} signal */
  async _onCandidate(signal) {
    const candidate = signal.candidate;
    if (!candidate || !candidate.candidate) return; // end of candidates: nothing to do
    const pc = this.peer.pc;
    if (pc && pc.remoteDescription) await addCandidate(pc, candidate);
    else this._pending.push(candidate);
  }

  /** @param {RTCPeerConnection} pc */
  async _flushPending(pc) {
    const pending = this._pending;
    this._pending = [];
    for (const candidate of pending) await addCandidate(pc, candidate);
  }

  /**
   * Queue one negotiation step behind the others; errors are reported, never thrown.
   * @param {() => Promise<void>} step
   */
  _run(step) {
    const next = this._chain.then(() => (this.peer.closed ? undefined : step())).catch((err) => {
      if (this.peer.closed) return;
      const message = `negotiation with ${this.peer.name || this.peer.id} failed: ` +
        `${err?.message ?? err}`;
      this.mesh.emit("error", { peer: this.peer, message });
      this.arm(TIMING.restartImpolite);
    });
    this._chain = next;
    return next;
  }

  close() {
    clearTimeout(this._timer);
    this._stopState();
  }

  describe() {
    return { polite: this.polite, restarts: this.restarts, offersSent: this.offersSent,
      answersSent: this.answersSent };
  }
}

/**
 * @param {RTCPeerConnection} pc
 * @param {RTCIceCandidateInit} candidate
 */
async function addCandidate(pc, candidate) {
  try {
    await pc.addIceCandidate(candidate);
  } catch (err) {
    // expected for a late candidate of a connection that was replaced (its ufrag no longer
    // matches): logged quietly then, loudly otherwise
    const stale = pc.signalingState === "closed" || !pc.remoteDescription;
    (stale ? console.debug : console.warn)("zero_nb: addIceCandidate failed:", err);
  }
}
