// @ts-check
/**
 * The microphone as 20 ms `AudioData` blocks through an AudioWorklet: the capture path where
 * the browser has no `MediaStreamTrackProcessor` (Firefox, Safari), for the comm uplink
 * (comm_up.js). A context the browser holds (its autoplay rule, or no audio output device:
 * Firefox then never runs one) is said through `onProblem`, never silently.
 */

const AUDIO_RATE = 48000;
const AUDIO_BLOCK = 960; // 20 ms: one Opus frame
const START_MS = 3000; // after a click or key: a context still held this long will not run

// one block of the mic per render quantum, to the main thread
const WORKLET = `registerProcessor("znb-capture", class extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.port.postMessage(ch.slice(0));
    return true;
  }
});`;

export class WorkletCapture {
  /** @param {(text: string) => void} onProblem  what holds the mic ("" once it runs) */
  constructor(onProblem) {
    this.onProblem = onProblem;
    /** @type {AudioContext | null} */
    this.context = null;
    /** @type {Promise<void> | null} */
    this.ready = null;
    this.closed = false;
  }

  /**
   * Capture `track` into `onAudio` (it owns each AudioData); resolves to the stop function.
   * @param {MediaStreamTrack} track @param {(data: AudioData) => void} onAudio
   * @returns {Promise<() => void>}
   */
  async start(track, onAudio) {
    const ctx = this.context ??= new AudioContext({ sampleRate: AUDIO_RATE });
    if (!this.ready) {
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
      this.ready = ctx.audioWorklet.addModule(url);
    }
    await this.ready;
    if (ctx.state === "suspended") this.waitForStart(ctx);
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const node = new AudioWorkletNode(ctx, "znb-capture", { numberOfInputs: 1,
      numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit" });
    const sink = ctx.createGain();
    sink.gain.value = 0; // processed only when it reaches the destination: silently
    source.connect(node).connect(sink).connect(ctx.destination);
    let block = new Float32Array(AUDIO_BLOCK), filled = 0;
    node.port.onmessage = (/** @type {MessageEvent<Float32Array>} */ e) => {
      const input = e.data;
      let at = 0;
      while (at < input.length) {
        const n = Math.min(input.length - at, AUDIO_BLOCK - filled);
        block.set(input.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === AUDIO_BLOCK) {
          onAudio(new AudioData({ format: "f32-planar", sampleRate: ctx.sampleRate,
            numberOfFrames: AUDIO_BLOCK, numberOfChannels: 1, data: block,
            timestamp: Math.round(performance.now() * 1000) }));
          block = new Float32Array(AUDIO_BLOCK);
          filled = 0;
        }
      }
    };
    return () => {
      node.port.onmessage = null;
      source.disconnect();
      node.disconnect();
      sink.disconnect();
    };
  }

  /** A page without a user gesture yet starts its context suspended: the first click or key
   * resumes it; say so meanwhile, and say so if it still does not run after one.
   * @param {AudioContext} ctx */
  waitForStart(ctx) {
    const resume = () => {
      ctx.resume().catch(() => {});
      setTimeout(() => {
        if (ctx.state === "suspended" && !this.closed) {
          this.onProblem("the browser could not start audio processing (no audio output " +
            "device?), so the microphone is not sent");
        }
      }, START_MS);
    };
    document.addEventListener("pointerdown", resume, { once: true });
    document.addEventListener("keydown", resume, { once: true });
    ctx.onstatechange = () => {
      if (ctx.state === "running") this.onProblem("");
    };
    ctx.resume().catch(() => {});
    if (ctx.state === "suspended") {
      this.onProblem("the browser holds the microphone until you click or type in the page " +
        "(its autoplay rule)");
    }
  }

  close() {
    this.closed = true;
    this.context?.close().catch(() => {});
  }
}
