// @ts-check
/**
 * End-to-end encryption for browsers: the same frame format as the kernel (docs/e2ee.md).
 *
 *   const keyring = await createKeyring(passphrase, sessionName);  // PBKDF2 -> AES-GCM key
 *   attachSender(transceiver.sender, keyring);                     // seal what we send
 *   attachReceiver(transceiver.receiver, keyring, (state) => ...); // "ok" | "wrong-key" | ...
 *
 * Frames are transformed in one worker per keyring (js/rtc/e2ee-worker.js), with
 * `RTCRtpScriptTransform` (Chromium >= 141, Safari, Firefox) or, failing that, Chromium's
 * older `createEncodedStreams()` — which needs the RTCPeerConnection created with
 * `E2EE_PC_CONFIG` (`encodedInsertableStreams: true`). A keyring made without a passphrase
 * (`createKeyring(null, ...)`) opens nothing and reports "no-key". The passphrase is never
 * logged or sent; on the page it comes from the URL fragment (`#e2ee=...`), which browsers
 * never send to the server.
 */

import { workerSource } from "./e2ee-worker.js";

export const E2EE_SALT_PREFIX = "zero_nb/e2ee/v1/";
export const PBKDF2_ITERATIONS = 100000;
/** Extra RTCPeerConnection configuration the createEncodedStreams() fallback needs. */
export const E2EE_PC_CONFIG = { encodedInsertableStreams: true };

/** @typedef {"ok" | "no-key" | "wrong-key" | "codec"} E2eeState */

/**
 * Which frame-transform API this browser has, or null when E2EE is impossible here.
 * @returns {"script-transform" | "encoded-streams" | null}
 */
export function e2eeSupport() {
  const g = /** @type {any} */ (globalThis);
  if (typeof g.RTCRtpScriptTransform === "function") return "script-transform";
  if (typeof g.RTCRtpSender?.prototype?.createEncodedStreams === "function") {
    return "encoded-streams";
  }
  return null;
}

/**
 * The frame key: PBKDF2-HMAC-SHA256(passphrase, "zero_nb/e2ee/v1/" + session, 100 000) as a
 * non-extractable AES-256-GCM key.
 * @param {string} passphrase
 * @param {string} session
 * @returns {Promise<CryptoKey>}
 */
