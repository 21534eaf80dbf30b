// @ts-check
/**
 * The standalone call page served by the signaling server at `/`: a shell around
 * {@link Session} (js/rtc/session.js). Everything WebRTC lives there; this file only renders.
 *
 * URL query: session, name, password, autojoin=1, server=ws://..., res=VGA|HD|FullHD,
 * camera=0, mic=0, processing=0 (no echo cancellation / noise suppression / auto gain).
 * Test hook: `window.zeroNb` is the Session (snapshot(), stats(), send(), ...).
 */

import { describeMediaError, LocalMedia } from "./rtc/media.js";
import { Session } from "./rtc/session.js";

const query = new URLSearchParams(location.search);

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

const els = {
  form: /** @type {HTMLFormElement} */ ($("join-form")),
  session: input("f-session"),
  name: input("f-name"),
  password: input("f-password"),
  camera: input("f-camera"),
  mic: input("f-mic"),
  resolution: /** @type {HTMLSelectElement} */ ($("f-resolution")),
  joinBtn: /** @type {HTMLButtonElement} */ ($("join-btn")),
  status: $("status"),
  conn: $("conn"),
  sessionLabel: $("session-label"),
  call: $("call"),
  grid: $("grid"),
  controls: $("controls"),
  mute: $("btn-mute"),
  cameraBtn: $("btn-camera"),
  share: $("btn-share"),
  res: /** @type {HTMLSelectElement} */ ($("sel-resolution")),
  chatBtn: $("btn-chat"),
  unread: $("unread"),
  invite: $("btn-invite"),
  leave: $("btn-leave"),
  chat: $("chat"),
  chatClose: $("chat-close"),
  chatLog: $("chat-log"),
  chatForm: /** @type {HTMLFormElement} */ ($("chat-form")),
  chatInput: input("chat-input"),
  template: /** @type {HTMLTemplateElement} */ ($("tile-template")),
};

const wsUrl = query.get("server")
  || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const session = new Session({ server: wsUrl });
/** Test hook: the session object (snapshot(), stats(), peers, messages). */
// @ts-ignore - deliberate global
window.zeroNb = session;

// -- status line --------------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let statusTimer;
/** @type {ReturnType<typeof setInterval> | undefined} */
let countdown;

/**
 * Show one message; `code` goes to data-code (tests), `ttl` hides it after that many ms.
 * @param {string} text
 * @param {{level?: 'info'|'ok'|'warn'|'error', code?: string, ttl?: number}} [options]
 */
function showStatus(text, options = {}) {
  clearTimeout(statusTimer);
  clearInterval(countdown);
  els.status.textContent = text;
  els.status.dataset.level = options.level ?? "info";
  els.status.dataset.code = options.code ?? "";
  els.status.hidden = !text;
  if (options.ttl) statusTimer = setTimeout(() => showStatus(""), options.ttl);
}

/**
 * A message with a live "in N s" countdown.
 * @param {(seconds: number) => string} render
 * @param {number} delay ms
 * @param {{level?: 'info'|'ok'|'warn'|'error', code?: string}} options
 */
function showCountdown(render, delay, options) {
  const end = Date.now() + delay;
  const tick = () => {
    els.status.textContent = render(Math.max(0, Math.ceil((end - Date.now()) / 1000)));
  };
  showStatus(render(Math.ceil(delay / 1000)), options);
  countdown = setInterval(tick, 250);
}

/** Page wording for the server's join refusals; the server's own message follows. */
const REFUSALS = /** @type {Record<string, string>} */ ({
  "bad-password": "Wrong password for this session.",
  "session-full": "This session is full.",
  "server-full": "The server is full.",
  "no-such-session": "This session does not exist.",
  unauthorized: "This server needs an access token.",
  "sfu-unsupported": "",
});

// -- tiles ------------------------------------------------------------------------------

/** @type {Map<string, HTMLElement>} peer_id (or "self") -> tile */
const tiles = new Map();

/**
 * @param {string} key
 * @param {string} name
 */
function tileFor(key, name) {
  let tile = tiles.get(key);
  if (!tile) {
    const fragment = /** @type {DocumentFragment} */ (els.template.content.cloneNode(true));
    tile = /** @type {HTMLElement} */ (fragment.firstElementChild);
    tile.dataset.peer = key;
    els.grid.append(tile);
    tiles.set(key, tile);
    els.grid.classList.toggle("many", tiles.size > 2);
  }
  /** @type {HTMLElement} */ (tile.querySelector(".name")).textContent = name;
  return tile;
}

