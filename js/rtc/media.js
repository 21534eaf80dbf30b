// @ts-check
/**
 * Local camera, microphone and screen: acquisition, the track each kind currently sends,
 * mute / camera off / screen share / resolution, and human error messages.
 *
 * What is sent changes only by swapping or disabling tracks (the mesh applies them with
 * replaceTrack), never by renegotiation. A disabled video track sends black frames and a
 * disabled audio track silence, so the remote side keeps a live, cheap stream.
 *
 * Devices: `devices()` lists cameras and microphones (labels once permission is granted),
 * `useDevice(kind, id)` switches one live (the choice is remembered in localStorage and
 * used by the next `start`).
 *
 * Events (detail): change {audio, video} — the tracks to send now · ended {kind, message} — a
 * device (unplugged?) or the screen share stopped by itself · devices {} — the device list
 * changed · quality {} — the resolution or data saver changed: senders apply `sendChoice()`
 * (js/rtc/send_quality.js).
 */

import { Emitter } from "./emitter.js";

/** Capture sizes offered to users; `ideal` constraints, so a camera may give less. */
export const RESOLUTIONS = /** @type {const} */ ({
  VGA: { width: 640, height: 480 },
  HD: { width: 1280, height: 720 },
  FullHD: { width: 1920, height: 1080 },
});

/** @typedef {keyof typeof RESOLUTIONS} Resolution */

/**
 * @param {Resolution | string} resolution
 * @returns {MediaTrackConstraints}
 */
export function videoConstraints(resolution) {
  const size = RESOLUTIONS[/** @type {Resolution} */ (resolution)] ?? RESOLUTIONS.VGA;
  return { width: { ideal: size.width }, height: { ideal: size.height },
    frameRate: { ideal: 30 } };
}

/**
 * @param {boolean} processing  echo cancellation, noise suppression, auto gain
 * @returns {MediaTrackConstraints}
 */
export function audioConstraints(processing = true) {
  return { echoCancellation: processing, noiseSuppression: processing,
    autoGainControl: processing };
}

/**
 * A getUserMedia/getDisplayMedia failure as {code, message} that says what to do next.
 * @param {any} err
 * @param {'camera'|'screen'} [what]
 */
export function describeMediaError(err, what = "camera") {
  const name = err?.name ?? "";
  const device = what === "screen" ? "screen sharing" : "camera/microphone";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return { code: "permission-denied", message: what === "screen"
        ? "Screen sharing was cancelled or blocked."
        : "Camera/microphone permission denied: allow them for this site in the browser's " +
          "site settings (the icon left of the address), then press Join again. You can " +
          "still watch and listen without them." };
    case "NotFoundError":
    case "DevicesNotFoundError":
      return { code: "no-device", message: `No ${device} found: plug one in, or join ` +
        "without it to watch and listen." };
    case "NotReadableError":
    case "TrackStartError":
      return { code: "device-busy", message: `The ${device} is in use by another ` +
        "application or failed to start: close the other app and press Join again." };
    case "OverconstrainedError":
      return { code: "overconstrained", message: "The camera cannot deliver this " +
        "resolution: choose a smaller one." };
    case "SecurityError":
    case "insecure":
      return { code: "insecure", message: "Camera and microphone need a secure page: open " +
        "it via https:// (signaling.tls in config.yaml) or http://localhost. You can still " +
        "watch and listen." };
    default:
      return { code: "media-error", message: `Cannot start the ${device}: ` +
        `${err?.message || name || err}` };
  }
}

const DEVICE_KEY = { audio: "zero_nb.mic", video: "zero_nb.camera" };

/** localStorage that may be missing (private mode, sandboxed frames). */
const store = {
  /** @param {string} key */
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  /** @param {string} key @param {string} value */
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      // not remembered
    }
  },
};

/** True where getUserMedia exists (secure contexts only: https or localhost). */
export function mediaAvailable() {
  return typeof navigator !== "undefined" && Boolean(navigator.mediaDevices?.getUserMedia);
}

