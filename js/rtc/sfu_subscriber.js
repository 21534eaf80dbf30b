// @ts-check
/**
 * Receiving feeds from a Janus VideoRoom: each feed on its own recvonly RTCPeerConnection
 * (Janus offers, we answer), so a feed coming or going never renegotiates the others, and
 * the simulcast layer of each feed. One piece of code for the page's Sfu topology (sfu.js,
 * which also publishes through the same Janus session) and the Conference widget's
 * receive-only viewer (sfu_viewer.js) — the browser twin of zero_nb/sfu/kernel.py's
 * subscriptions.
 */

import { gathered } from "./gather.js";
import { JANUS_CODES, JanusError } from "./janus.js";
import { SFU_TIMING, sleep } from "./sfu_publisher.js";

/** Simulcast layers as asked for: Janus substreams 0, 1, 2 (read back with layerName). */
export const LAYERS = /** @type {const} */ (["low", "mid", "high"]);

/**
 * Janus' substream index in the user's words, whatever the publisher sends (the kernel's
 * sfu/kernel.py layer_name): 0 "low", the publisher's top `top` (learnt when the top was
 * asked for) "high", one in between "mid" — a 2-layer sender reads "low" and "high".
 * @param {number} substream
 * @param {number | null} top
 * @returns {Layer}
 */
export function layerName(substream, top) {
  if (substream === 0) return "low";
  if (substream >= LAYERS.length - 1 || (top !== null && substream >= top)) return "high";
  return "mid";
}
/** Janus switches on the target layer's next key frame and asks the publisher for one at most
 * once a second: configure again (a fresh PLI) while no switch shows, this often. */
export const LAYER_TIMING = { nudges: 4, nudge: 1200 };

/**
 * @typedef {"low" | "mid" | "high"} Layer
 * @typedef {{feedId: number, handle: import("./janus.js").JanusHandle | null,
 *   videoMid: string | null, switched: (() => void) | null, top: number | null}} Subscription
 *   top: the publisher's top substream, once Janus showed it
 * @typedef {{info: import("./sfu_publisher.js").SfuInfo, rtcConfig: RTCConfiguration,
 *   janus: () => import("./janus.js").JanusSession | null,
 *   privateId?: () => number | null, e2ee?: import("./e2ee.js").E2eeLink | null,
 *   onError: (peer: import("./peer.js").RemotePeer, message: string) => void}} SubscriberOptions
 *   janus: the session to subscribe through (null: none yet) · privateId: our publisher's
 *   private_id, if we publish · onError: a subscription failed (the peer is "failed" then)
 */

/** @param {string} layer */
function checkLayer(layer) {
  if (!LAYERS.includes(/** @type {Layer} */ (layer))) {
    throw new RangeError(`layer ${JSON.stringify(layer)}: use one of ${LAYERS.join(", ")}`);
  }
  return /** @type {Layer} */ (layer);
}