/** @param {string} key */
function removeTile(key) {
  const tile = tiles.get(key);
  if (!tile) return;
  for (const media of tile.querySelectorAll("video, audio")) {
    /** @type {HTMLMediaElement} */ (media).srcObject = null;
  }
  tile.remove();
  tiles.delete(key);
  els.grid.classList.toggle("many", tiles.size > 2);
}

function clearRemoteTiles() {
  for (const key of [...tiles.keys()]) if (key !== "self") removeTile(key);
}

/**
 * @param {HTMLMediaElement} element
 * @param {MediaStream | null} stream
 */
function play(element, stream) {
  element.srcObject = stream;
  if (stream) element.play().catch(() => needSoundUnlock());
}

let soundLocked = false;
function needSoundUnlock() {
  if (soundLocked) return;
  soundLocked = true;
  showStatus("Click or tap anywhere to turn on the sound.", { level: "warn", code: "autoplay" });
  document.addEventListener("click", () => {
    soundLocked = false;
    for (const el of document.querySelectorAll("audio")) el.play().catch(() => {});
    if (els.status.dataset.code === "autoplay") showStatus("");
  }, { once: true });
}

function renderSelf() {
  const tile = tileFor("self", `${els.name.value || "me"} (you)`);
  tile.classList.add("self");
  tile.dataset.state = "connected";
  const local = session.media.describe();
  tile.classList.toggle("sharing", local.sharing);
  const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
  const { video: track } = session.media.tracks;
  const current = /** @type {MediaStream | null} */ (video.srcObject);
  if (current?.getVideoTracks()[0] !== track) play(video, track ? new MediaStream([track]) : null);
  const flags = [];
  if (!local.audio) flags.push("no mic");
  else if (local.muted) flags.push("muted");
  if (!local.video) flags.push("no camera");
  else if (local.cameraOff && !local.sharing) flags.push("camera off");
  if (local.sharing) flags.push("sharing screen");
  /** @type {HTMLElement} */ (tile.querySelector(".flags")).textContent = flags.join(" · ");
  /** @type {HTMLElement} */ (tile.querySelector(".state")).textContent = "";
  els.mute.setAttribute("aria-pressed", String(local.muted));
  els.mute.textContent = local.muted ? "Unmute" : "Mute";
  els.cameraBtn.setAttribute("aria-pressed", String(local.cameraOff));
  els.cameraBtn.textContent = local.cameraOff ? "Camera on" : "Camera off";
  els.share.setAttribute("aria-pressed", String(local.sharing));
  els.share.textContent = local.sharing ? "Stop sharing" : "Share screen";
  /** @type {HTMLButtonElement} */ (els.mute).disabled = !local.audio;
  /** @type {HTMLButtonElement} */ (els.cameraBtn).disabled = !session.media.camera;
}

const STATE_LABELS = /** @type {Record<string, string>} */ ({
  new: "waiting", connecting: "connecting…", connected: "", disconnected: "unstable…",
  failed: "reconnecting…", closed: "left",
});

/**
 * @param {import("./rtc/mesh.js").Peer} peer
 */
function renderPeer(peer) {
  const tile = tileFor(peer.id, peer.name || peer.id);
  tile.dataset.state = peer.state;
  /** @type {HTMLElement} */ (tile.querySelector(".state")).textContent =
    STATE_LABELS[peer.state] ?? peer.state;
  return tile;
}

// -- session events -----------------------------------------------------------------------

session.on("peer-added", ({ peer }) => renderPeer(peer));
session.on("peer-state", ({ peer }) => renderPeer(peer));
session.on("peer-removed", ({ peer }) => removeTile(peer.id));
session.on("stream", ({ peer, stream }) => {
  const tile = renderPeer(peer);
  play(/** @type {HTMLVideoElement} */ (tile.querySelector("video")),
    new MediaStream(stream.getVideoTracks()));
  play(/** @type {HTMLAudioElement} */ (tile.querySelector("audio")),
    new MediaStream(stream.getAudioTracks()));
});
session.on("local", () => renderSelf());
session.on("message", ({ entry }) => addChat(entry));

