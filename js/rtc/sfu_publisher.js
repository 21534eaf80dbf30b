// @ts-check
/**
 * Our side of a Janus VideoRoom: one Janus session, joined as a publisher whose `display` is
 * our zero_nb peer_id, sending camera + microphone on one sendonly RTCPeerConnection (all
 * candidates inside the SDP). The Sfu topology (sfu.js) subscribes through the same session.
 */

import { gathered } from "./gather.js";
import { JANUS_CODES, JanusError, JanusSession } from "./janus.js";
import { closePc, KINDS, replaceKindTrack } from "./peer.js";
import { layerPlan, TOP_LAYER_BITRATE } from "./send_quality.js";

export const SFU_TIMING = {
  roomWait: 10000, // the server creates the Janus room in the background: wait that long
  feedRetries: 6, // "No such feed": the publisher is not up yet
  retry: 500,
  gathering: 3000, // longest wait for ICE gathering to complete
};

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{kind: string, url: string, room: number, pin?: string, simulcast?: boolean,
 *   bitrate?: number | null}} SfuInfo
 * @typedef {{onEvent: (data: Record<string, any>) => void,
 *   onHangup: (reason: string) => void, onClose: (reason: string) => void,
 *   e2ee?: import("./e2ee.js").E2eeLink | null}} PublisherHooks
 */

/**
 * Simulcast layers for a camera track, highest first (see {@link layerPlan}): 3 at 720p and
 * up, 2 below (Chromium sends no more at VGA), none under 360 lines. The page's resolution
 * and data-saver caps then adjust them live (send_quality.js).
 * @param {MediaStreamTrack} track
 * @param {number | null | undefined} cap  the room's bitrate cap (bits/s), if any
 * @returns {RTCRtpEncodingParameters[] | undefined}
 */
export function simulcastLayers(track, cap) {
  const height = track.getSettings().height ?? 480;
  if (height < 360) return undefined;
  return layerPlan(height >= 720 ? 3 : 2, Math.min(cap ?? TOP_LAYER_BITRATE, TOP_LAYER_BITRATE));
}

export class Publisher {
  /**
   * @param {SfuInfo} info
   * @param {RTCConfiguration} rtcConfig
   * @param {PublisherHooks} hooks
   */
  constructor(info, rtcConfig, hooks) {
    this.info = info;
    this.rtcConfig = rtcConfig;
    this.hooks = hooks;
    /** @type {JanusSession | null} */
    this.janus = null;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {number | null} */
    this.publisherId = null;
    /** @type {number | null} */
    this.privateId = null;
    this.closed = false;
  }

  /**
   * Connect, join the room (the publishers already there go to `hooks.onEvent`), publish.
   * @param {string} selfId
   * @param {import("./peer.js").LocalTracks} tracks
   * @returns {Promise<boolean>} false if closed meanwhile
   */
  async start(selfId, tracks) {
    const janus = await JanusSession.connect(this.info.url);
    if (this.closed) {
      janus.close();
      return false;
    }
    this.janus = janus;
    janus.onClose = (reason) => this.hooks.onClose(reason);
    const handle = await janus.attach();
    handle.onEvent = (data) => this.hooks.onEvent(data);
    handle.onJanus = (msg) => {
      if (msg.janus === "hangup" && !this.closed) this.hooks.onHangup(msg.reason ?? "?");
    };
    const joined = await this._join(handle, selfId);
    if (this.closed) return false;
    this.publisherId = joined.id ?? null;
    this.privateId = joined.private_id ?? null;
    // subscribe to those already here while we publish
    this.hooks.onEvent({ publishers: joined.publishers ?? [] });
    await this._publish(handle, tracks);
    return !this.closed;
  }

  /**
   * @param {import("./janus.js").JanusHandle} handle
   * @param {string} selfId
   */
  async _join(handle, selfId) {
    const deadline = Date.now() + SFU_TIMING.roomWait;
    /** @type {Record<string, any>} */
    const body = { request: "join", ptype: "publisher", room: this.info.room, display: selfId };
    if (this.info.pin) body.pin = this.info.pin;
    for (;;) {
      try {
        return (await handle.message(body)).data;
      } catch (err) {
        const code = /** @type {any} */ (err)?.code;
        if (code !== JANUS_CODES.NO_SUCH_ROOM || Date.now() > deadline || this.closed) throw err;
      }
      await sleep(100);
    }
  }

  /**
   * @param {import("./janus.js").JanusHandle} handle
   * @param {import("./peer.js").LocalTracks} tracks
   */
  async _publish(handle, tracks) {
    const pc = new RTCPeerConnection(this.rtcConfig);
    this.pc = pc;
    for (const kind of KINDS) {
      const track = tracks[kind];
      const stream = new MediaStream(track ? [track] : []);
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: "sendonly", streams: [stream] };
      const layers = kind === "video" && track && this.info.simulcast !== false
        ? simulcastLayers(track, this.info.bitrate) : undefined;
      if (layers) init.sendEncodings = layers;
      pc.addTransceiver(track ?? kind, init);
    }
    this.hooks.e2ee?.bind(pc, null); // E2EE hook: seal what we publish
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, SFU_TIMING.gathering);
    if (this.closed) return;
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    const offer = { type: local.type, sdp: local.sdp, trickle: false };
    const { data, jsep } = await handle.message({ request: "publish" },
      this.hooks.e2ee ? this.hooks.e2ee.mark(offer) : offer); // E2EE hook: JSEP e2ee: true
    if (!jsep) throw new JanusError(`Janus answered 'publish' without an SDP: ` +
      JSON.stringify(data));
    if (this.closed) return;
    await pc.setRemoteDescription(jsep);
  }

  /**
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    if (this.pc) await replaceKindTrack(this.pc, kind, track);
  }

  /** What we publish to Janus: {state, sent: {audio, video}} (bytes, packets, frames). */
  async stats() {
    const pc = this.pc;
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

  /** Destroy the Janus session: Janus unpublishes us for the others. */
  close() {
    this.closed = true;
    closePc(this.pc);
    this.pc = null;
    const janus = this.janus;
    this.janus = null;
    if (janus) {
      janus.onClose = null;
      janus.close();
    }
  }
}
