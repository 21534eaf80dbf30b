// @ts-check
/**
 * The page's camera and mic to the kernel over the widget's own comm: for when no WebRTC path
 * reaches the kernel (an SSH tunnel, JupyterHub, Colab). WebCodecs encodes the camera (VP8,
 * realtime) and the mic (Opus); every ~20 ms one `m.up` message carries what was encoded, one
 * binary buffer per frame (docs/widget-protocol.md); the kernel decodes them into the same
 * feeds the WebRTC link fills (zero_nb/widgets/comm_up.py).
 *
 * Capture: `MediaStreamTrackProcessor` where the browser has it (Chromium); elsewhere
 * (Firefox, Safari) `new VideoFrame(video)` per `requestVideoFrameCallback` and an AudioWorklet.
 * Flow control: the kernel acks each message once decoded (cumulative `seq`). At most
 * `window` messages are in flight: the window halves when an ack takes longer than
 * TARGET_RTT_MS and grows by one while acks take under half of it (1..MAX_WINDOW), so on a
 * slow tunnel the page sends fewer, fuller messages. That matters because every message the
 * kernel handles costs the kernel->page direction more than the message itself (its ack and
 * two `status` messages, ~1.6 kB): at 50 messages/s that alone outruns a 30 kB/s tunnel.
 * While the window is full and a video frame already waits, past MAX_IN_FLIGHT unacked
 * bytes, or with an unacked message older than MAX_AGE_MS, video frames are dropped before
 * they are encoded and video restarts from a key frame (audio waits in the next message until MAX_AGE_MS) — latency stays
 * bounded and nothing queues. A kernel that asks for a key frame (start, decode error) gets
 * one.
 */

import { WorkletCapture } from "./worklet_capture.js";

const TICK_MS = 20;
export const MAX_IN_FLIGHT = 256 * 1024; // bytes sent and not yet acknowledged
export const MAX_AGE_MS = 600; // an unacked message older than this: backed up
export const LOST_MS = 5000; // unacked this long: taken as lost, the stream restarts
export const MAX_WINDOW = 8; // messages in flight at most
export const TARGET_RTT_MS = 250; // an ack slower than this: the window halves
export const STALL_MS = 3000; // no ack this long: say the kernel is not reading
/** @returns {string} why this page cannot use the comm uplink ("" if it can) */
export function uplinkUnsupported() {
  if (!globalThis.isSecureContext) {
    return "this page is not a secure context (plain http from another host), so the " +
      "browser offers no camera and no WebCodecs: open Jupyter over https, or through an SSH " +
      "tunnel at http://localhost:PORT";
  }
  if (typeof VideoEncoder === "undefined" || typeof AudioEncoder === "undefined") {
    return "this browser has no WebCodecs (VideoEncoder/AudioEncoder): use a current " +
      "Chromium, Firefox or Safari";
  }
  return "";
}

/** @typedef {{kind: "video"|"audio", codec: string, key: boolean, ts: number,
 *   w?: number, h?: number, ch?: number, rate?: number}} FrameMeta */

export class CommUplink {
  /**
   * @param {{send(content: any, callbacks?: any, buffers?: ArrayBuffer[]): void}} model
   * @param {string} view
   */
  constructor(model, view) {
    this.model = model;
    this.view = view;
    /** @type {{meta: FrameMeta, data: ArrayBuffer}[]} encoded, not yet sent */
    this.pending = [];
    this.seq = 0;
    /** @type {Map<number, {bytes: number, at: number}>} sent and not yet acknowledged */
    this.inflight = new Map();
    this.inflightBytes = 0;
    this.window = 4; // messages in flight at most, now
    this.rtt = 0; // the latest ack's round trip, ms
    this.shrunkAt = -Infinity;
    this.lastAck = performance.now();
    this.counts = { framesSent: 0, audioSent: 0, bytesSent: 0, dropped: 0, keyFrames: 0,
      messages: 0, acked: 0, lost: 0 };
    this.needKey = true;
    this.stalled = false;
    /** @type {(() => void) | null} */
    this.onStall = null;
    /** @type {VideoEncoder | null} */
    this.venc = null;
    this.vsize = "";
    /** @type {AudioEncoder | null} */
    this.aenc = null;
    this.asize = "";
    this.videoGen = 0;
    this.audioGen = 0;
    /** @type {(() => void) | null} */
    this.stopVideo = null;
    /** @type {(() => void) | null} */
    this.stopAudio = null;
    /** @type {WorkletCapture | null} the mic where there is no MediaStreamTrackProcessor */
    this.worklet = null;
    this.closed = false;
    this.problem = ""; // what stops the mic or camera here, said on the status line
    /** @type {(() => void) | null} */
    this.onProblem = null;
    this.timer = setInterval(() => this.flush(), TICK_MS);
  }

