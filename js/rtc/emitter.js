// @ts-check
/**
 * A typed EventTarget: `emit(type, detail)` dispatches a CustomEvent, `on(type, fn)` listens
 * and returns the function that removes the listener (so shells can clean up in one call).
 */

export class Emitter extends EventTarget {
  /**
   * @param {string} type
   * @param {any} [detail]
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to `type`; the callback receives the event's `detail`.
   * @param {string} type
   * @param {(detail: any) => void} callback
   * @returns {() => void} removes the listener
   */
  on(type, callback) {
    /** @param {Event} event */
    const listener = (event) => callback(/** @type {CustomEvent} */ (event).detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }
}
