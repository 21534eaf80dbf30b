// @ts-check
/**
 * The page's join form (#join-form): prefilled from the URL query and the remembered name;
 * on submit it starts the camera/microphone and joins.
 *
 * URL query: session, name, password, autojoin=1, res=VGA|HD|FullHD, camera=0, mic=0,
 * processing=0 (no echo cancellation / noise suppression / auto gain), token, datasaver=1
 * (send at most 150 kbit/s at half resolution; the "More" menu switches it live).
 * The token (the server's access token, in the link the server prints) is kept for this tab
 * (sessionStorage: a reload still joins) and dropped from the address bar.
 */

const TOKEN_KEY = "zero_nb.token";

/**
 * The server's access token: from the link, else the one this tab kept.
 * @param {URLSearchParams} query
 * @returns {string | undefined}
 */
export function pageToken(query) {
  let token = query.get("token");
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else token = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    // storage blocked: the token lives as long as the page
  }
  if (query.has("token")) { // out of the address bar: no screenshot or shoulder shows it
    const url = new URL(location.href);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url);
  }
  return token || undefined;
}

/** @param {string} id */
const $ = (id) => /** @type {any} */ (document.getElementById(id));

/**
 * The signaling WebSocket next to the page at `href`: `ws` resolved against the page's own
 * URL, so the page also works under a path prefix (jupyter-server-proxy's `.../proxy/PORT/`).
 * @param {string} href
 */
export function socketUrl(href) {
  const url = new URL("ws", href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class JoinForm {
  /**
   * @param {URLSearchParams} query
   * @param {(form: JoinForm) => Promise<void>} onSubmit
   */
  constructor(query, onSubmit) {
    this.query = query;
    this.token = pageToken(query);
    this.form = /** @type {HTMLFormElement} */ ($("join-form"));
    this.session = $("f-session");
    this.name = $("f-name");
    this.password = $("f-password");
    this.camera = $("f-camera");
    this.mic = $("f-mic");
    this.resolution = $("f-resolution");
    this.button = $("join-btn");
    this.form.addEventListener("submit", async (/** @type {Event} */ event) => {
      event.preventDefault();
      if (!this.form.reportValidity()) return;
      this.button.disabled = true;
      try {
        localStorage.setItem("zero_nb.name", this.name.value.trim());
      } catch {
        // private mode: not remembered
      }
      await onSubmit(this);
    });
  }

  /** What `session.join` takes. */
  joinOptions() {
    return { session: this.session.value.trim() || undefined, name: this.name.value.trim(),
      password: this.password.value || undefined, token: this.token,
      host_token: this.query.get("host_token") || undefined }; // ?host_token=: join as host
  }

  /** Media options for `media.start`. */
  mediaOptions() {
    return { audio: this.mic.checked, video: this.camera.checked,
      resolution: this.resolution.value, processing: this.query.get("processing") !== "0",
      dataSaver: this.query.get("datasaver") === "1" };
  }

  /** @param {boolean} visible */
  show(visible) {
    this.form.hidden = !visible;
    if (visible) this.button.disabled = false;
  }

  prefill() {
    const q = this.query;
    let stored = null;
    try {
      stored = localStorage.getItem("zero_nb.name");
    } catch {
      // private mode
    }
    this.session.value = q.get("session") ?? "";
    this.name.value = q.get("name") ?? stored ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
    this.password.value = q.get("password") ?? "";
    const res = q.get("res") ?? q.get("resolution");
    const options = [...this.resolution.options].map((o) => o.value);
    if (res && options.includes(res)) this.resolution.value = res;
    if (q.get("camera") === "0") this.camera.checked = false;
    if (q.get("mic") === "0") this.mic.checked = false;
    if (q.get("autojoin") === "1") this.form.requestSubmit();
  }
}
