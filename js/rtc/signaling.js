// @ts-check
/**
 * Signaling client for wire protocol v1 (docs/protocol.md) over a WebSocket: join, relay,
 * chat, heartbeat, and automatic reconnect + re-join with exponential backoff.
 *
 * No UI and no WebRTC here. After a re-join a new `joined` arrives (event `joined` with
 * `rejoin: true`). By default the server assigns a new peer_id and callers must rebuild their
 * mesh; with `resume: true` the client asks to keep its peer_id, proving it with the
 * `resume_secret` its `joined` carried (the id is kept only if nobody holds it: compare ids).
 * Any `error` before `joined` answers our `join`: a refusal in FATAL_JOIN_ERRORS stops at
 * once (a bad session name gets `bad-message` with no `request` field). {@link setMedia}
 * says what we send (`media`: muted, camera off); every (re-)join carries the latest state.
 *
 * Events (detail):
 *   state   {state, previous, attempt?, delay?, reason?}
 *   joined  {message, rejoin}            the server's `joined` message
 *   message {message}                    any other server message (peer-joined, offer, ...)
 *   error   {code, message, request?, fatal}
 *   disconnected {reason}                the link dropped (a re-join follows unless fatal)
 */

import { Emitter } from "./emitter.js";

/**
 * @typedef {'idle'|'connecting'|'joined'|'reconnecting'|'failed'|'closed'} SignalingState
 * @typedef {{session?: string, name?: string, password?: string, token?: string,
 *            host_token?: string}} JoinRequest
 * @typedef {{type: string, [key: string]: any}} WireMessage
 * @typedef {{audio: boolean, video: boolean, e2ee?: boolean}} MediaState  false: muted /
 *   camera off / none; e2ee: what we send is end-to-end encrypted (sent only when true)
 */

/** Join refusals that retrying cannot fix: the user must change something first. */
export const FATAL_JOIN_ERRORS = new Set([
  "bad-password",
  "unauthorized",
  "session-full",
  "server-full",
  "no-such-session",
  "bad-message",
  "forbidden-origin",
]);

