// @ts-check
/**
 * The page side of the local link: one RTCPeerConnection to the kernel engine, signaled over
 * the widget comm. The page offers a fixed layout so nothing is ever renegotiated: m-line 0
 * audio (mic), 1 video (camera/screen), then `slots` pairs of video + audio that only the
 * kernel sends on. The kernel answers (complete SDP) and says which slot shows whom.
 *
 * `globalThis.zeroNbWidgets.links` holds every live link (tests read their stats), `.viewers`
 * every Conference's receive-only SFU viewer (js/rtc/sfu_viewer.js), `.conferences` every
 * Conference view (its `down`: the tiles' media over the comm, js/widgets/comm_down.js).
 * Messages: docs/widget-protocol.md.
 */

import { gathered } from "../rtc/gather.js";

/** @typedef {{ get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void, send(content: any): void,
 *   on(event: string, cb: (...args: any[]) => void): void,
 *   off(event: string, cb: (...args: any[]) => void): void }} Model */

/** @typedef {{ key: string, name?: string, peer_id?: string }} SlotInfo */

/**
 * @returns {{links: Set<KernelLink>,
 *   viewers: Set<import("../rtc/sfu_viewer.js").SfuViewer>, conferences: Set<any>}}
 */
export function registry() {
  const g = /** @type {any} */ (globalThis);
  g.zeroNbWidgets ??= { links: new Set() };
  g.zeroNbWidgets.viewers ??= new Set();
  g.zeroNbWidgets.conferences ??= new Set(); // each Conference view (tests, the switch)
  return g.zeroNbWidgets;
}

export class KernelLink extends EventTarget {
  /**
   * @param {Model} model
   * @param {{ widget: string, slots?: number }} options
   */
  constructor(model, options) {
    super();
    this.model = model;
    this.widget = options.widget;
    this.nslots = options.slots ?? model.get("slots") ?? 0;
    this.view = Math.random().toString(36).slice(2, 10);
    /** @type {(SlotInfo | null)[]} */
    this.slots = [];
    this.state = "new";
    this.error = "";
    this.pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    const pc = this.pc;
    this.mic = pc.addTransceiver("audio", { direction: "sendrecv" });
    this.camera = pc.addTransceiver("video", { direction: "sendrecv" });
    /** @type {{video: RTCRtpTransceiver, audio: RTCRtpTransceiver, stream: MediaStream}[]} */
    this.slotTransceivers = [];
    for (let i = 0; i < this.nslots; i++) {
      const video = pc.addTransceiver("video", { direction: "recvonly" });
      const audio = pc.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream([video.receiver.track, audio.receiver.track]);
      this.slotTransceivers.push({ video, audio, stream });
    }
    pc.addEventListener("connectionstatechange", () => {
      this.state = pc.connectionState;
      this.dispatchEvent(new Event("state"));
    });
    /** @param {any} msg */
    this._onMessage = (msg) => this._handle(msg);
    model.on("msg:custom", this._onMessage);
    registry().links.add(this);
  }

  /**
   * Offer with the page's tracks (either may be null) once ICE gathering is complete.
   * @param {{audio?: MediaStreamTrack | null, video?: MediaStreamTrack | null}} tracks
   */
  async start(tracks = {}) {
    await this.setTracks(tracks);
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc, 5000); // the kernel takes no trickled candidates
    this.model.send({ type: "offer", view: this.view, sdp: this.pc.localDescription?.sdp });
  }

  /** @param {{audio?: MediaStreamTrack | null, video?: MediaStreamTrack | null}} tracks */
  async setTracks(tracks) {
    if (tracks.audio !== undefined) await this.mic.sender.replaceTrack(tracks.audio);
    if (tracks.video !== undefined) await this.camera.sender.replaceTrack(tracks.video);
  }

  /** @param {any} msg */
  async _handle(msg) {
    if (!msg || msg.view !== this.view) return;
    if (msg.type === "answer") {
      await this.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } else if (msg.type === "slots") {
      this.slots = msg.slots;
      this.dispatchEvent(new Event("slots"));
    } else if (msg.type === "error") {
      this.error = msg.message;
      this.dispatchEvent(new Event("error"));
    } else {
      this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    }
  }

  /** @param {number} index @returns {MediaStream | null} */
  slotStream(index) {
    return this.slotTransceivers[index]?.stream ?? null;
  }

  /** @param {string} key @returns {number} the slot showing `key`, or -1 */
  slotOf(key) {
    return this.slots.findIndex((s) => s?.key === key);
  }

  /** Inbound and outbound counters of this link (tests and the stats line). */
  async stats() {
    const out = { state: this.state, framesDecoded: 0, framesSent: 0, audioSamples: 0,
      bytesReceived: 0, bytesSent: 0, widget: this.widget };
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded += s.framesDecoded ?? 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioSamples += s.totalSamplesReceived ?? 0;
      if (s.type === "inbound-rtp") out.bytesReceived += s.bytesReceived ?? 0;
      if (s.type === "outbound-rtp" && s.kind === "video") out.framesSent += s.framesSent ?? 0;
      if (s.type === "outbound-rtp") out.bytesSent += s.bytesSent ?? 0;
    });
    return out;
  }

  close() {
    registry().links.delete(this);
    this.model.off("msg:custom", this._onMessage);
    try {
      this.model.send({ type: "close", view: this.view });
    } catch {
      // the comm is already gone
    }
    this.pc.close();
    this.state = "closed";
  }
}
