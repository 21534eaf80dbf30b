// @ts-check
/**
 * Kernel -> page media over the widget comm (no WebRTC path to the kernel: SSH tunnel, hub,
 * Colab). The kernel sends `m.down` messages, one per send carrying every slot's encoded
 * frames as binary buffers; here each slot's video is decoded (VideoDecoder VP8, or JPEG with
 * createImageBitmap where WebCodecs is missing: not a secure context) and painted on the
 * slot's canvas, its audio decoded (AudioDecoder Opus) and played through one AudioWorklet.
 * Messages are acked (`m.ctl` `ack` with the highest `seq`, coalesced: the kernel bounds
 * the messages in flight with it, and drops delta frames while the comm is backed up); a decoder error or a slot starting
 * mid-stream asks for a key frame (`m.ctl` `keyframe`). Messages: docs/widget-protocol.md.
 *
 * Audio and video stay in sync by keeping the audio path short: the worklet plays from a
 * ~40 ms buffer (capped at 150 ms: older samples are dropped), and video is painted as soon
 * as it is decoded, both from the same messages.
 */

/** @typedef {import("./link.js").Model} Model */
/** @typedef {{slot: number, kind: "video" | "audio", codec: string, key: boolean, ts: number,
 *   w?: number, h?: number}} FrameHead */

const AUDIO_RATE = 48000;
const AUDIO_TARGET_S = 0.04;
const AUDIO_MAX_S = 0.15;
// Acks are coalesced (every ACK_EVERY messages, or ACK_MS after the first unacked one): each
// page -> kernel message also makes the kernel publish two status messages to the page,
// traffic a slow tunnel would otherwise carry once per frame. The kernel allows 8 unacked.
const ACK_EVERY = 4;
const ACK_MS = 100;

/** What this page can decode: WebCodecs exists only in secure contexts. */
export function decoders() {
  const codecs = typeof VideoDecoder === "function" && typeof EncodedVideoChunk === "function";
  const audio = typeof AudioDecoder === "function" && typeof AudioWorkletNode === "function";
  return { video: codecs ? "vp8" : "jpeg", audio: codecs && audio ? "opus" : null };
}

// The playback worklet: per slot a ring of stereo samples, mixed into the output.
const WORKLET = `
class ZnbPlayback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.slots = new Map();
    this.port.onmessage = ({ data }) => {
      let q = this.slots.get(data.slot);
      if (!q) this.slots.set(data.slot, q = { chunks: [], offset: 0, size: 0, started: false });
      if (data.drop) { this.slots.delete(data.slot); return; }
      q.chunks.push(data.pcm); q.size += data.pcm[0].length;
      while (q.size > ${AUDIO_MAX_S} * sampleRate && q.chunks.length > 1) {
        q.size -= q.chunks[0][0].length - q.offset; q.chunks.shift(); q.offset = 0;
      }
    };
  }
  process(_inputs, outputs) {
    const out = outputs[0];
    for (const q of this.slots.values()) {
      if (!q.started) { if (q.size < ${AUDIO_TARGET_S} * sampleRate) continue; q.started = true; }
      let i = 0;
      while (i < out[0].length && q.chunks.length) {
        const chunk = q.chunks[0], n = Math.min(out[0].length - i, chunk[0].length - q.offset);
        for (let c = 0; c < out.length; c++) {
          const src = chunk[Math.min(c, chunk.length - 1)];
          for (let k = 0; k < n; k++) out[c][i + k] += src[q.offset + k];
        }
        i += n; q.offset += n; q.size -= n;
        if (q.offset >= chunk[0].length) { q.chunks.shift(); q.offset = 0; }
      }
      if (!q.chunks.length) q.started = false; // ran dry: refill to the target first
    }
    return true;
  }
}
registerProcessor("znb-playback", ZnbPlayback);
`;

class SlotVideo {
  /**
   * @param {CommDown} down
   * @param {number} slot
   */
  constructor(down, slot) {
    this.down = down;
    this.slot = slot;
    this.canvas = /** @type {HTMLCanvasElement} */ (document.createElement("canvas"));
    this.canvas.className = "znb-canvas";
    this.canvas.dataset.slot = String(slot);
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d"));
    /** @type {VideoDecoder | null} */
    this.decoder = null;
    this.needKey = true;
    this.painted = 0;
    this.errors = 0;
    this.keyBytes = 0; // the last key frame's size (stats: what a restart costs)
    /** @type {MediaStream | null} the canvas captured (slotStream) */
    this.stream = null;
    /** @type {((info: {canvas: HTMLCanvasElement, ts: number}) => void) | null} tests, benchmark */
    this.onPaint = null;
    /** image bitmaps being made (JPEG): at most one, newest wins */
    this.busy = false;
  }