export class SignalingClient extends Emitter {
  /**
   * @param {string} url  ws:// or wss:// URL of the server's `/ws`
   * @param {{backoff?: [number, number], heartbeat?: [number, number], resume?: boolean,
   *          WebSocketImpl?: typeof WebSocket}} [options]
   *   backoff: first and longest delay between reconnect attempts (ms);
   *   heartbeat: ping interval and silence after which the link counts as dead (ms);
   *   resume: re-join with the same peer_id (only for callers that keep their connections)
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.backoff = options.backoff ?? [500, 8000];
    this.heartbeat = options.heartbeat ?? [4000, 9000];
    this.WebSocketImpl = options.WebSocketImpl ?? WebSocket;
    this.resume = options.resume ?? false;
    /** @type {SignalingState} */
    this.state = "idle";
    /** @type {string | null} */
    this.peerId = null;
    /** @type {string | null} */
    this.session = null;
    /** @type {string | null} the secret `joined` gave: proves our claim to peerId on re-join */
    this.resumeSecret = null;
    /** @type {WireMessage | null} */
    this.joinedMessage = null;
    /** @type {MediaState | null} what we send, as last announced (null: never said) */
    this.media = null;
    /** Successful re-joins after the first join. */
    this.rejoins = 0;
    /** @type {JoinRequest} */
    this._request = {};
    /** @type {WebSocket | null} */
    this._ws = null;
    this._attempt = 0;
    this._everJoined = false;
    this._awaitingJoin = false; // our join is sent and not yet answered on this connection
    this._stopped = true;
    this._lastSeen = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this._beatTimer = undefined;
  }

  /**
   * Connect and join; keeps re-joining after drops until {@link leave} or a fatal refusal.
   * @param {JoinRequest} request
   */
  join(request) {
    this._stop();
    this._request = { ...request };
    this._stopped = false;
    this._everJoined = false;
    this._attempt = 0;
    this.rejoins = 0;
    this.peerId = null;
    this.resumeSecret = null;
    this._connect();
  }

  /**
   * Send one message; false when the link is down (the message is dropped, not queued:
   * offers and candidates for a mesh that is about to be rebuilt must not be replayed).
   * @param {WireMessage} message
   */
  send(message) {
    const ws = this._ws;
    if (!ws || ws.readyState !== ws.OPEN || this.state !== "joined") return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /**
   * Announce what we send; only changes go out. While the link is down the next (re-)join
   * carries it. Returns false if it could not be sent now.
   * @param {MediaState} media
   */
  setMedia(media) {
    /** @type {MediaState} */
    const next = { audio: Boolean(media.audio), video: Boolean(media.video) };
    if (media.e2ee) next.e2ee = true;
    if (this.media && this.media.audio === next.audio && this.media.video === next.video &&
      Boolean(this.media.e2ee) === Boolean(next.e2ee)) {
      return true;
    }
    this.media = next;
    return this.send({ type: "media", ...next });
  }

  /** Leave the session and close the link; no reconnect. */
  leave() {
    const ws = this._ws;
    if (ws && ws.readyState === ws.OPEN) {
      try {
        ws.send(JSON.stringify({ type: "leave" }));
      } catch {
        // the link is going away anyway
      }
    }
    this._stop();
    this._setState("closed");
  }

  // -- internals --------------------------------------------------------------------------

  _stop() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._beatTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, "leaving");
      } catch {
        // already closed
      }
    }
  }

  /**
   * @param {SignalingState} state
   * @param {Record<string, any>} [extra]
   */
  _setState(state, extra = {}) {
    const previous = this.state;
    this.state = state;
    if (state !== previous || extra.delay !== undefined) {
      this.emit("state", { state, previous, ...extra });
    }
  }

  _connect() {
    if (this._stopped) return;
    this._setState(this._everJoined ? "reconnecting" : "connecting", { attempt: this._attempt });
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch (err) {
      this._fail("bad-url", `${this.url} is not a WebSocket URL (${err}): use ws://HOST:PORT/ws`);
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      this._lastSeen = Date.now();
      /** @type {WireMessage} */
      const join = { type: "join", name: this._request.name ?? "" };
      for (const key of /** @type {const} */ (["session", "password", "token", "host_token"])) {
        const value = this._request[key];
        if (value) join[key] = value;
      }
      if (this.media) join.media = this.media;
      if (this.resume && this.peerId && this.resumeSecret) {
        join.resume = this.peerId;
        join.resume_secret = this.resumeSecret;
      }
      ws.send(JSON.stringify(join));
      this._awaitingJoin = true;
      clearInterval(this._beatTimer);
      this._beatTimer = setInterval(() => this._beat(ws), this.heartbeat[0]);
    };
    ws.onmessage = (event) => {
      this._lastSeen = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to fix: the server only sends JSON
      }
      if (message && typeof message === "object" && typeof message.type === "string") {
        this._receive(message);
      }
    };
    ws.onerror = () => {}; // a close event always follows
    ws.onclose = (event) => {
      if (ws === this._ws) this._dropped(event.reason || `closed (${event.code})`);
    };
  }

  /** @param {WebSocket} ws */
  _beat(ws) {
    if (ws !== this._ws) return;
    if (Date.now() - this._lastSeen > this.heartbeat[1]) {
      // half-open TCP: no close event would come for minutes
      this._dropped("no answer from the server");
      return;
    }
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: "ping" }));
  }

  /** @param {WireMessage} message */
  _receive(message) {
    switch (message.type) {
      case "joined": {
        const rejoin = this._everJoined;
        this._everJoined = true;
        this._attempt = 0;
        if (rejoin) this.rejoins += 1;
        this._awaitingJoin = false;
        this.peerId = message.peer_id;
        this.resumeSecret = typeof message.resume_secret === "string" ? message.resume_secret
          : null;
        this.session = message.session;
        this._request.session = message.session; // a server-made session is kept on re-join
        this.joinedMessage = message;
        this._setState("joined");
        this.emit("joined", { message, rejoin });
        return;
      }
      case "error": {
        const code = String(message.code ?? "error");
        // before `joined`, any error answers our join (parse errors carry no `request`)
        const toJoin = message.request === "join" || this._awaitingJoin;
        if (toJoin && FATAL_JOIN_ERRORS.has(code)) {
          this._fail(code, String(message.message ?? code), "join");
        } else {
          this.emit("error", { code, message: String(message.message ?? code),
            request: message.request, fatal: false });
        }
        return;
      }
      case "moved": // a breakout moved us (same peer_id): a reconnect joins where we are now
        this.resumeSecret = typeof message.resume_secret === "string" ? message.resume_secret
          : null;
        this.session = message.session;
        this._request.session = message.session;
        this.joinedMessage = message;
        this.emit("moved", { message });
        return;
      case "pong":
        return;
      default:
        this.emit("message", { message });
    }
  }

  /**
   * @param {string} code
   * @param {string} text
   * @param {string} [request]
   */
  _fail(code, text, request) {
    this._stop();
    this._setState("failed", { reason: text });
    this.emit("error", { code, message: text, request, fatal: true });
  }

  /** @param {string} reason */
  _dropped(reason) {
    const ws = this._ws;
    this._ws = null;
    clearInterval(this._beatTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    if (this._stopped) return;
    if (this.state === "joined") this.emit("disconnected", { reason });
    const [first, longest] = this.backoff;
    const base = Math.min(first * 2 ** this._attempt, longest);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random())); // jitter: no stampede
    this._attempt += 1;
    this._setState(this._everJoined ? "reconnecting" : "connecting",
      { attempt: this._attempt, delay, reason });
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }
}