  /** @param {{audio?: MediaStreamTrack | null, video?: MediaStreamTrack | null}} tracks */
  setTracks(tracks) {
    if (tracks.video !== undefined) this.captureVideo(tracks.video);
    if (tracks.audio !== undefined) this.captureAudio(tracks.audio);
  }

  /** @param {any} msg  the kernel's `m.ctl` for this half (`ack`, `keyframe`) */
  handle(msg) {
    if (msg.op === "ack") {
      const now = performance.now();
      /** @type {number | null} */
      let sentAt = null;
      for (const [seq, sent] of this.inflight) {
        if (seq > msg.seq) break; // a Map iterates in insertion order: seq ascending
        this.inflightBytes -= sent.bytes;
        this.inflight.delete(seq);
        sentAt = sent.at;
      }
      if (sentAt !== null) this.adapt(now - sentAt, now);
      this.counts.acked = msg.seq;
      this.lastAck = now;
      this.stalled = false;
    } else if (msg.op === "keyframe") {
      this.needKey = true;
    }
  }

  /** The window follows the time an ack takes (at most one halving per round trip).
   * @param {number} rtt @param {number} now */
  adapt(rtt, now) {
    this.rtt = rtt;
    if (rtt > TARGET_RTT_MS) {
      if (now - this.shrunkAt > rtt) {
        this.window = Math.max(1, this.window >> 1);
        this.shrunkAt = now;
      }
    } else if (rtt < TARGET_RTT_MS / 2) {
      this.window = Math.min(MAX_WINDOW, this.window + 1);
    }
  }

  /** Video would only queue: drop it before encoding (backed up, or the window is full and
   * a video frame already waits for the next message). */
  videoBlocked() {
    if (this.backedUp()) return true;
    return this.inflight.size >= this.window &&
      this.pending.some((f) => f.meta.kind === "video");
  }

  /** The comm is backed up: drop frames before encoding them. */
  backedUp() {
    const oldest = this.inflight.values().next().value;
    const age = oldest === undefined ? 0 : performance.now() - oldest.at;
    if (age > LOST_MS) {
      // a message (or its ack) that never arrived must not stop the stream for good: forget
      // what is in flight and start again from a key frame, which the kernel can decode
      this.inflight.clear();
      this.inflightBytes = 0;
      this.counts.lost++;
      this.needKey = true;
      return false;
    }
    return this.inflightBytes > MAX_IN_FLIGHT || age > MAX_AGE_MS;
  }

  // -- video --------------------------------------------------------------------------
  /** @param {MediaStreamTrack | null} track */
  captureVideo(track) {
    const gen = ++this.videoGen;
    this.stopVideo?.();
    this.stopVideo = null;
    if (!track || this.closed) return;
    const Processor = /** @type {any} */ (globalThis).MediaStreamTrackProcessor;
    if (Processor) {
      const reader = new Processor({ track, maxBufferSize: 1 }).readable.getReader();
      this.stopVideo = () => { reader.cancel().catch(() => {}); };
      (async () => {
        while (gen === this.videoGen) {
          const { value, done } = await reader.read();
          if (done) break;
          if (gen === this.videoGen) this.encodeVideo(value); else value.close();
        }
      })().catch(() => {});
      return;
    }
    const el = document.createElement("video");
    el.muted = true;
    el.playsInline = true;
    el.srcObject = new MediaStream([track]);
    /** @type {VideoFrameRequestCallback} */
    const step = () => {
      if (gen !== this.videoGen) return;
      if (el.videoWidth > 0) {
        this.encodeVideo(new VideoFrame(el, { timestamp: Math.round(performance.now() * 1000) }));
      }
      el.requestVideoFrameCallback(step);
    };
    el.requestVideoFrameCallback(step);
    el.play().catch(() => {});
    this.stopVideo = () => { el.srcObject = null; };
  }

  /** @param {VideoFrame} frame  encoded now, or dropped (closed either way) */
  encodeVideo(frame) {
    try {
      if (this.videoBlocked() || (this.venc && this.venc.encodeQueueSize > 1)) {
        this.counts.dropped++;
        this.needKey = true; // the kernel cannot decode the deltas after a gap
        return;
      }
      const w = frame.displayWidth & ~1, h = frame.displayHeight & ~1;
      if (!this.venc || this.venc.state === "closed" || this.vsize !== `${w}x${h}`) {
        this.venc?.state !== "closed" && this.venc?.close();
        this.venc = this.videoEncoder(w, h);
        this.vsize = `${w}x${h}`;
        this.needKey = true;
      }
      const keyFrame = this.needKey;
      this.venc.encode(frame, { keyFrame });
      this.needKey = false;
    } finally {
      frame.close();
    }
  }

