// @ts-check
/**
 * zero_nb's WebRTC core for browsers, UI-free: the standalone page (js/app.js) and the
 * notebook widgets are two shells around these classes.
 *
 *   import { Session } from "./rtc/index.js";
 *   const session = new Session({ server: "ws://127.0.0.1:8765/ws" });
 *   await session.media.start({ audio: true, video: true, resolution: "VGA" });
 *   session.on("stream", ({ peer, stream }) => { video.srcObject = stream; });
 *   session.join({ session: "lab", name: "ada" });
 */

export { Emitter } from "./emitter.js";
export {
  audioConstraints,
  describeMediaError,
  LocalMedia,
  mediaAvailable,
  RESOLUTIONS,
  videoConstraints,
} from "./media.js";
export { JANUS_CODES, JanusError, JanusHandle, JanusSession } from "./janus.js";
export { KINDS, Mesh, Peer, peersStats, replaceKindTrack, TIMING } from "./mesh.js";
export { Session, SESSION_ERRORS } from "./session.js";
export { Sfu, SFU_TIMING, SfuPeer } from "./sfu.js";
export { FATAL_JOIN_ERRORS, SignalingClient } from "./signaling.js";
