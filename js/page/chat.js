// @ts-check
/** The page's chat panel (#chat) and its toggle button with an unread badge. */

import { h } from "../ui/dom.js";

/** @param {string} id */
const $ = (id) => /** @type {any} */ (document.getElementById(id));

/**
 * Chat/app data as a line of text.
 * @param {any} data
 */
export function chatText(data) {
  if (typeof data === "string") return data;
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  const json = JSON.stringify(data);
  return json.length > 300 ? `${json.slice(0, 300)}…` : json;
}

export class Chat {
  /**
   * @param {(text: string) => boolean} send  false: not sent (not connected)
   * @param {() => void} onNotSent
   */
  constructor(send, onNotSent) {
    this.panel = $("chat");
    this.log = $("chat-log");
    this.input = $("chat-input");
    this.unread = h("span", { class: "badge", hidden: true });
    this.button = h("button", { type: "button", id: "btn-chat", ariaPressed: "false",
      onclick: () => this.setOpen(this.panel.hidden) }, ["Chat ", this.unread]);
    $("chat-close").addEventListener("click", () => this.setOpen(false));
    $("chat-form").addEventListener("submit", (/** @type {Event} */ event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      if (send(text)) this.input.value = "";
      else onNotSent();
    });
  }

  /** @param {boolean} open */
  setOpen(open) {
    this.panel.hidden = !open;
    this.button.setAttribute("aria-pressed", String(open));
    if (open) {
      this.unread.hidden = true;
      this.unread.textContent = "";
      this.input.focus();
    }
  }

  /** @param {import("../rtc/session.js").ChatEntry} entry */
  add(entry) {
    const time = new Date(entry.time * 1000).toLocaleTimeString([], { hour: "2-digit",
      minute: "2-digit" });
    const li = h("li", { title: entry.to && !entry.self ? "private message" : "" }, [
      h("b", { textContent: entry.self ? "you" : (entry.name || entry.from || "?") }),
      chatText(entry.data), h("time", { textContent: time })]);
    li.classList.toggle("self", entry.self);
    this.log.append(li);
    this.log.scrollTop = this.log.scrollHeight;
    if (this.panel.hidden && !entry.self) {
      this.unread.textContent = String(Number(this.unread.textContent || 0) + 1);
      this.unread.hidden = false;
    }
  }
}