export async function deriveKey(passphrase, session) {
  if (!passphrase) throw new Error("the E2EE passphrase is empty");
  const enc = new TextEncoder();
  const base = await crypto.subtle.importKey("raw", enc.encode(passphrase), "PBKDF2", false,
    ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: enc.encode(E2EE_SALT_PREFIX + session),
      iterations: PBKDF2_ITERATIONS },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

/**
 * The passphrase in a URL fragment like `#e2ee=...` (also `#session=x&e2ee=...`), or null.
 * @param {string} [hash]
 */
export function fragmentPassphrase(hash = globalThis.location?.hash ?? "") {
  const value = new URLSearchParams(hash.replace(/^#/, "")).get("e2ee");
  return value || null;
}

/** Keys by key id, held by this keyring's frame worker; seals with the newest. */
export class Keyring {
  constructor() {
    const source = workerSource();
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    this.worker = new Worker(url);
    this.worker.onerror = (event) => console.error("E2EE worker:", event.message);
    /** whether a key was set: without one, every received frame is "no-key" */
    this.hasKey = false;
    this._nextId = 1;
    /** @type {Map<number, (state: E2eeState) => void>} */
    this._listeners = new Map();
    this.worker.onmessage = (event) => {
      const msg = event.data;
      if (msg?.type === "state") this._listeners.get(msg.id)?.(msg.state);
      // the worker has loaded its script once it speaks: only then may the URL go
      else if (msg?.type === "ready") URL.revokeObjectURL(url);
    };
  }

  /**
   * Seal with `key` under `keyId` (0-255) from now on; older keys still open for a while.
   * @param {CryptoKey} key
   * @param {number} [keyId]
   */
  setKey(key, keyId = 0) {
    this.hasKey = true;
    this.worker.postMessage({ type: "key", keyId, key });
  }

  /**
   * @param {"encrypt" | "decrypt"} op
   * @param {RTCRtpSender | RTCRtpReceiver} endpoint
   * @param {string} kind
   * @param {(state: E2eeState) => void} [onState]
   */
  _attach(op, endpoint, kind, onState) {
    const id = this._nextId++;
    if (onState) this._listeners.set(id, onState);
    const options = { op, kind, id };
    const g = /** @type {any} */ (globalThis);
    const target = /** @type {any} */ (endpoint);
    if (e2eeSupport() === "script-transform") {
      target.transform = new g.RTCRtpScriptTransform(this.worker, options);
    } else if (e2eeSupport() === "encoded-streams") {
      const { readable, writable } = target.createEncodedStreams();
      this.worker.postMessage({ type: "streams", ...options, readable, writable },
        [readable, writable]);
    } else {
      throw new Error("this browser cannot encrypt media end to end (no " +
        "RTCRtpScriptTransform or createEncodedStreams): use a recent Chromium, Firefox " +
        "or Safari, or join without E2EE");
    }
    return id;
  }

  close() {
    this.worker.terminate();
    this._listeners.clear();
  }
}

/**
 * A keyring for `passphrase` (null: no key, frames report "no-key") in `session`.
 * @param {string | null} passphrase
 * @param {string} session
 */
export async function createKeyring(passphrase, session) {
  const keyring = new Keyring();
  if (passphrase) keyring.setKey(await deriveKey(passphrase, session), 0);
  return keyring;
}

/**
 * Seal every frame `sender` sends (attach before media flows; once per sender).
 * @param {RTCRtpSender} sender
 * @param {Keyring} keyring
 * @param {string} [kind] "audio" | "video" (default: the sender's track kind)
 */
export function attachSender(sender, keyring, kind) {
  return keyring._attach("encrypt", sender, kind ?? sender.track?.kind ?? "video");
}

/**
 * Open every frame `receiver` gets; undecryptable frames are dropped, and `onState` hears
 * "ok", "wrong-key" or "no-key" when that changes.
 * @param {RTCRtpReceiver} receiver
 * @param {Keyring} keyring
 * @param {(state: E2eeState) => void} [onState]
 */
export function attachReceiver(receiver, keyring, onState) {
  return keyring._attach("decrypt", receiver, receiver.track.kind, onState);
}

/**
 * A session's E2EE: one keyring per joined session, attached to every connection's senders
 * and receivers (mesh and SFU alike). The Session, Mesh and Sfu call `start`, `bind` and
 * `mark` at the marked hook lines; `peer.e2ee` then holds the peer's state.
 */
export class E2eeLink {
  /** @param {string} passphrase */
  constructor(passphrase) {
    this.passphrase = passphrase;
    /** @type {Keyring | null} */
    this.keyring = null;
    /** @type {WeakSet<object>} senders and receivers already transformed */
    this._bound = new WeakSet();
    /** @type {(peer: any, state: E2eeState) => void} */
    this.onState = () => {};
  }

  /**
   * A fresh keyring for `session` (the key salt); frames wait for the key (~30 ms).
   * @param {string} session
   * @param {(peer: any, state: E2eeState) => void} [onState]
   */
  start(session, onState) {
    this.keyring?.close();
    const keyring = this.keyring = new Keyring();
    this._bound = new WeakSet();
    if (onState) this.onState = onState;
    deriveKey(this.passphrase, session).then((key) => keyring.setKey(key, 0));
  }

  /**
   * Transform what `pc` sends and (for a remote `peer`) receives; VP8 first for video.
   * Call in the same task that made the transceivers (right after addTransceiver or
   * setRemoteDescription, before any other await): Chromium short-circuits the frames of a
   * sender or receiver that has no transform by its next task, and a transform set later is
   * ignored — media would then flow in clear.
   * @param {RTCPeerConnection} pc
   * @param {any} peer the remote participant, or null for a publish-only connection
   */
  bind(pc, peer) {
    const keyring = this.keyring;
    if (!keyring) return;
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind === "video") preferVp8(transceiver);
      // every sender, whatever its direction now: an answerer's transceivers start recvonly
      if (!this._bound.has(transceiver.sender)) {
        this._bound.add(transceiver.sender);
        attachSender(transceiver.sender, keyring, kind);
      }
      if (peer && !this._bound.has(transceiver.receiver)) {
        this._bound.add(transceiver.receiver);
        attachReceiver(transceiver.receiver, keyring, (state) => {
          peer.e2ee = state;
          this.onState(peer, state);
        });
      }
    }
  }

  /**
   * Flag an offer/answer signal or a Janus JSEP: `e2ee: true` (others then know that
   * without the key they cannot see us).
   * @template {Record<string, any>} T
   * @param {T} message
   * @returns {T}
   */
  mark(message) {
    return message.type === "offer" || message.type === "answer" ?
      { ...message, e2ee: true } : message;
  }

  close() {
    this.keyring?.close();
    this.keyring = null;
  }
}

/**
 * E2EE covers VP8 and Opus only: put VP8 (and its RTX) first so H.264 is never chosen.
 * @param {RTCRtpTransceiver} transceiver
 */
function preferVp8(transceiver) {
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.("video")?.codecs ?? [];
  const vp8 = caps.filter((c) => /^video\/(vp8|rtx)$/i.test(c.mimeType));
  if (vp8.length && transceiver.setCodecPreferences) {
    try {
      transceiver.setCodecPreferences(vp8);
    } catch {
      // a stopped transceiver: nothing to negotiate
    }
  }
}
