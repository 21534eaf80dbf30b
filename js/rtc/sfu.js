// @ts-check
/**
 * The SFU topology: media through a Janus VideoRoom (`joined.sfu`), the browser twin of the
 * kernel's SFU side. Implements the topology interface of topology.js.
 *
 * - We publish through a {@link Publisher} (sfu_publisher.js): display = our peer_id.
 * - The signaling roster stays the truth for `peers`; a peer's media comes from the Janus feed
 *   whose publisher `display` is its peer_id, each on its own recvonly connection (Janus
 *   offers, we answer), so a publisher coming or going never renegotiates the others.
 * - If the Janus connection drops, media stops, chat keeps working and an error says so.
 */

import { Emitter } from "./emitter.js";
import { peersStats, RemotePeer } from "./peer.js";
import { Publisher } from "./sfu_publisher.js";
import { Subscriber } from "./sfu_subscriber.js";

export class Sfu extends Emitter {
  /** @param {import("./topology.js").TopologyOptions} options */
  constructor(options) {
    super();
    this.kind = "sfu";
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    /** @type {import("./peer.js").LocalTracks} */
    this.tracks = { ...(options.tracks ?? { audio: null, video: null }) };
    this.e2ee = options.e2ee ?? null; // E2EE hook: js/rtc/e2ee.js
    /** @type {string | null} */
    this.selfId = null;
    /** @type {Map<string, RemotePeer>} */
    this.peers = new Map();
    /** @type {Map<string, number>} display (= peer_id) -> Janus feed id */
    this.feeds = new Map();
    /** @type {import("./sfu_publisher.js").SfuInfo | null} */
    this.info = null;
    /** @type {Publisher | null} */
    this.publisher = null;
    /** @type {string | null} why media stopped, if it did */
    this.error = null;
    /** @type {'idle'|'connecting'|'publishing'|'failed'} */
    this.state = "idle";
    /** @type {Subscriber | null} each peer's feed on its own connection, through our Janus */
    this.subscriber = null;
  }

  /** @param {import("./sfu_publisher.js").SfuInfo} info */
  _newSubscriber(info) {
    return new Subscriber({ info, rtcConfig: this.rtcConfig, e2ee: this.e2ee,
      janus: () => this.publisher?.janus ?? null,
      privateId: () => this.publisher?.privateId ?? null,
      onError: (peer, message) => {
        if (this.error === null) this.emit("error", { peer, code: "sfu-error", message });
      } });
  }

  /**
   * `joined` from the server: publish to its Janus room; never throws.
   * @param {Record<string, any>} joined
   */
  async start(joined) {
    const info = /** @type {import("./sfu_publisher.js").SfuInfo} */ (joined.sfu);
    this.selfId = joined.peer_id;
    this.info = info;
    this.subscriber = this._newSubscriber(info);
    this.state = "connecting";
    for (const peer of joined.peers ?? []) this.peerJoined(peer.peer_id, peer.name ?? "");
    const publisher = new Publisher(info, this.rtcConfig, {
      e2ee: this.e2ee, // E2EE hook
      onEvent: (data) => this._onPublisherEvent(data),
      onClose: (reason) => this._lost(reason),
      onHangup: (reason) => this._fail(`Janus hung up our published stream (${reason}): the ` +
        "others no longer receive us; leave and join again", "sfu-hangup"),
    });
    this.publisher = publisher;
    try {
      if (await publisher.start(/** @type {string} */ (this.selfId), this.tracks)) {
        this.state = "publishing";
      }
    } catch (err) {
      if (publisher.closed) return;
      this._fail(`SFU: cannot publish to Janus room ${info.room} at ${info.url}: ` +
        `${/** @type {any} */ (err)?.message ?? err}`, "sfu-error");
    }
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
        this._unsubscribe(peer);
        peer.setState("failed");
      }
    }
  }

  // -- roster (signaling) -------------------------------------------------------------------

  /**
   * @param {string} id
   * @param {string} name
   */
  peerJoined(id, name) {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new RemotePeer(this, id, name);
      this.peers.set(id, peer);
      this.emit("peer-added", { peer });
    }
    this._sync(id);
    return peer;
  }

  /** @param {string} id */
  peerLeft(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this._unsubscribe(peer);
    peer.close();
    this.emit("peer-removed", { peer });
  }

  /** Offers, answers and candidates are mesh business: media goes through Janus here. */
  signal() {
    return Promise.resolve();
  }

  // -- Janus events ---------------------------------------------------------------------------

  /** @param {Record<string, any>} data */
  _onPublisherEvent(data) {
    for (const pub of Array.isArray(data.publishers) ? data.publishers : []) {
      const display = pub.display;
      if (!display || display === this.selfId || typeof pub.id !== "number") continue;
      this.feeds.set(display, pub.id);
      this._sync(display);
    }
    for (const feedId of [data.unpublished, data.leaving]) {
      if (typeof feedId !== "number") continue;
      for (const [display, fid] of [...this.feeds]) {
        if (fid !== feedId) continue;
        this.feeds.delete(display);
        const peer = this.peers.get(display);
        if (peer && this.subscriber?.feedOf(display) === feedId) {
          this._unsubscribe(peer);
          peer.setState("new");
        }
      }
    }
    if (data.videoroom === "destroyed") {
      this._fail(`SFU: Janus room ${this.info?.room} was destroyed`, "sfu-error");
    }
  }

  // -- subscriptions (sfu_subscriber.js) -----------------------------------------------------

  /** @param {RemotePeer} peer  drop its subscription (connection + Janus handle), keep it */
  _unsubscribe(peer) {
    this.subscriber?.drop(peer);
  }

  /** @param {string} id */
  _sync(id) {
    const peer = this.peers.get(id);
    const feedId = this.feeds.get(id);
    if (!peer || feedId === undefined || this.error !== null) return;
    this.subscriber?.sync(peer, feedId);
  }

  /**
   * Ask Janus for `layer` ("low" | "mid" | "high") of `id`'s video; `peer.layer` then says
   * which one arrives (see Subscriber.setLayer).
   * @param {string} id
   * @param {string} layer
   */
  setLayer(id, layer) {
    return this.subscriber?.setLayer(id, layer);
  }

  // -- local media and stats ------------------------------------------------------------------

  /**
   * Send `track` as our `kind` (replaceTrack on the published connection).
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    this.tracks[kind] = track;
    await this.publisher?.setTrack(kind, track);
  }

  /** Stats for every peer: {peer_id: {...}} (see RemotePeer.stats). */
  async stats() {
    return peersStats(this.peers.values());
  }

  /** What we publish to Janus (see Publisher.stats). */
  async publishStats() {
    return this.publisher?.stats() ?? null;
  }

  describePeers() {
    return [...this.peers.values()].map((peer) => ({ ...peer.describe(),
      feedId: this.subscriber?.feedOf(peer.id) ?? null }));
  }

  describe() {
    const pub = this.publisher;
    return { topology: this.kind, kind: this.info?.kind ?? null, url: this.info?.url ?? null,
      room: this.info?.room ?? null, state: this.state, error: this.error,
      publisherId: pub?.publisherId ?? null, publishing: pub?.pc?.connectionState ?? null,
      feeds: Object.fromEntries(this.feeds) };
  }

  /** Leave Janus: every subscription and the publisher go (the others see us unpublish). */
  close() {
    for (const id of [...this.peers.keys()]) this.peerLeft(id);
    this.publisher?.close();
    this.publisher = null;
    this.feeds.clear();
    this.state = "idle";
  }
}