export class Subscriber {
  /** @param {SubscriberOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {Map<string, Subscription>} peer_id -> the feed we receive for it */
    this.subscriptions = new Map();
    /** @type {Map<string, Layer>} peer_id -> the layer asked for (kept across re-subscribes) */
    this.layers = new Map();
  }

  /** @param {string} id @returns {number | null} the feed we receive for `id` */
  feedOf(id) {
    return this.subscriptions.get(id)?.feedId ?? null;
  }

  /**
   * Receive `feedId` for `peer` (nothing to do if we already do); a failure makes the peer
   * "failed" and goes to `onError`.
   * @param {import("./peer.js").RemotePeer} peer
   * @param {number} feedId
   */
  sync(peer, feedId) {
    if (this.feedOf(peer.id) === feedId || !this.options.janus()) return;
    this.drop(peer);
    /** @type {Subscription} */
    const sub = { feedId, handle: null, videoMid: null, switched: null, top: null };
    this.subscriptions.set(peer.id, sub);
    this._subscribe(peer, sub).catch((err) => {
      if (peer.closed || this.subscriptions.get(peer.id) !== sub) return;
      this.drop(peer);
      peer.setState("failed");
      this.options.onError(peer, `SFU: cannot receive ${peer.name || peer.id}: ` +
        `${err?.message ?? err}`);
    });
  }

  /** @param {import("./peer.js").RemotePeer} peer  drop its subscription, keep the peer */
  drop(peer) {
    peer.dropPc();
    const sub = this.subscriptions.get(peer.id);
    this.subscriptions.delete(peer.id);
    sub?.handle?.detach();
  }

  /**
   * One recvonly connection for `peer`'s feed: Janus offers, we answer.
   * @param {import("./peer.js").RemotePeer} peer
   * @param {Subscription} sub
   */
  async _subscribe(peer, sub) {
    const { janus: session, rtcConfig, e2ee } = this.options;
    const janus = session();
    if (!janus) return;
    const current = () => !peer.closed && this.subscriptions.get(peer.id) === sub &&
      session() === janus;
    const handle = await janus.attach();
    if (!current()) {
      handle.detach();
      return;
    }
    sub.handle = handle;
    handle.onEvent = (data) => this._onEvent(peer, sub, data);
    const { data, jsep: offer } = await this._join(handle, peer.id, sub.feedId, current);
    if (!current()) return;
    sub.videoMid = (data.streams ?? []).find((/** @type {any} */ s) => s.type === "video")
      ?.mid ?? null;
    const pc = peer.usePc(new RTCPeerConnection(rtcConfig));
    peer.setState("connecting");
    await pc.setRemoteDescription(offer);
    const stream = new MediaStream();
    for (const transceiver of pc.getTransceivers()) {
      transceiver.direction = "recvonly";
      stream.addTrack(transceiver.receiver.track);
    }
    e2ee?.bind(pc, peer); // E2EE hook: open what we receive
    peer.setStream(stream);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc, SFU_TIMING.gathering); // our candidates go inside the answer
    if (!current() || peer.pc !== pc) return;
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const answer = { type: local.type, sdp: local.sdp, trickle: false };
    await handle.message({ request: "start" }, e2ee ? e2ee.mark(answer) : answer);
  }

  /**
   * Join `feedId` as a subscriber (retrying while its publisher is not up yet), at the layer
   * asked for `id` if any: Janus' event and offer.
   * @param {import("./janus.js").JanusHandle} handle
   * @param {string} id
   * @param {number} feedId
   * @param {() => boolean} current
   */
  async _join(handle, id, feedId, current) {
    const { info, privateId } = this.options;
    /** @type {Record<string, any>} */
    const stream = { feed: feedId };
    const layer = this.layers.get(id);
    if (layer) stream.substream = LAYERS.indexOf(layer);
    /** @type {Record<string, any>} */
    const body = { request: "join", ptype: "subscriber", room: info.room, streams: [stream] };
    if (info.pin) body.pin = info.pin;
    const ours = privateId?.() ?? null;
    if (ours !== null) body.private_id = ours;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const reply = await handle.message(body);
        if (!reply.jsep) throw new JanusError("Janus sent no offer for the subscription");
        return reply;
      } catch (err) {
        const code = /** @type {any} */ (err)?.code;
        if (code !== JANUS_CODES.NO_SUCH_FEED || attempt >= SFU_TIMING.feedRetries - 1 ||
            !current()) throw err;
      }
      await sleep(SFU_TIMING.retry);
    }
  }

  /**
   * Janus' events on a subscription: `substream` says which layer it sends now.
   * @param {import("./peer.js").RemotePeer} peer
   * @param {Subscription} sub
   * @param {Record<string, any>} data
   */
  _onEvent(peer, sub, data) {
    const substream = data.substream;
    if (typeof substream !== "number" || !LAYERS[substream]) return;
    // asked for the top (or nothing: Janus' default): Janus sends the highest it has
    if ((this.layers.get(peer.id) ?? "high") === "high") {
      sub.top = Math.max(sub.top ?? 0, substream);
    }
    peer.layer = layerName(substream, sub.top);
    sub.switched?.();
  }

  /**
   * Ask Janus for `layer` of `id`'s video, now or when subscribed. Janus switches only on a
   * key frame of that layer: configure again until its `substream` event shows the switch.
   * @param {string} id
   * @param {string} layer  "low" | "mid" | "high"
   */
  async setLayer(id, layer) {
    const target = checkLayer(layer);
    this.layers.set(id, target);
    const sub = this.subscriptions.get(id);
    const live = () => this.subscriptions.get(id) === sub && this.layers.get(id) === target;
    for (let i = 0; i < LAYER_TIMING.nudges && sub?.handle && sub.videoMid !== null && live();
      i++) {
      const moved = new Promise((resolve) => {
        sub.switched = () => resolve(true);
        setTimeout(() => resolve(false), LAYER_TIMING.nudge);
      });
      try {
        await sub.handle.message({ request: "configure",
          streams: [{ mid: sub.videoMid, substream: LAYERS.indexOf(target) }] });
      } catch {
        return; // the subscription went away (a new one joins at this layer)
      }
      if (await moved) return;
    }
  }

  /** Every subscription goes (the peers stay). */
  close() {
    for (const sub of this.subscriptions.values()) sub.handle?.detach();
    this.subscriptions.clear();
  }
}
