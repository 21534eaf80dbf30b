// @ts-check
/**
 * The mesh topology: one RTCPeerConnection per remote participant, each negotiated by its
 * own {@link Negotiation} (negotiation.js) over the signaling server. Peers already in a
 * session send the offers to a newcomer, so first contact never collides.
 *
 * Implements the topology interface of topology.js (the Session never asks which one it has).
 */

import { Emitter } from "./emitter.js";
import { Negotiation, TIMING } from "./negotiation.js";
import { peersStats, RemotePeer } from "./peer.js";

export class Mesh extends Emitter {
  /** @param {import("./topology.js").TopologyOptions} options */
  constructor(options) {
    super();
    this.kind = "mesh";
    this._sendSignal = options.send;
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    this.online = options.online ?? (() => true);
    /** @type {string | null} this participant's peer_id in the current session */
    this.selfId = null;
    /** @type {Map<string, RemotePeer>} */
    this.peers = new Map();
    /** @type {Map<string, Negotiation>} */
    this.negotiations = new Map();
    /** @type {import("./peer.js").LocalTracks} what every connection sends */
    this.tracks = { ...(options.tracks ?? { audio: null, video: null }) };
    this.e2ee = options.e2ee ?? null; // E2EE hook: used by negotiation.js and send()
  }

  /**
   * Deliver a signal to the server (false if it could not).
   * @param {import("./negotiation.js").Signal} signal
   */
  send(signal) {
    return this._sendSignal(this.e2ee ? this.e2ee.mark(signal) : signal); // E2EE hook
  }

  /**
   * `joined` from the server: the ones already here offer to us.
   * @param {Record<string, any>} joined
   */
  start(joined) {
    this.selfId = joined.peer_id;
    for (const info of joined.peers ?? []) this.peerJoined(info.peer_id, info.name ?? "", false);
  }

  /**
   * A remote participant; `offer: true` when it is the newcomer (we were here first).
   * @param {string} id
   * @param {string} name
   * @param {boolean} [offer]
   */
  peerJoined(id, name, offer = true) {
    let negotiation = this.negotiations.get(id);
    if (!negotiation) {
      const peer = new RemotePeer(this, id, name);
      negotiation = new Negotiation(peer, this);
      this.peers.set(id, peer);
      this.negotiations.set(id, negotiation);
      this.emit("peer-added", { peer });
      // the newcomer waits for our offer; if it never comes, its watchdog resets
      if (!offer) negotiation.arm(TIMING.watchdog);
    }
    if (offer) negotiation.offer();
    return negotiation.peer;
  }

  /** @param {string} id */
  peerLeft(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.negotiations.get(id)?.close();
    this.negotiations.delete(id);
    peer.close();
    this.emit("peer-removed", { peer });
  }

  /**
   * A relayed offer/answer/candidate (with `from`); unknown senders are ignored.
   * @param {import("./negotiation.js").Signal} signal
   */
  signal(signal) {
    const negotiation = signal.from ? this.negotiations.get(signal.from) : undefined;
    return negotiation ? negotiation.handle(signal) : Promise.resolve();
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

  /** Stats for every peer: {peer_id: {...}} (see RemotePeer.stats). */
  async stats() {
    return peersStats(this.peers.values());
  }

  describePeers() {
    return [...this.peers.values()].map((peer) => ({ ...peer.describe(),
      ...this.negotiations.get(peer.id)?.describe() }));
  }

  /** Nothing beyond the peers to describe in a mesh. */
  describe() {
    return { topology: this.kind };
  }

  close() {
    for (const id of [...this.peers.keys()]) this.peerLeft(id);
  }
}
