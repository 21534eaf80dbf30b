// @ts-check
/**
 * The E2EE worker: seals and opens encoded frames off the main thread, in the frame format of
 * docs/e2ee.md (the kernel's zero_nb/kernel_rtc/e2ee.py is its twin).
 *
 * js/rtc/e2ee.js starts the worker from a Blob of {@link workerSource} (these functions'
 * own source text), which works for the page and for notebook widgets alike (a widget's
 * module has no URL a Worker could load). So the functions below may use only each other,
 * `FORMAT` and the worker's globals.
 *
 * Messages in: {type: "key", keyId, key: CryptoKey} · {type: "streams", op, kind, id,
 * readable, writable} (createEncodedStreams fallback); `rtctransform` events carry
 * {op, kind, id} as the transformer's options. Messages out: {type: "ready"} once loaded,
 * {type: "state", id, state} when a receiver's state changes.
 */

/** Frame format constants (bytes), shared with the worker as JSON. */
export const FORMAT = { TAG: 16, IV: 12, TRAILER: 13, OVERHEAD: 29, KEEP_KEYS: 5 };

/**
 * Bytes left in clear: VP8 keyframe 10, delta 3 (frame tag bit 0 = 0 on keyframes); Opus 1.
 * @param {string} kind
 * @param {Uint8Array} data
 */
function clearLength(kind, data) {
  if (kind === "audio") return 1;
  return data.length && !(data[0] & 1) ? 10 : 3;
}

/**
 * VP8 and Opus only: an H.264 frame is dropped rather than sent readable.
 * @param {any} frame
 * @param {string} kind
 */
function codecOk(frame, kind) {
  const mime = frame.getMetadata?.().mimeType;
  if (!mime) return true;
  return kind === "audio" ? /opus/i.test(mime) : /vp8/i.test(mime);
}

/** One sender's IVs: a random 8-byte prefix per sender, then a 32-bit frame counter. */
function newIvSource() {
  let prefix = crypto.getRandomValues(new Uint8Array(8));
  let counter = 0;
  return () => {
    if (counter > 0xffffffff) {
      prefix = crypto.getRandomValues(new Uint8Array(8));
      counter = 0;
    }
    const iv = new Uint8Array(FORMAT.IV);
    iv.set(prefix);
    new DataView(iv.buffer).setUint32(8, counter);
    counter += 1;
    return iv;
  };
}

/**
 * Seal `frame` in place; false when it must not be sent (no key yet).
 * @param {{keys: Map<number, CryptoKey>, keyId: number}} ring
 * @param {() => Uint8Array<ArrayBuffer>} nextIv  WebCrypto takes no views of shared memory
 * @param {string} kind
 * @param {any} frame
 */
async function sealFrame(ring, nextIv, kind, frame) {
  const key = ring.keys.get(ring.keyId);
  if (!key) return false; // never send media readable in an E2EE session
  const data = new Uint8Array(frame.data);
  if (!data.length) return true;
  const n = Math.min(clearLength(kind, data), data.length);
  const head = data.subarray(0, n);
  const iv = nextIv();
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: head }, key, data.subarray(n)));
  const out = new Uint8Array(n + sealed.length + FORMAT.TRAILER);
  out.set(head);
  out.set(sealed, n);
  out.set(iv, n + sealed.length);
  out[out.length - 1] = ring.keyId;
  frame.data = out.buffer;
  return true;
}

/**
 * Open `frame` in place.
 * @param {{keys: Map<number, CryptoKey>, keyId: number}} ring
 * @param {string} kind
 * @param {any} frame
 * @returns {Promise<"ok" | "no-key" | "wrong-key" | null>} null: empty, passes as is
 */
async function openFrame(ring, kind, frame) {
  const data = new Uint8Array(frame.data);
  if (!data.length) return null;
  if (!ring.keys.size) return "no-key";
  if (data.length < FORMAT.OVERHEAD) return "wrong-key";
  const key = ring.keys.get(data[data.length - 1]);
  if (!key) return "wrong-key";
  const n = Math.min(clearLength(kind, data), data.length - FORMAT.OVERHEAD);
  const head = data.subarray(0, n);
  const iv = data.subarray(data.length - FORMAT.TRAILER, data.length - 1);
  try {
    const plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: head }, key,
      data.subarray(n, data.length - FORMAT.TRAILER)));
    const out = new Uint8Array(n + plain.length);
    out.set(head);
    out.set(plain, n);
    frame.data = out.buffer;
    return "ok";
  } catch {
    return "wrong-key";
  }
}

/**
 * Run one sender's or receiver's frames through sealFrame/openFrame; frames that do not
 * open are dropped, and a receiver's state changes are posted to the page.
 * @param {{keys: Map<number, CryptoKey>, keyId: number}} ring
 * @param {{op: string, kind: string, id: number, readable: ReadableStream,
 *   writable: WritableStream}} job
 */
function pipe(ring, { op, kind, id, readable, writable }) {
  const nextIv = newIvSource();
  /** @type {string | null} */
  let last = null;
  /** @param {string} state */
  const report = (state) => {
    if (state === last) return;
    last = state;
    /** @type {any} */ (self).postMessage({ type: "state", id, state });
  };
  const transform = new TransformStream({
    async transform(frame, controller) {
      if (op === "encrypt") {
        if (!codecOk(frame, kind)) return report("codec");
        if (await sealFrame(ring, nextIv, kind, frame)) controller.enqueue(frame);
        return;
      }
      const state = await openFrame(ring, kind, frame);
      if (state !== null) report(state);
      if (state === "ok" || state === null) controller.enqueue(frame);
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
}

/** The worker's entry point: keys by message, transforms by event or message. */
export function workerMain() {
  const scope = /** @type {any} */ (self);
  /** @type {{keys: Map<number, CryptoKey>, keyId: number}} */
  const ring = { keys: new Map(), keyId: 0 };
  scope.onrtctransform = (/** @type {any} */ event) => {
    const t = event.transformer;
    pipe(ring, { ...t.options, readable: t.readable, writable: t.writable });
  };
  scope.onmessage = (/** @type {MessageEvent} */ event) => {
    const msg = event.data;
    if (msg.type === "key") {
      ring.keys.delete(msg.keyId);
      ring.keys.set(msg.keyId, msg.key);
      ring.keyId = msg.keyId;
      while (ring.keys.size > FORMAT.KEEP_KEYS) {
        ring.keys.delete(/** @type {number} */ (ring.keys.keys().next().value));
      }
    } else if (msg.type === "streams") {
      pipe(ring, msg);
    }
  };
  scope.postMessage({ type: "ready" });
}

/** The worker's whole script: the functions above, then a call to workerMain. */
export function workerSource() {
  const parts = [clearLength, codecOk, newIvSource, sealFrame, openFrame, pipe, workerMain];
  return `"use strict";\nconst FORMAT = ${JSON.stringify(FORMAT)};\n` +
    `${parts.map(String).join("\n")}\nworkerMain();\n`;
}