export class LocalMedia extends Emitter {
  constructor() {
    super();
    /** @type {MediaStreamTrack | null} */
    this.camera = null;
    /** @type {MediaStreamTrack | null} */
    this.mic = null;
    /** @type {MediaStreamTrack | null} */
    this.screen = null;
    this.muted = false;
    this.cameraOff = false;
    /** @type {Resolution | string} */
    this.resolution = "VGA";
    this.dataSaver = false; // send at most 150 kbit/s at half resolution (send_quality.js)
    this.processing = true;
    /** @type {{code: string, message: string} | null} the last acquisition problem */
    this.error = null;
    /** the chosen deviceId per kind ("" = the browser's default) */
    this.deviceIds = { audio: store.get(DEVICE_KEY.audio) ?? "",
      video: store.get(DEVICE_KEY.video) ?? "" };
    this._onDeviceChange = () => this.emit("devices", {});
    navigator.mediaDevices?.addEventListener?.("devicechange", this._onDeviceChange);
  }

  /**
   * Cameras and microphones: [{kind: 'video'|'audio', deviceId, label}]. Labels are empty
   * until the page has had permission once.
   */
  async devices() {
    if (!navigator.mediaDevices?.enumerateDevices) return [];
    const kinds = /** @type {Record<string, 'audio'|'video'>} */ ({ audioinput: "audio",
      videoinput: "video" });
    return (await navigator.mediaDevices.enumerateDevices())
      .filter((d) => kinds[d.kind] && d.deviceId)
      .map((d, i) => ({ kind: kinds[d.kind], deviceId: d.deviceId,
        label: d.label || `${kinds[d.kind] === "video" ? "camera" : "microphone"} ${i + 1}` }));
  }

