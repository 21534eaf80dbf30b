// @ts-check
/**
 * One status message at a time (page and widgets): text, a level for styling, a code for
 * tests (`data-code`), an optional time to live and an optional live "in N s" countdown.
 */

import { h } from "./dom.js";

/** @typedef {{level?: 'info'|'ok'|'warn'|'error', code?: string, ttl?: number}} StatusOptions */

export class StatusLine {
  /** @param {HTMLElement} [el]  an existing element (the page's #status), else a new one */
  constructor(el) {
    this.el = el ?? h("div", { class: "znb-status", role: "status" });
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this._countdown = undefined;
  }

  /** The code of the message on show ("" if none). */
  get code() {
    return this.el.dataset.code ?? "";
  }

  /**
   * Show one message ("" hides it); `ttl` hides it after that many ms.
   * @param {string} text
   * @param {StatusOptions} [options]
   */
  show(text, options = {}) {
    clearTimeout(this._timer);
    clearInterval(this._countdown);
    this.el.textContent = text;
    this.el.dataset.level = options.level ?? "info";
    this.el.dataset.code = options.code ?? "";
    this.el.hidden = !text;
    if (options.ttl) this._timer = setTimeout(() => this.show(""), options.ttl);
  }

  /**
   * A message with a live countdown to `delay` ms from now.
   * @param {(seconds: number) => string} render
   * @param {number} delay
   * @param {StatusOptions} options
   */
  countdown(render, delay, options) {
    const end = Date.now() + delay;
    this.show(render(Math.ceil(delay / 1000)), options);
    this._countdown = setInterval(() => {
      this.el.textContent = render(Math.max(0, Math.ceil((end - Date.now()) / 1000)));
    }, 250);
  }

  dispose() {
    this.show("");
  }
}