  /** @param {FrameHead} head @param {DataView | ArrayBuffer} buffer */
  take(head, buffer) {
    if (head.codec === "jpeg") {
      if (this.busy) return; // a newer one comes with the next message
      this.busy = true;
      createImageBitmap(new Blob([/** @type {BlobPart} */ (buffer)], { type: "image/jpeg" })).then((bitmap) => {
        this.paint(bitmap, head.ts);
        bitmap.close();
      }).catch(() => { this.errors += 1; }).finally(() => { this.busy = false; });
      return;
    }
    if (this.needKey && !head.key) return; // the kernel sends one: we asked when we began
    if (!this.decoder || this.decoder.state === "closed") this.decoder = this.newDecoder();
    if (head.key) {
      this.needKey = false;
      this.keyBytes = buffer.byteLength;
    }
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: head.key ? "key" : "delta",
        timestamp: head.ts, data: buffer }));
    } catch {
      this.fail();
    }
  }

  newDecoder() {
    const decoder = new VideoDecoder({
      output: (frame) => {
        this.paint(frame, frame.timestamp);
        frame.close();
      },
      error: () => this.fail(),
    });
    decoder.configure({ codec: "vp8", optimizeForLatency: true });
    return decoder;
  }

  /** @param {VideoFrame | ImageBitmap} image @param {number} ts */
  paint(image, ts) {
    const w = "displayWidth" in image ? image.displayWidth : image.width;
    const h = "displayHeight" in image ? image.displayHeight : image.height;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.drawImage(image, 0, 0);
    this.painted += 1;
    this.onPaint?.({ canvas: this.canvas, ts });
  }

  /** A decoder error: start again from a key frame. */
  fail() {
    this.errors += 1;
    this.needKey = true;
    try {
      this.decoder?.close();
    } catch {
      // already closed by the error
    }
    this.decoder = null;
    this.down.askKey(this.slot);
  }

  close() {
    if (this.decoder?.state !== "closed") this.decoder?.close();
  }
}

class SlotAudio {
  /**
   * @param {CommDown} down
   * @param {number} slot
   */
  constructor(down, slot) {
    this.down = down;
    this.slot = slot;
    this.decoded = 0;
    /** @type {AudioDecoder | null} */
    this.decoder = new AudioDecoder({
      output: (data) => {
        const pcm = [];
        for (let c = 0; c < data.numberOfChannels; c++) {
          const plane = new Float32Array(data.numberOfFrames);
          data.copyTo(plane, { planeIndex: c, format: "f32-planar" });
          pcm.push(plane);
        }
        data.close();
        this.decoded += 1;
        this.down.play(this.slot, pcm);
      },
      error: () => { this.decoder = null; },
    });
    this.decoder?.configure({ codec: "opus", sampleRate: AUDIO_RATE, numberOfChannels: 2 });
  }

  /** @param {FrameHead} head @param {DataView | ArrayBuffer} buffer */
  take(head, buffer) {
    if (!this.decoder || this.decoder.state === "closed") return;
    this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: head.ts, data: buffer }));
  }

  close() {
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.down.play(this.slot, null);
  }
}

export class CommDown extends EventTarget {
  /**
   * @param {Model} model
   * @param {string} view  the view id the kernel stamps on this page's messages
   */
  constructor(model, view) {
    super();
    this.model = model;
    this.view = view;
    this.caps = decoders();
    /** @type {Map<number, SlotVideo>} */
    this.videos = new Map();
    /** @type {Map<number, SlotAudio>} */
    this.audios = new Map();
    this.messages = 0;
    this.lastSeq = 0;
    this.unacked = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.ackTimer = null;
    this.keyRequests = 0;
    /** @type {AudioContext | null} */
    this.audioContext = null;
    /** @type {AudioWorkletNode | null} */
    this.node = null;
    /** @type {{slot: number, pcm: Float32Array[] | null}[]} audio decoded before the worklet loaded */
    this.early = [];
    /** @param {any} msg @param {(DataView | ArrayBuffer)[]} buffers */
    this._onMessage = (msg, buffers) => {
      if (msg?.type === "m.down" && msg.view === this.view) this.receive(msg, buffers ?? []);
    };
    model.on("msg:custom", this._onMessage);
    this.started = false;
  }

  /**
   * Ask the kernel for this view's media over the comm (what this page can decode).
   * `announce` false: the transport switch already told the kernel; only the decoders go.
   */
  start(reason = "", announce = true) {
    this.started = true;
    this.control(announce ? { op: "transport", transport: "comm", reason,
      video: this.caps.video, audio: this.caps.audio }
      : { op: "decoders", video: this.caps.video, audio: this.caps.audio });
    if (this.caps.audio) this.startAudio();
  }