session.on("joined", ({ session: id, rejoin }) => {
  els.sessionLabel.textContent = `session ${id}`;
  const url = new URL(location.href);
  url.searchParams.set("session", id);
  url.searchParams.set("name", els.name.value);
  url.searchParams.delete("password");
  url.searchParams.delete("autojoin");
  history.replaceState(null, "", url);
  els.session.value = id;
  if (rejoin) {
    showStatus("Reconnected to the server: the call is back.", { level: "ok", code: "rejoined",
      ttl: 4000 });
  } else if (session.media.error) {
    showStatus(session.media.error.message, { level: "warn", code: session.media.error.code });
  } else {
    showStatus("");
  }
});

session.on("state", ({ state, delay, reason }) => {
  els.conn.dataset.state = state;
  els.conn.textContent = {
    idle: "not connected", connecting: "connecting…", joined: "connected",
    reconnecting: "reconnecting…", failed: "not connected", left: "left",
  }[/** @type {string} */ (state)] ?? state;
  if (state === "reconnecting") {
    if (delay !== undefined) {
      showCountdown((s) => `Lost the connection to the server (${reason}): reconnecting in ` +
        `${s} s… Calls already running continue meanwhile.`, delay,
      { level: "warn", code: "server-gone" });
    } else {
      showStatus("Reconnecting to the server…", { level: "warn", code: "server-gone" });
    }
  } else if (state === "connecting" && delay !== undefined) {
    showCountdown((s) => `Cannot reach the server at ${wsUrl}: is it running? Retrying in ` +
      `${s} s…`, delay, { level: "error", code: "server-unreachable" });
  } else if (state === "connecting") {
    showStatus("Connecting to the server…", { code: "connecting" });
  }
});

session.on("error", (detail) => {
  if (!detail.fatal) {
    if (detail.code === "rate-limited" || detail.code === "too-large") {
      showStatus(detail.message, { level: "warn", code: detail.code, ttl: 5000 });
    }
    if (typeof detail.code === "string" && detail.code.startsWith("sfu-")) {
      showStatus(detail.message, { level: "warn", code: detail.code }); // SFU media problem
    }
    return;
  }
  const lead = REFUSALS[detail.code];
  const text = lead ? `${lead} ${detail.message}` : detail.message;
  showStatus(text, { level: "error", code: detail.code });
  session.media.stop(); // release the camera until the user tries again
  showForm();
  if (detail.code === "bad-password") els.password.select();
});

// -- chat -----------------------------------------------------------------------------------

/** @param {any} data */
function chatText(data) {
  if (typeof data === "string") return data;
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  const json = JSON.stringify(data);
  return json.length > 300 ? `${json.slice(0, 300)}…` : json;
}

/** @param {import("./rtc/session.js").ChatEntry} entry */
function addChat(entry) {
  const li = document.createElement("li");
  li.classList.toggle("self", entry.self);
  const who = document.createElement("b");
  who.textContent = entry.self ? "you" : (entry.name || entry.from || "?");
  const time = document.createElement("time");
  time.textContent = new Date(entry.time * 1000).toLocaleTimeString([], { hour: "2-digit",
    minute: "2-digit" });
  li.append(who, document.createTextNode(chatText(entry.data)), time);
  if (entry.to && !entry.self) li.title = "private message";
  els.chatLog.append(li);
  els.chatLog.scrollTop = els.chatLog.scrollHeight;
  if (els.chat.hidden && !entry.self) {
    const count = Number(els.unread.textContent || 0) + 1;
    els.unread.textContent = String(count);
    els.unread.hidden = false;
  }
}

els.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = els.chatInput.value.trim();
  if (!text) return;
  if (session.send(text)) els.chatInput.value = "";
  else showStatus("Not connected: the message was not sent.", { level: "warn", ttl: 4000 });
});

/** @param {boolean} open */
function setChatOpen(open) {
  els.chat.hidden = !open;
  els.chatBtn.setAttribute("aria-pressed", String(open));
  if (open) {
    els.unread.hidden = true;
    els.unread.textContent = "";
    els.chatInput.focus();
  }
}
els.chatBtn.addEventListener("click", () => setChatOpen(els.chat.hidden));
els.chatClose.addEventListener("click", () => setChatOpen(false));

// -- controls -------------------------------------------------------------------------------