  /**
   * Send from another camera or microphone, live: a new track replaces the old one on every
   * connection (replaceTrack, no renegotiation). Remembered for the next start.
   * @param {'audio'|'video'} kind
   * @param {string} deviceId
   */
  async useDevice(kind, deviceId) {
    this.deviceIds[kind] = deviceId;
    store.set(DEVICE_KEY[kind], deviceId);
    const old = kind === "video" ? this.camera : this.mic;
    if (!old) return;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(
        { [kind]: this._constraints(kind, deviceId) });
      old.stop();
      this._adopt(stream);
      this._changed();
    } catch (err) {
      this.error = describeMediaError(err);
      throw err;
    }
  }

  /** @param {'audio'|'video'} kind  the deviceId sent now ("" if none) */
  currentDevice(kind) {
    const track = kind === "video" ? this.camera : this.mic;
    return track?.getSettings().deviceId ?? "";
  }

  /** The track each kind sends now (screen share replaces the camera). */
  get tracks() {
    return { audio: this.mic, video: this.screen ?? this.camera };
  }

  /** A stream for the self view: what the others see. */
  previewStream() {
    const stream = new MediaStream();
    const { audio, video } = this.tracks;
    if (video) stream.addTrack(video);
    if (audio) stream.addTrack(audio);
    return stream;
  }

  /**
   * Open camera and/or microphone. Never throws: on failure `error` says why and the
   * participant joins without the missing device (receive-only).
   * @param {{audio?: boolean, video?: boolean, resolution?: Resolution | string,
   *          processing?: boolean, dataSaver?: boolean}} [options]
   */
  async start(options = {}) {
    const wantAudio = options.audio ?? true;
    const wantVideo = options.video ?? true;
    this.resolution = options.resolution ?? this.resolution;
    this.dataSaver = options.dataSaver ?? this.dataSaver;
    this.processing = options.processing ?? this.processing;
    this.error = null;
    this.stop();
    if (!wantAudio && !wantVideo) return this._changed();
    if (!mediaAvailable()) {
      this.error = describeMediaError({ name: "insecure" });
      return this._changed();
    }
    try {
      this._adopt(await this._open(wantAudio, wantVideo));
    } catch (err) {
      this.error = describeMediaError(err);
      // one missing or busy device must not cost the other one
      if (wantAudio && wantVideo && this.error.code !== "permission-denied") {
        for (const [audio, video] of [[false, true], [true, false]]) {
          try {
            this._adopt(await this._open(audio, video));
          } catch {
            // keep the first error: it names the problem
          }
        }
      }
    }
    this._changed();
  }

  /**
   * Constraints for `kind`, on `deviceId` exactly if given.
   * @param {'audio'|'video'} kind
   * @param {string} [deviceId]
   * @returns {MediaTrackConstraints}
   */
  _constraints(kind, deviceId) {
    const base = kind === "video" ? videoConstraints(this.resolution)
      : audioConstraints(this.processing);
    return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
  }

  /**
   * getUserMedia on the remembered devices; one that is gone gives way to the default.
   * @param {boolean} audio
   * @param {boolean} video
   */
  async _open(audio, video) {
    const ask = (/** @type {boolean} */ pinned) => navigator.mediaDevices.getUserMedia({
      audio: audio && this._constraints("audio", pinned ? this.deviceIds.audio : ""),
      video: video && this._constraints("video", pinned ? this.deviceIds.video : "") });
    try {
      return await ask(true);
    } catch (err) {
      const gone = ["OverconstrainedError", "NotFoundError"].includes(
        /** @type {any} */ (err)?.name);
      if (!gone || !(this.deviceIds.audio || this.deviceIds.video)) throw err;
      return ask(false);
    }
  }

  /** @param {MediaStream} stream */
  _adopt(stream) {
    for (const track of stream.getTracks()) {
      if (track.kind === "audio") {
        this.mic = track;
        track.enabled = !this.muted;
      } else {
        this.camera = track;
        track.enabled = !this.cameraOff;
      }
      track.addEventListener("ended", () => this._ended(track));
    }
  }

  /** @param {MediaStreamTrack} track  a device stopped by itself (unplugged, taken away) */
  _ended(track) {
    if (track !== this.camera && track !== this.mic) return; // we replaced it ourselves
    const what = track.kind === "video" ? "camera" : "microphone";
    const message = `The ${what} (${track.label || "device"}) stopped: unplugged or taken by ` +
      `another application? Choose another ${what} or plug it back in.`;
    this.error = { code: "device-lost", message };
    if (track === this.camera) this.camera = null;
    else this.mic = null;
    track.stop();
    this.emit("ended", { kind: track.kind, message });
    this._changed();
  }

  _changed() {
    this.emit("change", this.tracks);
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    if (this.mic) this.mic.enabled = !muted;
  }

  /** @param {boolean} off  the camera sends black frames while off */
  setCameraOff(off) {
    this.cameraOff = off;
    if (this.camera) this.camera.enabled = !off;
  }

  /**
   * Change the capture size: constraints on the live track, else a new camera track.
   * @param {Resolution | string} resolution
   */
  async setResolution(resolution) {
    this.resolution = resolution;
    const camera = this.camera;
    if (!camera) return this.emit("quality", {});
    try {
      await camera.applyConstraints(videoConstraints(resolution));
      this.emit("quality", {});
    } catch {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(
          { video: this._constraints("video", this.currentDevice("video")) });
        camera.stop();
        this._adopt(stream);
        this._changed();
        this.emit("quality", {});
      } catch (err) {
        this.error = describeMediaError(err);
        throw err;
      }
    }
  }

  /** @param {boolean} on  data saver: the senders cap at 150 kbit/s and half resolution */
  setDataSaver(on) {
    this.dataSaver = on;
    this.emit("quality", {});
  }

  /** What the senders should send now (js/rtc/send_quality.js `encodingsFor`). */
  sendChoice() {
    return { resolution: String(this.resolution), dataSaver: this.dataSaver,
      capture: !this.screen };
  }

  /** True where the browser can share a screen (not on most phones). */
  static canShareScreen() {
    return typeof navigator !== "undefined" && Boolean(navigator.mediaDevices?.getDisplayMedia);
  }

  /** Share a screen in place of the camera until {@link stopScreenShare} or the user stops. */
  async shareScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error("the browser gave no screen track");
    this.stopScreenShare(false);
    this.screen = track;
    track.addEventListener("ended", () => {
      if (this.screen === track) this.stopScreenShare();
    });
    this._changed();
  }

  stopScreenShare(notify = true) {
    const screen = this.screen;
    this.screen = null;
    if (screen) screen.stop();
    if (notify && screen) this._changed();
  }

  /** Release every device. */
  stop() {
    for (const track of [this.camera, this.mic, this.screen]) track?.stop();
    this.camera = this.mic = this.screen = null;
  }

  /** Release every device and stop listening for device changes. */
  dispose() {
    this.stop();
    navigator.mediaDevices?.removeEventListener?.("devicechange", this._onDeviceChange);
  }

  describe() {
    const { audio, video } = this.tracks;
    return { audio: Boolean(audio), video: Boolean(video), muted: this.muted,
      cameraOff: this.cameraOff, sharing: Boolean(this.screen), resolution: this.resolution,
      dataSaver: this.dataSaver, videoSettings: video ? video.getSettings() : null, error: this.error };
  }
}
