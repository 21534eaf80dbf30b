// @ts-check
/**
 * The standalone call page served by the signaling server at `/`: a shell around
 * {@link Session} (js/rtc/session.js) built from the UI modules the Conference widget uses
 * too (js/ui/: tiles, controls, stats and status lines) plus the page's own join form and
 * chat (js/page/). URL query: see js/page/join.js; server=ws://... overrides the server.
 * Test hook: `window.zeroNb` is the Session (snapshot(), stats(), send(), ...).
 */

import { CallView } from "./page/call.js";
import { Chat } from "./page/chat.js";
import { JoinForm, socketUrl } from "./page/join.js";
import { fragmentPassphrase } from "./rtc/e2ee.js";
import { Session } from "./rtc/session.js";
import { Controls } from "./ui/controls.js";
import { h } from "./ui/dom.js";
import { StatusLine } from "./ui/status.js";

/** Page wording for the server's join refusals; the server's own message follows. */
const REFUSALS = /** @type {Record<string, string>} */ ({
  "bad-password": "Wrong password for this session.",
  "session-full": "This session is full.",
  "server-full": "The server is full.",
  "no-such-session": "This session does not exist.",
  "forbidden-origin": "This page's site may not use this server.",
  "sfu-unsupported": "",
});

const CONNECTION_LABELS = /** @type {Record<string, string>} */ ({
  idle: "not connected", connecting: "connecting…", joined: "connected",
  reconnecting: "reconnecting…", failed: "not connected", left: "left",
});

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

class CallPage {
  /** @param {URLSearchParams} query */
  constructor(query) {
    this.wsUrl = query.get("server") || socketUrl(location.href);
    // E2EE hook: the passphrase comes from the URL fragment (#e2ee=...), never sent to a server
    this.session = new Session({ server: this.wsUrl, e2ee: fragmentPassphrase() });
    this.status = new StatusLine($("status"));
    this.form = new JoinForm(query, () => this.join());
    this.chat = new Chat((text) => this.session.send(text), () => this.status.show(
      "Not connected: the message was not sent.", { level: "warn", ttl: 4000 }));
    const invite = h("button", { type: "button", id: "btn-invite", textContent: "Copy link",
      onclick: () => this.copyInvite() });
    this.controls = new Controls(this.session.media, { ids: true, extra: [this.chat.button],
      menuExtra: [invite], onChange: () => {
        this.call.renderSelf();
        this.session.announceMedia(); // the others' tiles show our mute / camera off
      },
      onLeave: () => this.leave(),
      onError: (message, code) => this.status.show(message, { level: "warn", code,
        ttl: 5000 }) });
    $("controls-bar").append(this.controls.el, this.handButton());
    this.call = new CallView(this.session, $("stage"), { selfName: () => this.form.name.value,
      onBlocked: () => this.needSoundUnlock() });
    this.soundLocked = false;
    /** @type {ReturnType<typeof setInterval> | undefined} the breakout banner's clock */
    this._breakoutTimer = undefined;
    this.wire();
  }

  wire() {
    const session = this.session;
    session.on("local", () => this.controls.update());
    session.on("message", ({ entry }) => this.chat.add(entry));
    session.on("joined", (detail) => this.onJoined(detail));
    session.on("state", (detail) => this.onState(detail));
    session.on("error", (detail) => this.onError(detail));
    session.klass.on("muted", () => this.status.show("A host muted your microphone: unmute " +
      "when you want to speak.", { level: "warn", code: "muted-by-host" }));
    session.klass.on("removed", ({ reason }) => this.status.show("A host removed you from " +
      `the session${reason ? `: ${reason}` : ""}.`, { level: "warn", code: "removed" }));
    session.klass.on("breakout", () => this.renderBreakout());
    session.klass.on("broadcast", ({ text }) => this.status.show(`📣 ${text}`,
      { level: "info", code: "broadcast" }));
    session.on("moved", ({ group }) => this.status.show(group ? `You are in breakout room ` +
      `${group}.` : "You are back in the class.", { code: group ? "moved" : "gathered",
      ttl: 5000 }));
    session.media.on("ended", ({ message }) => this.status.show(message,
      { level: "warn", code: "device-lost" }));
    addEventListener("pagehide", () => {
      if (session.state !== "idle" && session.state !== "left") session.signaling.leave();
    });
  }

  /** The breakout banner: our group and the time left, ticking (hidden in the class). */
  renderBreakout() {
    const banner = $("breakout");
    clearInterval(this._breakoutTimer);
    const klass = this.session.klass;
    banner.hidden = !klass.group;
    banner.dataset.group = klass.group ?? "";
    if (!klass.group) return;
    const tick = () => {
      const left = klass.endsAt === null ? null
        : Math.max(0, Math.round((klass.endsAt - Date.now()) / 1000));
      banner.dataset.left = left === null ? "" : String(left);
      const clock = left === null ? "" : ` · ${Math.floor(left / 60)}:` +
        `${String(left % 60).padStart(2, "0")} left`;
      banner.textContent = `Breakout room ${klass.group}${clock}`;
    };
    tick();
    if (klass.endsAt !== null) this._breakoutTimer = setInterval(tick, 1000);
  }

