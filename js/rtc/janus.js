// @ts-check
/**
 * A small client of Janus' WebSocket API (subprotocol "janus-protocol") for the VideoRoom
 * plugin; the browser twin of zero_nb/sfu/janus.py.
 *
 * One JanusSession is one WebSocket and one Janus session. Requests carry a transaction and
 * resolve with their reply; plugin messages answered asynchronously ("ack" first, the "event"
 * later) resolve with that event. Events that answer nothing (publishers, webrtcup, hangup…)
 * go to the handle's `onEvent(data, jsep)` / `onJanus(message)`. A keepalive goes out every
 * 20 s (Janus drops a silent session after 60 s). When the socket closes, pending requests
 * reject with JanusError and `onClose(reason)` is called once.
 */

export const VIDEOROOM = "janus.plugin.videoroom";
export const JANUS_TIMING = { keepalive: 20000, request: 10000 };
/** VideoRoom error codes acted on */
export const JANUS_CODES = { NO_SUCH_ROOM: 426, NO_SUCH_FEED: 428 };

export class JanusError extends Error {
  /**
   * @param {string} message
   * @param {number | null} [code]  Janus' (or the plugin's) error code
   */
  constructor(message, code = null) {
    super(message);
    this.name = "JanusError";
    this.code = code;
  }
}

/** @param {Record<string, any>} reply */
function pluginData(reply) {
  const data = reply?.plugindata?.data ?? {};
  if (data.error_code !== undefined || data.error !== undefined) {
    throw new JanusError(data.error ?? "VideoRoom error", data.error_code ?? null);
  }
  return data;
}

export class JanusHandle {
  /**
   * @param {JanusSession} session
   * @param {number} id
   */
  constructor(session, id) {
    this.session = session;
    this.id = id;
    /** @type {((data: Record<string, any>, jsep: any) => void) | null} */
    this.onEvent = null;
    /** @type {((message: Record<string, any>) => void) | null} webrtcup, hangup, media… */
    this.onJanus = null;
  }

  /**
   * An asynchronous plugin request (join, publish, start…): resolves with {data, jsep}.
   * @param {Record<string, any>} body
   * @param {RTCSessionDescriptionInit & {trickle?: boolean} | null} [jsep]
   */
  async message(body, jsep = null) {
    /** @type {Record<string, any>} */
    const msg = { janus: "message", handle_id: this.id, body };
    if (jsep) msg.jsep = jsep;
    const reply = await this.session._send(msg, true);
    return { data: pluginData(reply), jsep: reply.jsep ?? null };
  }

  /** A synchronous plugin request (create, exists, listparticipants…): the plugin's data. */
  async request(/** @type {Record<string, any>} */ body) {
    return pluginData(await this.session._send({ janus: "message", handle_id: this.id, body }));
  }

  /** @param {RTCIceCandidateInit | null} candidate  null: gathering completed */
  trickle(candidate) {
    const msg = { janus: "trickle", handle_id: this.id,
      candidate: candidate ?? { completed: true } };
    return this.session._send(msg).catch((err) => {
      console.warn("zero_nb: Janus trickle failed:", err);
    });
  }

  async detach() {
    this.session.handles.delete(this.id);
    if (!this.session.open) return;
    try {
      await this.session._send({ janus: "detach", handle_id: this.id });
    } catch {
      // the session is going away anyway
    }
  }
}

