// @ts-check
/**
 * Camera(): the page's camera and microphone, sent to the kernel over the local link,
 * with a small self view and a mute / camera-off pair.
 */

import { LocalMedia } from "../rtc/media.js";
import { h, KernelLink, videoElement } from "./link.js";

/** @param {{model: import("./link.js").Model, el: HTMLElement}} ctx */
function render({ model, el }) {
  const media = new LocalMedia();
  const link = new KernelLink(model, { widget: "Camera", slots: 0 });
  const preview = videoElement(null);
  const status = h("div", { class: "znb-status" });
  const cam = h("button", { textContent: "Camera off", onclick: () => {
    media.setCameraOff(!media.cameraOff);
    cam.textContent = media.cameraOff ? "Camera on" : "Camera off";
  } });
  const mic = h("button", { textContent: "Mute", onclick: () => {
    media.setMuted(!media.muted);
    mic.textContent = media.muted ? "Unmute" : "Mute";
  } });
  const root = h("div", { class: "znb-camera" }, [
    h("div", { class: "znb-tile znb-local" }, [preview]),
    h("div", { class: "znb-controls" }, [cam, mic]), status]);
  el.append(root);
  const showState = () => {
    // a camera/mic problem stays on show: the link's state must not overwrite it
    const linkText = link.error || (link.state === "connected" ? "" : `kernel link: ${link.state}`);
    status.textContent = [media.error?.message, linkText].filter(Boolean).join(" · ");
  };
  link.addEventListener("state", showState);
  link.addEventListener("error", showState);
  const stopChange = media.on("change", (tracks) => {
    link.setTracks(tracks);
    preview.srcObject = media.previewStream();
  });
  (async () => {
    await media.start({ audio: true, video: true, resolution: model.get("resolution") });
    showState();
    await link.start(media.tracks);
  })();
  return () => {
    stopChange();
    link.close();
    media.stop();
    root.remove();
  };
}

export default { render };