  /** The raise-hand button (key: H); its label shows our place in the queue. */
  handButton() {
    const button = document.createElement("button");
    button.id = "hand";
    button.type = "button";
    button.title = "Raise or lower your hand (H)";
    const klass = this.session.klass;
    const label = () => {
      const place = klass.self ? klass.handPlace(klass.self) : 0;
      button.textContent = place ? `✋ Lower hand (${place})` : "✋ Raise hand";
      button.setAttribute("aria-pressed", String(place > 0));
    };
    button.addEventListener("click", () => klass.toggleHand());
    addEventListener("keydown", (event) => {
      const target = /** @type {HTMLElement | null} */ (event.target);
      if (event.key.toLowerCase() === "h" && !event.ctrlKey && !event.metaKey &&
          !(target && /^(INPUT|TEXTAREA)$/.test(target.tagName))) klass.toggleHand();
    });
    klass.on("class", label);
    label();
    return button;
  }

  async join() {
    const media = this.session.media;
    const options = this.form.mediaOptions();
    if (options.audio || options.video) {
      this.status.show("Starting camera and microphone…", { code: "media" });
    }
    await media.start(options);
    if (media.error) this.status.show(media.error.message, { level: "warn", code: media.error.code });
    this.showCall(true);
    this.controls.update();
    this.call.renderSelf();
    this.session.join(this.form.joinOptions());
  }

  leave() {
    this.session.leave();
    this.showCall(false);
    this.status.show("You left the call.", { code: "left", ttl: 4000 });
  }

  /** @param {boolean} inCall */
  showCall(inCall) {
    this.form.show(!inCall);
    $("call").hidden = !inCall;
    $("controls-bar").hidden = !inCall;
    if (!inCall) this.call.clear();
  }

  /** @param {{session: string, rejoin: boolean, parent?: string | null}} detail */
  onJoined({ session: id, rejoin, parent }) {
    $("session-label").textContent = `session ${id}`;
    const url = new URL(location.href);
    // a breakout group's page keeps the class's link: reloaded, it lands in its group
    url.searchParams.set("session", parent ?? id);
    url.searchParams.set("name", this.form.name.value);
    url.searchParams.delete("password");
    url.searchParams.delete("autojoin");
    history.replaceState(null, "", url);
    this.form.session.value = parent ?? id;
    const error = this.session.media.error;
    if (rejoin) {
      this.status.show("Reconnected to the server: the call is back.", { level: "ok",
        code: "rejoined", ttl: 4000 });
    } else if (error) {
      this.status.show(error.message, { level: "warn", code: error.code });
    } else {
      this.status.show("");
    }
  }

  /** @param {{state: string, delay?: number, reason?: string}} detail */
  onState({ state, delay, reason }) {
    const conn = $("conn");
    conn.dataset.state = state;
    conn.textContent = CONNECTION_LABELS[state] ?? state;
    if (state === "reconnecting" && delay !== undefined) {
      this.status.countdown((s) => `Lost the connection to the server (${reason}): ` +
        `reconnecting in ${s} s… Calls already running continue meanwhile.`, delay,
      { level: "warn", code: "server-gone" });
    } else if (state === "reconnecting") {
      this.status.show("Reconnecting to the server…", { level: "warn", code: "server-gone" });
    } else if (state === "connecting" && delay !== undefined) {
      this.status.countdown((s) => `Cannot reach the server at ${this.wsUrl}: is it running? ` +
        `Retrying in ${s} s…`, delay, { level: "error", code: "server-unreachable" });
    } else if (state === "connecting") {
      this.status.show("Connecting to the server…", { code: "connecting" });
    }
  }

  /** @param {{code: string, message: string, fatal: boolean}} detail */
  onError(detail) {
    const { code, message } = detail;
    if (!detail.fatal) {
      if (code === "rate-limited" || code === "too-large") {
        this.status.show(message, { level: "warn", code, ttl: 5000 });
      } else if (typeof code === "string" && code.startsWith("sfu-")) {
        this.status.show(message, { level: "warn", code }); // SFU media problem
      }
      return;
    }
    const lead = REFUSALS[code];
    const text = code === "unauthorized" ? this.tokenAdvice()
      : lead ? `${lead} ${message}` : message;
    this.status.show(text, { level: "error", code });
    this.session.media.stop(); // release the camera until the user tries again
    this.showCall(false);
    if (code === "bad-password") this.form.password.select();
  }

  /** What to do about a refused token: the page either had none or a stale one. */
  tokenAdvice() {
    return this.form.token
      ? "The access token in this link is wrong (the server may have restarted with a new "
        + "one): ask for a fresh link, or open the one the server prints now."
      : "This server needs its access token: open the link the server printed (it ends in "
        + "?token=…: `zero-nb serve`, `%zero serve` or server.page_url), not just its address.";
  }

  async copyInvite() {
    const url = new URL(location.href);
    /** @type {Record<string, string>} */
    const query = { session: this.session.sessionId ?? this.form.session.value };
    if (this.form.token) query.token = this.form.token; // guests need it as much as we do
    url.search = new URLSearchParams(query).toString();
    try {
      await navigator.clipboard.writeText(url.href);
      this.status.show(`Invite link copied: ${url.href}`, { level: "ok", ttl: 4000 });
    } catch {
      this.status.show(`Invite link: ${url.href}`, { level: "info", ttl: 15000 });
    }
  }

  needSoundUnlock() {
    if (this.soundLocked) return;
    this.soundLocked = true;
    this.status.show("Click or tap anywhere to turn on the sound.", { level: "warn",
      code: "autoplay" });
    document.addEventListener("click", () => {
      this.soundLocked = false;
      for (const el of document.querySelectorAll("audio")) el.play().catch(() => {});
      if (this.status.code === "autoplay") this.status.show("");
    }, { once: true });
  }
}

const page = new CallPage(new URLSearchParams(location.search));
/** Test hook: the session object (snapshot(), stats(), peers, messages). */
// @ts-ignore - deliberate global
window.zeroNb = page.session;
page.form.prefill();
