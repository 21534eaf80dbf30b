// @ts-check
/**
 * SFU mode: media through a Janus VideoRoom (`joined.sfu`), the browser twin of
 * zero_nb/sfu/room.py. Same surface as the Mesh (peers, events, setTrack, stats, reset), so
 * the Session and the page treat both alike.
 *
 * - We join the room as a publisher with `display` = our zero_nb peer_id and the session's
 *   PIN, and publish camera + microphone on one sendonly RTCPeerConnection.
 * - The signaling roster stays the truth for `peers`; a peer's media comes from the Janus feed
 *   whose publisher `display` is its peer_id, each on its own recvonly connection (Janus
 *   offers, we answer), so a publisher coming or going never renegotiates the others.
 * - Our candidates go inside the SDP (we wait for gathering to complete), as the kernel does.
 * - If the Janus connection drops, media stops, chat keeps working and an error says so.
 *
 * Events (detail): peer-added {peer} · peer-removed {peer} · peer-state {peer, state}
 *   · stream {peer, stream} · error {peer, message, code}
 */

import { Emitter } from "./emitter.js";
import { JANUS_CODES, JanusError, JanusSession } from "./janus.js";
import { KINDS, Peer, peersStats, replaceKindTrack } from "./mesh.js";

export const SFU_TIMING = {
  roomWait: 10000, // the server creates the Janus room in the background: wait that long
  feedRetries: 6, // "No such feed": the publisher is not up yet
  retry: 500,
  gathering: 3000, // longest wait for ICE gathering to complete
};

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolve once ICE gathering is complete (candidates are then inside localDescription).
 * @param {RTCPeerConnection} pc
 */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, SFU_TIMING.gathering);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** A remote participant whose media arrives from its Janus feed (no mesh restarts). */
export class SfuPeer extends Peer {
  /**
   * @param {Sfu} sfu
   * @param {string} id
   * @param {string} name
   */
  constructor(sfu, id, name) {
    super(/** @type {any} */ (sfu), id, name);
    /** @type {number | null} the Janus feed we receive, if any */
    this.feedId = null;
    /** @type {import("./janus.js").JanusHandle | null} */
    this.janusHandle = null;
  }

  /** @param {import("./mesh.js").PeerState} state */
  _setState(state) {
    if (state === this.state || this.closed) return;
    this.state = state;
    if (state === "connected") this.connectedAt = Date.now();
    this.emit("state", { state });
    this.mesh.emit("peer-state", { peer: this, state });
  }

  // nothing to offer or restart over signaling in SFU mode
  restart() {
    return Promise.resolve();
  }

  offer() {
    return Promise.resolve();
  }

  handle() {
    return Promise.resolve();
  }

  /** Drop the subscription (connection + Janus handle), keep the peer. */
  _unsubscribe() {
    this._closePc();
    this.feedId = null;
    const handle = this.janusHandle;
    this.janusHandle = null;
    if (handle) handle.detach();
  }

  close() {
    this._unsubscribe();
    super.close();
  }

  describe() {
    return { ...super.describe(), feedId: this.feedId };
  }
}

