// @ts-check
/**
 * Watching a Janus VideoRoom without taking part: the Conference widget's browser receives the
 * other participants' media straight from Janus (its kernel publishes; the kernel's local
 * link then carries only your own camera and mic). The viewer is no signaling participant:
 * the kernel tells it the room (url, room, pin) and the roster (peer_id -> Janus feed id,
 * name), and it subscribes with sfu_subscriber.js, like the page's Sfu topology. With E2EE
 * the kernel hands over the raw frame key (never the passphrase) and e2ee.js opens the frames.
 *
 * Events (detail): peer-added {peer} · peer-removed {peer} · peer-state {peer, state}
 *   · stream {peer, stream} · e2ee {peer, state} · error {peer, message, code}
 */

import { E2EE_PC_CONFIG, E2eeLink, e2eeSupport, Keyring } from "./e2ee.js";
import { Emitter } from "./emitter.js";
import { JanusSession } from "./janus.js";
import { peersStats, RemotePeer } from "./peer.js";
import { Subscriber } from "./sfu_subscriber.js";

/**
 * @typedef {{feed: number, name?: string}} FeedInfo  one participant's Janus feed
 * @typedef {{key: string, key_id: number}} FrameKey  E2EE: the raw AES key (base64) and its id
 */

/**
 * An E2eeLink keyed with the kernel's frame key (the same PBKDF2 result the passphrase gives).
 * @param {FrameKey} frameKey
 * @param {(peer: any, state: string) => void} onState
 */
function keyedLink(frameKey, onState) {
  const link = new E2eeLink("");
  const keyring = link.keyring = new Keyring();
  link.onState = onState;
  const raw = Uint8Array.from(atob(frameKey.key), (c) => c.charCodeAt(0));
  crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"])
    .then((key) => keyring.setKey(key, frameKey.key_id)); // well before the first frame
  return link;
}

export class SfuViewer extends Emitter {
  /** @param {{rtcConfig?: RTCConfiguration}} [options] */
  constructor(options = {}) {
    super();
    this.kind = "sfu-viewer";
    this.rtcConfig = options.rtcConfig ?? { iceServers: [] };
    /** @type {Map<string, RemotePeer>} */
    this.peers = new Map();
    /** @type {Record<string, FeedInfo>} the roster as the kernel last said */
    this.roster = {};
    /** @type {JanusSession | null} */
    this.janus = null;
    /** @type {Subscriber | null} */
    this.subscriber = null;
    /** @type {import("./sfu_publisher.js").SfuInfo | null} */
    this.info = null;
    /** @type {'idle'|'connecting'|'watching'|'failed'|'closed'} */
    this.state = "idle";
    /** @type {string | null} why media stopped, if it did */
    this.error = null;
    this.closed = false;
    /** @type {E2eeLink | null} */
    this.e2ee = null;
  }

  /**
   * Connect to Janus (our own session) and subscribe to the roster's feeds; never throws.
   * @param {import("./sfu_publisher.js").SfuInfo} info  url, room, pin
   * @param {FrameKey | null} [frameKey]  E2EE sessions: the key to open frames with
   */
  async start(info, frameKey = null) {
    this.info = info;
    this.state = "connecting";
    let rtcConfig = this.rtcConfig;
    if (frameKey) {
      this.e2ee = keyedLink(frameKey, (peer, state) => this.emit("e2ee", { peer, state }));
      // the older frame-transform API needs a flag on every connection
      if (e2eeSupport() === "encoded-streams") rtcConfig = { ...rtcConfig, ...E2EE_PC_CONFIG };
    }
    // made at once, so layers asked while we connect apply to the first subscriptions
    this.subscriber = new Subscriber({ info, rtcConfig, e2ee: this.e2ee,
      janus: () => this.janus,
      onError: (peer, message) => {
        if (this.error === null) this.emit("error", { peer, code: "sfu-error", message });
      } });
    try {
      const janus = await JanusSession.connect(info.url);
      if (this.closed) {
        janus.close();
        return;
      }
      this.janus = janus;
      janus.onClose = (reason) => this._lost(reason);
    } catch (err) {
      this._fail(`SFU: cannot reach Janus at ${info.url}: ` +
        `${/** @type {any} */ (err)?.message ?? err}`, "sfu-error");
      return;
    }
    this.state = "watching";
    this.setRoster(this.roster);
  }

  /**
   * Who publishes which feed now: peers come, go and re-subscribe to match.
   * @param {Record<string, FeedInfo>} roster  peer_id -> {feed, name}
   */
  setRoster(roster) {
    this.roster = roster;
    for (const [id, peer] of [...this.peers]) {
      if (roster[id]) continue;
      this.peers.delete(id);
      this.subscriber?.drop(peer);
      peer.close();
      this.emit("peer-removed", { peer });
    }
    for (const [id, { feed, name }] of Object.entries(roster)) {
      let peer = this.peers.get(id);
      if (!peer) {
        peer = new RemotePeer(this, id, name ?? "");
        this.peers.set(id, peer);
        this.emit("peer-added", { peer });
      }
      if (name) peer.name = name;
      if (this.error === null) this.subscriber?.sync(peer, feed);
    }
  }

  /**
   * Ask Janus for `layer` ("low" | "mid" | "high") of `id`'s video (Subscriber.setLayer).
   * @param {string} id
   * @param {string} layer
   */
  setLayer(id, layer) {
    return this.subscriber?.setLayer(id, layer);
  }

  /**
   * @param {string} message
   * @param {string} code
   */
  _fail(message, code) {
    if (this.error !== null || this.closed) return;
    this.error = message;
    this.state = "failed";
    this.emit("error", { peer: null, message, code });
  }

  /** @param {string} reason */
  _lost(reason) {
    this._fail(`SFU lost: ${reason}. The others' video stopped; run the cell again once ` +
      "the SFU is back.", "sfu-lost");
    for (const peer of this.peers.values()) {
      this.subscriber?.drop(peer);
      peer.setState("failed");
    }
  }

  /** Stats for every peer: {peer_id: {...}} (see RemotePeer.stats). */
  async stats() {
    return peersStats(this.peers.values());
  }

  describe() {
    return { kind: this.kind, url: this.info?.url ?? null, room: this.info?.room ?? null,
      state: this.state, error: this.error,
      peers: [...this.peers.values()].map((peer) => ({ ...peer.describe(),
        feedId: this.subscriber?.feedOf(peer.id) ?? null })) };
  }

  /** Every subscription and our Janus session go. */
  close() {
    this.closed = true;
    this.state = "closed";
    for (const peer of this.peers.values()) {
      this.subscriber?.drop(peer);
      peer.close();
    }
    this.peers.clear();
    this.subscriber?.close();
    this.e2ee?.close();
    const janus = this.janus;
    this.janus = null;
    if (janus) {
      janus.onClose = null;
      janus.close();
    }
  }
}
