// @ts-check
/**
 * Which simulcast layer each gallery tile asks for, for the page (js/page/call.js)
 * and the Conference widget alike: with a few tiles everyone gets "high"; once the grid holds
 * more than FEW_TILES, only the pinned participant and the active speaker get "high" and the
 * thumbnails "low" — the receiver then decodes a quarter of the pixels per thumbnail.
 */

/** More tiles than this (you included) and the others become thumbnails. */
export const FEW_TILES = 4;

/**
 * The layer for every remote tile.
 * @param {string[]} keys  the remote tiles
 * @param {number} count  tiles in the grid, yours included
 * @param {string | null} pinned
 * @param {string | null} active
 * @returns {Map<string, "low" | "high">}
 */
export function galleryLayers(keys, count, pinned, active) {
  const crowded = count > FEW_TILES;
  return new Map(keys.map((key) => [key,
    !crowded || key === pinned || key === active ? "high" : "low"]));
}

/** Asks for each tile's layer when the grid changes; asks again only when a choice changes. */
export class LayerPolicy {
  /** @param {(key: string, layer: "low" | "high") => unknown} setLayer */
  constructor(setLayer) {
    this.setLayer = setLayer;
    /** @type {Map<string, string>} what was asked per tile */
    this.asked = new Map();
  }

  /** @param {import("./tiles.js").TileGrid} grid */
  apply(grid) {
    const remote = [...grid.tiles.values()].filter((t) => !t.local).map((t) => t.key);
    const want = galleryLayers(remote, grid.tiles.size, grid.pinned, grid.active);
    for (const key of [...this.asked.keys()]) if (!want.has(key)) this.asked.delete(key);
    for (const [key, layer] of want) {
      if (this.asked.get(key) === layer) continue;
      this.asked.set(key, layer);
      Promise.resolve(this.setLayer(key, layer)).catch(() => {}); // a gone peer: nothing to do
    }
  }

  /** Ask again from scratch (e.g. new subscriptions: they keep their own layer otherwise). */
  reset() {
    this.asked.clear();
  }
}