export class Sfu extends Emitter {
  /** @param {{rtcConfig?: RTCConfiguration}} [options] */
  constructor(options = {}) {
    super();
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    /** @type {string | null} */
    this.selfId = null;
    this.online = false;
    /** @type {Map<string, SfuPeer>} */
    this.peers = new Map();
    /** @type {{audio: MediaStreamTrack | null, video: MediaStreamTrack | null}} */
    this.tracks = { audio: null, video: null };
    /** @type {{kind: string, url: string, room: number, pin?: string} | null} */
    this.info = null;
    /** @type {Map<string, number>} display (= peer_id) -> Janus feed id */
    this.feeds = new Map();
    /** @type {string | null} why media stopped, if it did */
    this.error = null;
    /** @type {'idle'|'connecting'|'publishing'|'failed'} */
    this.state = "idle";
    /** @type {number | null} */
    this.publisherId = null;
    /** @type {number | null} */
    this.privateId = null;
    /** @type {JanusSession | null} */
    this.janus = null;
    /** @type {import("./janus.js").JanusHandle | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.pubPc = null;
    this._generation = 0;
  }

  get active() {
    return this.info !== null;
  }

  /**
   * Start over as `selfId`: every subscription, the publisher and the Janus session go.
   * @param {string | null} selfId
   */
  reset(selfId) {
    this._generation += 1;
    for (const id of [...this.peers.keys()]) this.remove(id);
    const janus = this.janus;
    this.janus = null;
    this.publisher = null;
    if (this.pubPc) {
      try {
        this.pubPc.close();
      } catch {
        // already closed
      }
    }
    this.pubPc = null;
    if (janus) {
      janus.onClose = null;
      janus.close(); // destroys the Janus session: Janus unpublishes us for the others
    }
    this.feeds.clear();
    this.info = null;
    this.error = null;
    this.state = "idle";
    this.publisherId = this.privateId = null;
    this.selfId = selfId;
  }

  /**
   * Join the Janus room of `info` (from `joined.sfu`) and publish; never throws.
   * @param {string} selfId
   * @param {{kind: string, url: string, room: number, pin?: string}} info
   */
  async start(selfId, info) {
    this.reset(selfId);
    this.info = info;
    this.state = "connecting";
    const generation = this._generation;
    const stale = () => generation !== this._generation;
    try {
      const janus = await JanusSession.connect(info.url);
      if (stale()) {
        janus.close();
        return;
      }
      this.janus = janus;
      janus.onClose = (reason) => this._lost(reason);
      const pub = await janus.attach();
      this.publisher = pub;
      pub.onEvent = (data) => this._onPublisherEvent(data);
      pub.onJanus = (msg) => {
        if (msg.janus === "hangup" && !stale()) {
          this._fail(`Janus hung up our published stream (${msg.reason ?? "?"}): the others ` +
            "no longer receive us; leave and join again", "sfu-hangup");
        }
      };
      const joined = await this._joinPublisher(pub, info, stale);
      if (stale()) return;
      this.publisherId = joined.id ?? null;
      this.privateId = joined.private_id ?? null;
      this._onPublishers(joined.publishers ?? []);
      await this._publish(pub, stale);
      if (!stale()) this.state = "publishing";
    } catch (err) {
      if (stale()) return;
      this._fail(`SFU: cannot publish to Janus room ${info.room} at ${info.url}: ` +
        `${/** @type {any} */ (err)?.message ?? err}`, "sfu-error");
    }
  }

  /**
   * @param {import("./janus.js").JanusHandle} pub
   * @param {{room: number, pin?: string}} info
   * @param {() => boolean} stale
   */
  async _joinPublisher(pub, info, stale) {
    const deadline = Date.now() + SFU_TIMING.roomWait;
    for (;;) {
      /** @type {Record<string, any>} */
      const body = { request: "join", ptype: "publisher", room: info.room,
        display: this.selfId };
      if (info.pin) body.pin = info.pin;
      try {
        return (await pub.message(body)).data;
      } catch (err) {
        const code = /** @type {any} */ (err)?.code;
        if (code !== JANUS_CODES.NO_SUCH_ROOM || Date.now() > deadline || stale()) throw err;
      }
      await sleep(100);
    }
  }

  /**
   * @param {import("./janus.js").JanusHandle} pub
   * @param {() => boolean} stale
   */
  async _publish(pub, stale) {
    const pc = new RTCPeerConnection(this.rtcConfig);
    this.pubPc = pc;
    for (const kind of KINDS) {
      const track = this.tracks[kind];
      const stream = new MediaStream(track ? [track] : []);
      pc.addTransceiver(track ?? kind, { direction: "sendonly", streams: [stream] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (stale()) return;
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const { data, jsep } = await pub.message({ request: "publish" },
      { type: local.type, sdp: local.sdp, trickle: false });
    if (!jsep) throw new JanusError(`Janus answered 'publish' without an SDP: ` +
      JSON.stringify(data));
    if (stale()) return;
    await pc.setRemoteDescription(jsep);
  }

  /**
   * @param {string} message
   * @param {string} code
   */
  _fail(message, code) {
    if (this.error !== null) return;
    this.error = message;
    this.state = "failed";
    this.emit("error", { peer: null, message, code });
  }

  /** @param {string} reason */
  _lost(reason) {
    this._fail(`SFU lost: ${reason}. Media stopped (chat still works); leave and join ` +
      "again once the SFU is back.", "sfu-lost");
    for (const peer of this.peers.values()) {
      if (peer.pc) {
        peer._unsubscribe();
        peer._setState("failed");
      }
    }
  }

  // -- roster (signaling) -------------------------------------------------------------------

  /**
   * @param {string} id
   * @param {string} name
   */
  add(id, name) {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new SfuPeer(this, id, name);
      this.peers.set(id, peer);
      this.emit("peer-added", { peer });
    }
    this._sync(id);
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

  // -- Janus events ---------------------------------------------------------------------------

  /** @param {Record<string, any>} data */
  _onPublisherEvent(data) {
    if (Array.isArray(data.publishers)) this._onPublishers(data.publishers);
    for (const key of ["unpublished", "leaving"]) {
      const feedId = data[key];
      if (typeof feedId !== "number") continue;
      for (const [display, fid] of [...this.feeds]) {
        if (fid !== feedId) continue;
        this.feeds.delete(display);
        const peer = this.peers.get(display);
        if (peer && peer.feedId === feedId) {
          peer._unsubscribe();
          peer._setState("new");
        }
      }
    }
    if (data.videoroom === "destroyed") {
      this._fail(`SFU: Janus room ${this.info?.room} was destroyed`, "sfu-error");
    }
  }

  /** @param {Array<Record<string, any>>} publishers */
  _onPublishers(publishers) {
    for (const pub of publishers) {
      const display = pub.display;
      if (!display || display === this.selfId || typeof pub.id !== "number") continue;
      this.feeds.set(display, pub.id);
      this._sync(display);
    }
  }

  // -- subscriptions --------------------------------------------------------------------------

  /** @param {string} id */
  _sync(id) {
    const peer = this.peers.get(id);
    const feedId = this.feeds.get(id);
    if (!peer || feedId === undefined || !this.janus || this.error !== null) return;
    if (peer.feedId === feedId) return;
    peer._unsubscribe();
    peer.feedId = feedId;
    this._subscribe(peer, feedId).catch((err) => {
      if (peer.closed || peer.feedId !== feedId || this.error !== null) return;
      peer._unsubscribe();
      peer._setState("failed");
      this.emit("error", { peer, code: "sfu-error",
        message: `SFU: cannot receive ${peer.name || peer.id}: ${err?.message ?? err}` });
    });
  }

  /**
   * One recvonly connection for `peer`'s feed: Janus offers, we answer.
   * @param {SfuPeer} peer
   * @param {number} feedId
   */
  async _subscribe(peer, feedId) {
    const janus = this.janus;
    if (!janus || !this.info) return;
    const current = () => !peer.closed && peer.feedId === feedId && this.janus === janus;
    const handle = await janus.attach();
    if (!current()) {
      handle.detach();
      return;
    }
    peer.janusHandle = handle;
    /** @type {Record<string, any>} */
    const body = { request: "join", ptype: "subscriber", room: this.info.room,
      streams: [{ feed: feedId }] };
    if (this.info.pin) body.pin = this.info.pin;
    if (this.privateId !== null) body.private_id = this.privateId;
    let offer = null;
    for (let attempt = 0; ; attempt += 1) {
      try {
        offer = (await handle.message(body)).jsep;
        break;
      } catch (err) {
        const code = /** @type {any} */ (err)?.code;
        if (code !== JANUS_CODES.NO_SUCH_FEED || attempt >= SFU_TIMING.feedRetries - 1 ||
            !current()) throw err;
      }
      await sleep(SFU_TIMING.retry);
    }
    if (!offer) throw new JanusError("Janus sent no offer for the subscription");
    if (!current()) return;
    const pc = peer._newPc(); // closes any previous one; state events from this one only
    pc.onicecandidate = null; // our candidates go inside the answer
    peer._setState("connecting");
    await pc.setRemoteDescription(offer);
    const stream = new MediaStream();
    for (const transceiver of pc.getTransceivers()) {
      transceiver.direction = "recvonly";
      stream.addTrack(transceiver.receiver.track);
    }
    peer.stream = stream;
    peer.emit("stream", { stream });
    this.emit("stream", { peer, stream });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    if (!current() || peer.pc !== pc) return;
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    await handle.message({ request: "start" }, { type: local.type, sdp: local.sdp,
      trickle: false });
  }

  // -- local media and stats ------------------------------------------------------------------

  /**
   * Send `track` as our `kind` (replaceTrack on the published connection).
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    this.tracks[kind] = track;
    if (this.pubPc) await replaceKindTrack(this.pubPc, kind, track);
  }

  /** Stats for every peer: {peer_id: {...}} (see Peer.stats), plus what we publish. */
  async stats() {
    return peersStats(this.peers.values());
  }

  /** What we publish to Janus: {state, sent: {audio, video}} (bytes, packets, frames). */
  async publishStats() {
    const pc = this.pubPc;
    if (!pc) return null;
    /** @type {Record<string, any>} */
    const sent = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp") {
        sent[s.kind] = { bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0,
          framesEncoded: s.framesEncoded ?? undefined };
      }
    });
    return { state: pc.connectionState, sent };
  }

  describe() {
    return { kind: this.info?.kind ?? null, url: this.info?.url ?? null,
      room: this.info?.room ?? null, state: this.state, error: this.error,
      publisherId: this.publisherId, publishing: this.pubPc?.connectionState ?? null,
      feeds: Object.fromEntries(this.feeds) };
  }
}
