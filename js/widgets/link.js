// @ts-check
/**
 * The page side of the local link: one RTCPeerConnection to the kernel engine, signaled over
 * the widget comm. The page offers a fixed layout so nothing is ever renegotiated: m-line 0
 * audio (mic), 1 video (camera/screen), then `slots` pairs of video + audio that only the
 * kernel sends on. The kernel answers (complete SDP) and says which slot shows whom.
 *
 * The transport (`transport_mode` trait): "webrtc"; "comm" — the media as encoded frames on
 * the widget's own comm (page -> kernel: js/widgets/comm_up.js; kernel -> page:
 * js/widgets/comm_down.js, which the Conference starts on this link's `transport` event),
 * which works wherever Jupyter works (SSH tunnel, JupyterHub); or "auto" — WebRTC first, the
 * comm when ICE has not connected within `webrtc_timeout` seconds or fails later. On the comm
 * the slots stay (the kernel keeps this view's link without its peer connection).
 *
 * `globalThis.zeroNbWidgets.links` holds every live link (tests read their stats), `.viewers`
 * every Conference's receive-only SFU viewer (js/rtc/sfu_viewer.js), `.conferences` every
 * Conference view (its `down`: the tiles' media over the comm, js/widgets/comm_down.js).
 * Messages: docs/widget-protocol.md.
 */

import { gathered } from "../rtc/gather.js";
import { decoders } from "./comm_down.js";
import { CommUplink, uplinkUnsupported } from "./comm_up.js";

/** @typedef {{ get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void, send(content: any, callbacks?: any, buffers?: ArrayBuffer[]): void,
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
   * @param {{ widget: string, slots?: number, mode?: string }} options  `mode` overrides the
   *   `transport_mode` trait (a view that moved to the comm relinks on the comm)
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
    /** @type {string} what the kernel asked for: auto, webrtc or comm */
    this.mode = options.mode || model.get("transport_mode") || "webrtc";
    /** @type {string} in use: "webrtc" or "comm" ("" before start) */
    this.transport = "";
    this.reason = "";
    /** @type {string} why the camera/mic cannot go over the comm (insecure page, ...) */
    this.commProblem = "";
    /** @type {CommUplink | null} */
    this.uplink = null;
    /** @type {{audio: MediaStreamTrack | null, video: MediaStreamTrack | null}} */
    this.tracks = { audio: null, video: null };
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.fallbackTimer = undefined;
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
      if (this.transport === "comm") return;
      this.state = pc.connectionState;
      if (this.mode === "auto" && this.state === "failed") {
        this.useComm("auto: WebRTC to the kernel failed");
      }
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
    if (this.mode === "comm") {
      this.useComm("transport: comm (configured)");
      return;
    }
    this.setTransport("webrtc", this.mode === "auto" ? "auto: WebRTC first"
      : "transport: webrtc (configured)");
    if (this.mode === "auto") {
      const seconds = Number(this.model.get("webrtc_timeout") ?? 5);
      this.fallbackTimer = setTimeout(() => {
        if (this.state !== "connected") {
          this.useComm(`auto: WebRTC did not connect within ${seconds} s (no direct path ` +
            "from this browser to the kernel, as through an SSH tunnel or a hub)");
        }
      }, seconds * 1000);
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc, 5000); // the kernel takes no trickled candidates
    if (this.transport !== "webrtc") return; // moved to the comm while gathering
    this.model.send({ type: "offer", view: this.view, sdp: this.pc.localDescription?.sdp });
  }

  /** @param {{audio?: MediaStreamTrack | null, video?: MediaStreamTrack | null}} tracks */
  async setTracks(tracks) {
    if (tracks.audio !== undefined) this.tracks.audio = tracks.audio;
    if (tracks.video !== undefined) this.tracks.video = tracks.video;
    if (this.transport === "comm") {
      this.uplink?.setTracks(tracks);
      return;
    }
    if (tracks.audio !== undefined) await this.mic.sender.replaceTrack(tracks.audio);
    if (tracks.video !== undefined) await this.camera.sender.replaceTrack(tracks.video);
  }

  /** @param {string} transport @param {string} reason  tell the kernel (and the views) */
  setTransport(transport, reason) {
    this.transport = transport;
    this.reason = reason;
    // with what this page decodes, so the kernel starts the tiles' half right the first time
    const caps = transport === "comm" ? decoders() : {};
    this.model.send({ type: "m.ctl", view: this.view, op: "transport", transport, reason,
      ...caps });
    this.dispatchEvent(new Event("transport"));
  }

  /**
   * Move to the comm: close the peer connection (the kernel keeps this view's link and its
   * slots), send the camera and mic with WebCodecs, receive the slots over the comm.
   * @param {string} reason
   */
  useComm(reason) {
    if (this.transport === "comm") return;
    clearTimeout(this.fallbackTimer);
    this.pc.close();
    this.state = "connected";
    this.setTransport("comm", reason);
    this.commProblem = uplinkUnsupported();
    const sending = this.tracks.audio || this.tracks.video;
    if (!this.commProblem) {
      const uplink = this.uplink = new CommUplink(this.model, this.view);
      uplink.onStall = () => this.dispatchEvent(new Event("state"));
      uplink.onProblem = () => this.dispatchEvent(new Event("state"));
      uplink.setTracks(this.tracks);
    } else if (sending || this.model.get("capture")) {
      this.error = `camera and microphone off: ${this.commProblem}`;
    }
    this.dispatchEvent(new Event("state"));
  }

  /** The status line's text about the link ("" when all is well). */
  statusText() {
    if (this.error) return this.error;
    if (this.uplink?.problem) return this.uplink.problem;
    if (this.uplink?.stalled) {
      return "the kernel has not read the camera for 3 s: a cell is busy and this front end " +
        "passes widget messages only between cells (JupyterLab >= 4.4 with ipykernel >= 7 " +
        "gives each widget its own thread); the camera resumes when the cell ends";
    }
    return this.state === "connected" ? "" : `kernel link: ${this.state}`;
  }

  /** @param {any} msg */
  async _handle(msg) {
    if (!msg || msg.view !== this.view) return;
    if (msg.type === "m.ctl" && msg.dir === "up") {
      this.uplink?.handle(msg);
    } else if (msg.type === "m.down" || msg.type === "m.ctl") {
      // the tiles' half (js/widgets/comm_down.js) listens for its own
    } else if (msg.type === "answer") {
      if (this.transport !== "webrtc") return; // too late: on the comm already
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
    if (this.transport === "comm") return null; // the Conference paints the comm's canvases
    return this.slotTransceivers[index]?.stream ?? null;
  }

  /** @param {string} key @returns {number} the slot showing `key`, or -1 */
  slotOf(key) {
    return this.slots.findIndex((s) => s?.key === key);
  }

  /** Inbound and outbound counters of this link (tests and the stats line). */
  async stats() {
    /** @type {Record<string, any>} */
    const out = { state: this.state, framesDecoded: 0, framesSent: 0, audioSamples: 0,
      bytesReceived: 0, bytesSent: 0, widget: this.widget, transport: this.transport,
      reason: this.reason, up: null, down: null };
    if (this.transport === "comm") {
      out.up = this.uplink?.stats() ?? null;
      out.framesSent = out.up?.framesSent ?? 0;
      out.bytesSent = out.up?.bytesSent ?? 0;
      return out; // the tiles: the Conference's `down.stats()`
    }
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
    clearTimeout(this.fallbackTimer);
    this.uplink?.close();
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
