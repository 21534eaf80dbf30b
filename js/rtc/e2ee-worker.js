// @ts-check
/**
 * The E2EE worker: seals and opens encoded frames off the main thread, in the frame format of
 * docs/e2ee.md (the kernel's zero_nb/kernel_rtc/e2ee.py is its twin).
 *
 * `workerMain` runs *inside* the worker: js/rtc/e2ee.js starts it from a Blob of its source
 * (`(${workerMain})()`), which works for the page and for notebook widgets alike (a widget's
 * module has no URL a Worker could load). So it must not use anything outside its body.
 *
 * Messages in: {type: "key", keyId, key: CryptoKey} · {type: "streams", op, kind, id,
 * readable, writable} (createEncodedStreams fallback); `rtctransform` events carry
 * {op, kind, id} as the transformer's options. Messages out: {type: "state", id, state}.
 */

export function workerMain() {
  const TAG = 16;
  const IV = 12;
  const TRAILER = IV + 1; // IV, key id
  const OVERHEAD = TAG + TRAILER;
  const KEEP_KEYS = 5; // the current key and the 4 before it

  /** @type {Map<number, CryptoKey>} */
  const keys = new Map();
  let currentKeyId = 0;
  const scope = /** @type {any} */ (self);

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
      const iv = new Uint8Array(IV);
      iv.set(prefix);
      new DataView(iv.buffer).setUint32(8, counter);
      counter += 1;
      return iv;
    };
  }

  /**
   * @param {() => Uint8Array} nextIv
   * @param {string} kind
   * @param {any} frame
   * @returns {Promise<boolean>} whether to send the frame
   */
  async function seal(nextIv, kind, frame) {
    const key = keys.get(currentKeyId);
    if (!key) return false; // never send media readable in an E2EE session
    const data = new Uint8Array(frame.data);
    if (!data.length) return true;
    const n = Math.min(clearLength(kind, data), data.length);
    const head = data.subarray(0, n);
    const iv = nextIv();
    const sealed = new Uint8Array(await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: head }, key, data.subarray(n)));
    const out = new Uint8Array(n + sealed.length + TRAILER);
    out.set(head);
    out.set(sealed, n);
    out.set(iv, n + sealed.length);
    out[out.length - 1] = currentKeyId;
    frame.data = out.buffer;
    return true;
  }

  /**
   * @param {string} kind
   * @param {any} frame
   * @returns {Promise<"ok" | "no-key" | "wrong-key" | null>} null: empty, passes as is
   */
  async function open(kind, frame) {
    const data = new Uint8Array(frame.data);
    if (!data.length) return null;
    if (!keys.size) return "no-key";
    if (data.length < OVERHEAD) return "wrong-key";
    const key = keys.get(data[data.length - 1]);
    if (!key) return "wrong-key";
    const n = Math.min(clearLength(kind, data), data.length - OVERHEAD);
    const head = data.subarray(0, n);
    const iv = data.subarray(data.length - TRAILER, data.length - 1);
    try {
      const plain = new Uint8Array(await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: head }, key,
        data.subarray(n, data.length - TRAILER)));
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
   * Run one sender's or receiver's frames through seal/open.
   * @param {{op: string, kind: string, id: number, readable: ReadableStream,
   *   writable: WritableStream}} job
   */
  function pipe({ op, kind, id, readable, writable }) {
    const nextIv = newIvSource();
    /** @type {string | null} */
    let last = null;
    /** @param {string} state */
    const report = (state) => {
      if (state === last) return;
      last = state;
      scope.postMessage({ type: "state", id, state });
    };
    const transform = new TransformStream({
      async transform(frame, controller) {
        if (op === "encrypt") {
          if (!codecOk(frame, kind)) return report("codec");
          if (await seal(nextIv, kind, frame)) controller.enqueue(frame);
          return;
        }
        const state = await open(kind, frame);
        if (state !== null) report(state);
        if (state === "ok" || state === null) controller.enqueue(frame);
      },
    });
    readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
  }

  scope.postMessage({ type: "ready" });
  scope.onrtctransform = (/** @type {any} */ event) => {
    const t = event.transformer;
    pipe({ ...t.options, readable: t.readable, writable: t.writable });
  };
  scope.onmessage = (/** @type {MessageEvent} */ event) => {
    const msg = event.data;
    if (msg.type === "key") {
      keys.delete(msg.keyId);
      keys.set(msg.keyId, msg.key);
      currentKeyId = msg.keyId;
      while (keys.size > KEEP_KEYS) keys.delete(/** @type {number} */ (keys.keys().next().value));
    } else if (msg.type === "streams") {
      pipe(msg);
    }
  };
}
