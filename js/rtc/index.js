// @ts-check
/**
 * zero_nb's WebRTC core for browsers, UI-free: the standalone page (js/app.js) is a shell
 * around these classes; the notebook widgets use media.js and the UI modules in js/ui/.
 *
 *   import { Session } from "./rtc/index.js";
 *   const session = new Session({ server: "ws://127.0.0.1:8765/ws" });
 *   await session.media.start({ audio: true, video: true, resolution: "VGA" });
 *   session.on("stream", ({ peer, stream }) => { video.srcObject = stream; });
 *   session.join({ session: "lab", name: "ada" });
 */

export {
  attachReceiver,
  attachSender,
  createKeyring,
  deriveKey,
  E2eeLink,
  e2eeSupport,
  fragmentPassphrase,
  Keyring,
} from "./e2ee.js";
export { Emitter } from "./emitter.js";
export { gathered } from "./gather.js";
export {
  audioConstraints,
  describeMediaError,
  LocalMedia,
  mediaAvailable,
  RESOLUTIONS,
  videoConstraints,
} from "./media.js";
export { JANUS_CODES, JanusError, JanusHandle, JanusSession } from "./janus.js";
export { Mesh } from "./mesh.js";
export { Negotiation, TIMING } from "./negotiation.js";
export { KINDS, peersStats, RemotePeer, replaceKindTrack } from "./peer.js";
export { SenderControl } from "./send_quality.js";
export { Session, SESSION_ERRORS } from "./session.js";
export { Sfu } from "./sfu.js";
export { Publisher, SFU_TIMING } from "./sfu_publisher.js";
export { LAYER_TIMING, LAYERS, Subscriber } from "./sfu_subscriber.js";
export { SfuViewer } from "./sfu_viewer.js";
export { FATAL_JOIN_ERRORS, SignalingClient } from "./signaling.js";
export { TOPOLOGIES, topologyFor, UnsupportedTopology } from "./topology.js";
