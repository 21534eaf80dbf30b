// @ts-check
/**
 * The call controls shared by the page and the Conference widget: Mute, Camera off, Share
 * screen (only where the browser can), extra buttons of the host, Leave, and a "More" fold
 * with the resolution, camera and microphone pickers and the data saver (150 kbit/s at half
 * resolution, see js/rtc/send_quality.js). They act on a {@link LocalMedia}; the
 * host hears about every change (`onChange`) and every failure (`onError`).
 */

import { LocalMedia, RESOLUTIONS } from "../rtc/media.js";
import { h } from "./dom.js";

/**
 * @typedef {{onChange?: () => void, onLeave?: () => void,
 *   onError?: (message: string, code: string) => void, extra?: HTMLElement[],
 *   menuExtra?: HTMLElement[], ids?: boolean, capture?: boolean}} ControlOptions
 *   ids: give the controls ids (the page, once per document: "btn-mute", "sel-camera", ...)
 *   capture: false shows only Leave (a widget whose room sends a kernel source)
 *   onLeave: without it, no Leave button (the Camera widget)
 */

export class Controls {
  /**
   * @param {LocalMedia} media
   * @param {ControlOptions} [options]
   */
  constructor(media, options = {}) {
    this.media = media;
    this.options = options;
    const changed = () => this._changed();
    const id = (/** @type {string} */ name) => (options.ids ? name : "");
    this.mute = h("button", { type: "button", id: id("btn-mute"), dataset: { control: "mute" },
      onclick: () => { media.setMuted(!media.muted); changed(); } });
    this.camera = h("button", { type: "button", id: id("btn-camera"),
      dataset: { control: "camera" },
      onclick: () => { media.setCameraOff(!media.cameraOff); changed(); } });
    this.share = h("button", { type: "button", id: id("btn-share"), dataset: { control: "share" },
      hidden: !LocalMedia.canShareScreen(), onclick: () => this._toggleShare() });
    this.resolution = h("select", { id: id("sel-resolution"), ariaLabel: "Camera resolution",
      title: "camera resolution", onchange: () => this._setResolution() },
    Object.keys(RESOLUTIONS).map((r) => h("option", { value: r, textContent: r })));
    this.cameraPicker = h("select", { id: id("sel-camera"), ariaLabel: "Camera",
      title: "camera", onchange: () => this._useDevice("video", this.cameraPicker.value) });
    this.dataSaver = h("input", { type: "checkbox", id: id("chk-data-saver"),
      dataset: { control: "data-saver" },
      onchange: () => { media.setDataSaver(this.dataSaver.checked); changed(); } });
    this.micPicker = h("select", { id: id("sel-mic"), ariaLabel: "Microphone",
      title: "microphone", onchange: () => this._useDevice("audio", this.micPicker.value) });
    this.leave = h("button", { type: "button", id: id("btn-leave"), textContent: "Leave",
      class: "znb-leave danger", dataset: { control: "leave" },
      onclick: () => options.onLeave?.() });
    this.menu = h("details", { class: "znb-more" }, [
      h("summary", { textContent: "More", title: "devices and resolution" }),
      h("div", { class: "znb-menu" }, [this.cameraPicker, this.micPicker, this.resolution,
        h("label", { class: "znb-check", title: "send at most 150 kbit/s at half resolution" },
          [this.dataSaver, "Data saver"]), ...(options.menuExtra ?? [])])]);
    const capture = options.capture ?? true;
    const leave = options.onLeave ? [this.leave] : [];
    this.el = h("div", { class: "znb-controls", id: id("controls") }, capture
      ? [this.mute, this.camera, this.share, ...(options.extra ?? []), this.menu, ...leave]
      : [...(options.extra ?? []), ...leave]);
    this._stopDevices = media.on("devices", () => this.refreshDevices());
    this.update();
  }

  _changed() {
    this.update();
    this.options.onChange?.();
  }

  /** Labels, pressed states and pickers from the media's current state. */
  update() {
    const media = this.media;
    const local = media.describe();
    setToggle(this.mute, local.muted, "Unmute", "Mute");
    setToggle(this.camera, local.cameraOff, "Camera on", "Camera off");
    setToggle(this.share, local.sharing, "Stop sharing", "Share screen");
    this.mute.disabled = !local.audio;
    this.camera.disabled = !media.camera;
    this.resolution.value = String(local.resolution);
    this.dataSaver.checked = local.dataSaver;
    this.refreshDevices();
  }

  /** Fill the pickers (labels appear once the page has had permission). */
  async refreshDevices() {
    const devices = await this.media.devices();
    fill(this.cameraPicker, devices.filter((d) => d.kind === "video"),
      this.media.currentDevice("video") || this.media.deviceIds.video);
    fill(this.micPicker, devices.filter((d) => d.kind === "audio"),
      this.media.currentDevice("audio") || this.media.deviceIds.audio);
  }

  async _toggleShare() {
    try {
      if (this.media.screen) this.media.stopScreenShare();
      else await this.media.shareScreen();
    } catch (err) {
      this.options.onError?.(`Screen share: ${/** @type {any} */ (err)?.message ?? err}`,
        "screen-share");
    }
    this._changed();
  }

  async _setResolution() {
    try {
      await this.media.setResolution(this.resolution.value);
    } catch {
      this.options.onError?.(this.media.error?.message ?? "Cannot change the resolution.",
        "resolution");
    }
    this._changed();
  }

  /**
   * @param {'audio'|'video'} kind
   * @param {string} deviceId
   */
  async _useDevice(kind, deviceId) {
    try {
      await this.media.useDevice(kind, deviceId);
    } catch {
      this.options.onError?.(this.media.error?.message ?? "Cannot switch the device.",
        this.media.error?.code ?? "device");
    }
    this._changed();
  }

  dispose() {
    this._stopDevices();
    this.el.remove();
  }
}

/**
 * @param {HTMLButtonElement} button
 * @param {boolean} pressed
 * @param {string} on   label while pressed
 * @param {string} off  label otherwise
 */
function setToggle(button, pressed, on, off) {
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = pressed ? on : off;
}

/**
 * @param {HTMLSelectElement} select
 * @param {{deviceId: string, label: string}[]} devices
 * @param {string} current
 */
function fill(select, devices, current) {
  const same = select.options.length === devices.length &&
    devices.every((d, i) => select.options[i].value === d.deviceId &&
      select.options[i].textContent === d.label);
  if (!same) {
    select.replaceChildren(...devices.map((d) => h("option", { value: d.deviceId,
      textContent: d.label })));
  }
  if (devices.some((d) => d.deviceId === current)) select.value = current;
  select.hidden = devices.length === 0;
}