  /** @param {Record<string, any>} fields */
  control(fields) {
    try {
      this.model.send({ type: "m.ctl", view: this.view, ...fields });
    } catch {
      // the comm is gone: the widget is being closed
    }
  }

  startAudio() {
    const ctx = this.audioContext = new AudioContext({ sampleRate: AUDIO_RATE,
      latencyHint: "interactive" });
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    ctx.audioWorklet.addModule(url).then(() => {
      if (this.audioContext !== ctx) return;
      this.node = new AudioWorkletNode(ctx, "znb-playback", { numberOfInputs: 0,
        outputChannelCount: [2] });
      this.node.connect(ctx.destination);
      for (const { slot, pcm } of this.early.splice(0)) this.play(slot, pcm);
    }).catch(() => { this.caps.audio = null; }).finally(() => URL.revokeObjectURL(url));
    // autoplay: a context made without a user gesture starts suspended
    const resume = () => ctx.state === "suspended" && ctx.resume().catch(() => {});
    resume();
    document.addEventListener("pointerdown", resume, { once: true });
  }

  /** @param {number} slot @param {Float32Array[] | null} pcm  (null: forget the slot) */
  play(slot, pcm) {
    if (!this.node) {
      if (this.early.length < 50) this.early.push({ slot, pcm });
      return;
    }
    if (pcm === null) this.node.port.postMessage({ slot, drop: true });
    else this.node.port.postMessage({ slot, pcm }, pcm.map((p) => p.buffer));
  }

  flushAck() {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.unacked = 0;
    this.control({ op: "ack", seq: this.lastSeq });
  }

  /** @param {number} slot */
  askKey(slot) {
    this.keyRequests += 1;
    this.control({ op: "keyframe", slot });
  }

  /**
   * A slot's canvas as a MediaStream (for code that shows a stream in a <video>).
   * @param {number} slot
   * @returns {MediaStream}
   */
  slotStream(slot) {
    const video = this.video(slot);
    video.stream ??= video.canvas.captureStream();
    return video.stream;
  }

  /** m.down arrives through this object's own listener (it needs the buffers). */
  handle() {}

  /** @param {number} slot @returns {HTMLCanvasElement} the canvas that shows `slot` */
  canvas(slot) {
    return this.video(slot).canvas;
  }

  /** @param {number} slot */
  video(slot) {
    let video = this.videos.get(slot);
    if (!video) {
      video = new SlotVideo(this, slot);
      this.videos.set(slot, video);
    }
    return video;
  }

  /** @param {{seq: number, frames: FrameHead[]}} msg @param {(DataView | ArrayBuffer)[]} buffers */
  receive(msg, buffers) {
    this.messages += 1;
    this.lastSeq = Math.max(this.lastSeq, msg.seq);
    this.unacked += 1;
    if (this.unacked >= ACK_EVERY) this.flushAck();
    else this.ackTimer ??= setTimeout(() => this.flushAck(), ACK_MS);
    msg.frames.forEach((head, i) => {
      const buffer = buffers[i];
      if (!buffer) return;
      if (head.kind === "video") {
        this.video(head.slot).take(head, buffer);
      } else if (head.kind === "audio" && this.caps.audio) {
        let audio = this.audios.get(head.slot);
        if (!audio) {
          audio = new SlotAudio(this, head.slot);
          this.audios.set(head.slot, audio);
        }
        audio.take(head, buffer);
      }
    });
  }

  /** Counters for tests and the stats line. */
  stats() {
    /** @type {Record<number, {painted: number, errors: number, keyBytes: number, audio: number}>} */
    const slots = {};
    for (const [slot, v] of this.videos) {
      slots[slot] = { painted: v.painted, errors: v.errors, keyBytes: v.keyBytes, audio: 0 };
    }
    for (const [slot, a] of this.audios) {
      slots[slot] ??= { painted: 0, errors: 0, keyBytes: 0, audio: 0 };
      slots[slot].audio = a.decoded;
    }
    return { messages: this.messages, seq: this.lastSeq, keyRequests: this.keyRequests,
      caps: this.caps, audioState: this.audioContext?.state ?? null, slots };
  }

  /** Stop (the kernel stops sending when told `transport: webrtc` or the view closes). */
  close(reason = "") {
    if (this.started) this.control({ op: "transport", transport: "webrtc", reason });
    this.model.off("msg:custom", this._onMessage);
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    for (const v of this.videos.values()) v.close();
    for (const a of this.audios.values()) a.close();
    this.videos.clear();
    this.audios.clear();
    this.audioContext?.close().catch(() => {});
    this.audioContext = null;
    this.node = null;
  }
}
