// @ts-check
/** Small DOM helpers shared by the page and the widgets. */

/**
 * An element with properties (`class`, `onclick`-style listeners, anything else assigned)
 * and children.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {(Node | string)[]} [children]
 * @returns {any}
 */
export function h(tag, props = {}, children = []) {
  const el = /** @type {any} */ (document.createElement(tag));
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el[k] = v;
  }
  for (const child of children) el.append(child);
  return el;
}

/**
 * Play `stream` in `element`; `onBlocked` runs if autoplay was refused (no user gesture yet).
 * @param {HTMLMediaElement} element
 * @param {MediaStream | null} stream
 * @param {() => void} [onBlocked]
 */
export function play(element, stream, onBlocked) {
  if (element.srcObject === stream) return;
  element.srcObject = stream;
  if (stream) element.play?.().catch(() => onBlocked?.());
}

/**
 * A <video> for `stream`; muted unless `audible` (autoplay needs muted without a gesture,
 * so a refused autoplay falls back to muted).
 * @param {MediaStream | null} stream
 * @param {boolean} [audible]
 */
export function videoElement(stream, audible = false) {
  const video = h("video", { autoplay: true, playsInline: true, muted: !audible });
  video.srcObject = stream;
  video.play?.().catch(() => {
    video.muted = true;
    video.play().catch(() => {});
  });
  return video;
}