export class JanusSession {
  /**
   * Open the WebSocket and create a session.
   * @param {string} url  ws://HOST:PORT of the Janus WebSocket transport
   * @param {{timeout?: number}} [options]
   */
  static async connect(url, options = {}) {
    const ws = new WebSocket(url, "janus-protocol");
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new JanusError(`no answer from Janus at ${url}`)),
        options.timeout ?? JANUS_TIMING.request);
      ws.onopen = () => { clearTimeout(timer); resolve(undefined); };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new JanusError(`cannot connect to Janus at ${url}`));
      };
    });
    const session = new JanusSession(url, ws);
    const reply = await session._send({ janus: "create" });
    session.id = reply.data.id;
    session._keepalive = setInterval(() => {
      session._send({ janus: "keepalive" }).catch((err) => {
        console.warn("zero_nb: Janus keepalive failed (the session may time out):", err);
      });
    }, JANUS_TIMING.keepalive);
    return session;
  }

  /**
   * @param {string} url
   * @param {WebSocket} ws
   */
  constructor(url, ws) {
    this.url = url;
    this.ws = ws;
    /** @type {number | null} */
    this.id = null;
    this.open = true;
    /** @type {Map<number, JanusHandle>} */
    this.handles = new Map();
    /** @type {Map<string, {resolve: (v: any) => void, reject: (e: any) => void,
     *   event: boolean, timer: any}>} */
    this._pending = new Map();
    /** @type {((reason: string) => void) | null} */
    this.onClose = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this._keepalive = undefined;
    this._closing = false;
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = (event) => this._closed(`the connection to Janus closed (code ${event.code})`);
    ws.onerror = () => {};
  }

  /**
   * @param {Record<string, any>} msg
   * @param {boolean} [waitEvent]  resolve with the plugin's event, not the ack
   * @returns {Promise<Record<string, any>>}
   */
  _send(msg, waitEvent = false) {
    if (!this.open) return Promise.reject(new JanusError("the connection to Janus is closed"));
    const transaction = Math.random().toString(36).slice(2) + Date.now().toString(36);
    /** @type {Record<string, any>} */
    const full = { ...msg, transaction };
    if (this.id !== null && full.janus !== "create") full.session_id = this.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(transaction);
        reject(new JanusError(`Janus did not answer '${msg.body?.request ?? msg.janus}'`));
      }, JANUS_TIMING.request);
      this._pending.set(transaction, { resolve, reject, event: waitEvent, timer });
      this.ws.send(JSON.stringify(full));
    });
  }

  /** @param {string} text */
  _receive(text) {
    /** @type {Record<string, any>} */
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const kind = msg.janus;
    const pending = msg.transaction ? this._pending.get(msg.transaction) : undefined;
    if (pending) {
      if (kind === "ack" && pending.event) return; // the event follows
      this._pending.delete(msg.transaction);
      clearTimeout(pending.timer);
      if (kind === "error") {
        pending.reject(new JanusError(msg.error?.reason ?? "Janus error", msg.error?.code));
      } else if (kind === "event" && msg.plugindata?.data?.error_code !== undefined) {
        const data = msg.plugindata.data;
        pending.reject(new JanusError(data.error ?? "VideoRoom error", data.error_code));
      } else {
        pending.resolve(msg);
      }
      return;
    }
    const handle = msg.sender !== undefined ? this.handles.get(msg.sender) : undefined;
    if (!handle) return;
    if (kind === "event") {
      handle.onEvent?.(msg.plugindata?.data ?? {}, msg.jsep ?? null);
    } else {
      handle.onJanus?.(msg);
    }
  }

  /** @param {string} reason */
  _closed(reason) {
    if (!this.open) return;
    this.open = false;
    clearInterval(this._keepalive);
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new JanusError(reason));
    }
    this._pending.clear();
    if (!this._closing) this.onClose?.(reason);
  }

  /** Attach the VideoRoom plugin: a new handle. */
  async attach(plugin = VIDEOROOM) {
    const reply = await this._send({ janus: "attach", plugin });
    const handle = new JanusHandle(this, reply.data.id);
    this.handles.set(handle.id, handle);
    return handle;
  }

  /** Destroy the Janus session (frees every handle and its media) and close the socket. */
  async close() {
    if (!this.open) return;
    this._closing = true;
    try {
      await Promise.race([this._send({ janus: "destroy" }),
        new Promise((resolve) => setTimeout(resolve, 1000))]);
    } catch {
      // closing anyway
    }
    this._closed("closed");
    try {
      this.ws.close();
    } catch {
      // already closed
    }
  }
}