els.mute.addEventListener("click", () => session.setMuted(!session.media.muted));
els.cameraBtn.addEventListener("click", () => session.setCameraOff(!session.media.cameraOff));
els.share.hidden = !LocalMedia.canShareScreen();
els.share.addEventListener("click", async () => {
  if (session.media.screen) {
    session.media.stopScreenShare();
    return;
  }
  try {
    await session.media.shareScreen();
  } catch (err) {
    showStatus(describeMediaError(err, "screen").message,
      { level: "warn", code: "screen-share", ttl: 5000 });
  }
});
els.res.addEventListener("change", async () => {
  els.resolution.value = els.res.value;
  try {
    await session.media.setResolution(els.res.value);
    renderSelf();
  } catch {
    showStatus(session.media.error?.message ?? "Cannot change the resolution.",
      { level: "warn", code: "resolution", ttl: 5000 });
  }
});
els.invite.addEventListener("click", async () => {
  const url = new URL(location.href);
  url.search = new URLSearchParams({ session: session.sessionId ?? els.session.value }).toString();
  try {
    await navigator.clipboard.writeText(url.href);
    showStatus(`Invite link copied: ${url.href}`, { level: "ok", ttl: 4000 });
  } catch {
    showStatus(`Invite link: ${url.href}`, { level: "info", ttl: 15000 });
  }
});
els.leave.addEventListener("click", () => {
  session.leave();
  showForm();
  showStatus("You left the call.", { code: "left", ttl: 4000 });
});
addEventListener("pagehide", () => {
  if (session.state !== "idle" && session.state !== "left") session.signaling.leave();
});

// -- join -----------------------------------------------------------------------------------

function showForm() {
  els.form.hidden = false;
  els.call.hidden = true;
  els.controls.hidden = true;
  els.joinBtn.disabled = false;
  clearRemoteTiles();
  removeTile("self");
}

function showCall() {
  els.form.hidden = true;
  els.call.hidden = false;
  els.controls.hidden = false;
}

els.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!els.form.reportValidity()) return;
  els.joinBtn.disabled = true;
  const name = els.name.value.trim();
  try {
    localStorage.setItem("zero_nb.name", name);
  } catch {
    // private mode: not remembered
  }
  const wantVideo = els.camera.checked;
  const wantAudio = els.mic.checked;
  if (wantVideo || wantAudio) showStatus("Starting camera and microphone…", { code: "media" });
  await session.media.start({ audio: wantAudio, video: wantVideo,
    resolution: els.resolution.value, processing: query.get("processing") !== "0" });
  if (session.media.error) {
    showStatus(session.media.error.message, { level: "warn", code: session.media.error.code });
  }
  els.res.value = els.resolution.value;
  showCall();
  renderSelf();
  session.join({ session: els.session.value.trim() || undefined, name,
    password: els.password.value || undefined, token: query.get("token") || undefined });
});

function prefill() {
  const stored = (() => {
    try {
      return localStorage.getItem("zero_nb.name");
    } catch {
      return null;
    }
  })();
  els.session.value = query.get("session") ?? "";
  els.name.value = query.get("name") ?? stored ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
  els.password.value = query.get("password") ?? "";
  const res = query.get("res") ?? query.get("resolution");
  if (res && [...els.resolution.options].some((o) => o.value === res)) els.resolution.value = res;
  if (query.get("camera") === "0") els.camera.checked = false;
  if (query.get("mic") === "0") els.mic.checked = false;
  if (query.get("autojoin") === "1") els.form.requestSubmit();
}

// -- stats: level meters and a small resolution/fps line per tile ---------------------------

setInterval(async () => {
  if (session.state !== "joined" || document.hidden) return;
  const stats = await session.stats();
  for (const [id, s] of Object.entries(stats)) {
    const tile = tiles.get(id);
    if (!tile || !s) continue;
    const level = s.audio.level ?? 0; // 0..1 linear
    const meter = /** @type {HTMLElement} */ (tile.querySelector(".meter i"));
    meter.style.height = `${Math.min(100, Math.round(Math.sqrt(level) * 100))}%`;
    const v = s.video;
    /** @type {HTMLElement} */ (tile.querySelector(".info")).textContent = v.width
      ? `${v.width}×${v.height}${v.fps ? ` ${Math.round(v.fps)} fps` : ""}` +
        (s.rtt != null ? ` · ${Math.round(s.rtt * 1000)} ms` : "")
      : "";
  }
}, 1000);

prefill();