  /** @param {number} w @param {number} h */
  videoEncoder(w, h) {
    const enc = new VideoEncoder({
      output: (chunk) => {
        const data = new ArrayBuffer(chunk.byteLength);
        chunk.copyTo(data);
        if (chunk.type === "key") this.counts.keyFrames++;
        this.pending.push({ data, meta: { kind: "video", codec: "vp8", key: chunk.type === "key",
          ts: chunk.timestamp, w, h } });
      },
      error: () => { this.needKey = true; this.vsize = ""; }, // a new encoder next frame
    });
    // about 0.1 bit per pixel at 30 fps: 0.9 Mbit/s at 640x480, as WebRTC starts
    enc.configure({ codec: "vp8", width: w, height: h, framerate: 30, latencyMode: "realtime",
      bitrate: Math.max(200_000, Math.round(w * h * 3)) });
    return enc;
  }

  // -- audio --------------------------------------------------------------------------
  /** @param {MediaStreamTrack | null} track */
  captureAudio(track) {
    const gen = ++this.audioGen;
    this.stopAudio?.();
    this.stopAudio = null;
    if (!track || this.closed) return;
    const Processor = /** @type {any} */ (globalThis).MediaStreamTrackProcessor;
    if (Processor) {
      const reader = new Processor({ track }).readable.getReader();
      this.stopAudio = () => { reader.cancel().catch(() => {}); };
      (async () => {
        while (gen === this.audioGen) {
          const { value, done } = await reader.read();
          if (done) break;
          if (gen === this.audioGen) this.encodeAudio(value); else value.close();
        }
      })().catch(() => {});
      return;
    }
    this.worklet ??= new WorkletCapture((text) => this.setProblem(text));
    this.worklet.start(track, (data) => {
      if (gen === this.audioGen) this.encodeAudio(data); else data.close();
    }).then((stop) => {
      if (gen === this.audioGen) this.stopAudio = stop; else stop();
    }).catch((e) => {
      this.setProblem(`the microphone cannot reach the kernel: ${e?.message ?? e}`);
    });
  }

  /** What stops the mic or camera here ("" when nothing), for the status line.
   * @param {string} text */
  setProblem(text) {
    if (text === this.problem) return;
    this.problem = text;
    this.onProblem?.();
  }

  /** @param {AudioData} data  encoded now, or dropped (closed either way) */
  encodeAudio(data) {
    try {
      if (this.backedUp()) return;
      const size = `${data.sampleRate}/${data.numberOfChannels}`;
      if (!this.aenc || this.aenc.state === "closed" || this.asize !== size) {
        this.aenc?.state !== "closed" && this.aenc?.close();
        this.aenc = this.audioEncoder(data.sampleRate, Math.min(2, data.numberOfChannels));
        this.asize = size;
      }
      this.aenc.encode(data);
    } finally {
      data.close();
    }
  }

  /** @param {number} rate @param {number} channels */
  audioEncoder(rate, channels) {
    const enc = new AudioEncoder({
      output: (chunk) => {
        const data = new ArrayBuffer(chunk.byteLength);
        chunk.copyTo(data);
        this.pending.push({ data, meta: { kind: "audio", codec: "opus", key: true,
          ts: chunk.timestamp, ch: channels, rate } });
      },
      error: () => { this.asize = ""; },
    });
    enc.configure({ codec: "opus", sampleRate: rate, numberOfChannels: channels,
      bitrate: 32_000 });
    return enc;
  }

  // -- the comm -----------------------------------------------------------------------
  /** Send what was encoded since the last tick as one `m.up` (at most one per TICK_MS). */
  flush() {
    const now = performance.now();
    if (!this.stalled && this.inflight.size > 0 && now - this.lastAck > STALL_MS) {
      this.stalled = true;
      this.onStall?.();
    }
    if (this.pending.length === 0 || this.inflight.size >= this.window) return;
    const batch = this.pending;
    this.pending = [];
    const bytes = batch.reduce((n, f) => n + f.data.byteLength, 0);
    const seq = ++this.seq;
    try {
      this.model.send({ type: "m.up", view: this.view, seq, frames: batch.map((f) => f.meta) },
        undefined, batch.map((f) => f.data));
    } catch {
      return; // the comm is gone: the view closes us soon
    }
    this.inflight.set(seq, { bytes, at: now });
    this.inflightBytes += bytes;
    this.counts.messages++;
    this.counts.bytesSent += bytes;
    for (const f of batch) {
      if (f.meta.kind === "video") this.counts.framesSent++; else this.counts.audioSent++;
    }
  }

  stats() {
    return { ...this.counts, inflightBytes: this.inflightBytes, stalled: this.stalled,
      window: this.window, rtt: Math.round(this.rtt) };
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
    this.videoGen++;
    this.audioGen++;
    this.stopVideo?.();
    this.stopAudio?.();
    for (const enc of [this.venc, this.aenc]) {
      if (enc && enc.state !== "closed") enc.close();
    }
    this.worklet?.close();
  }
}
