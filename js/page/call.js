// @ts-check
/**
 * The page's call view: the shared tile grid (js/ui/tiles.js) fed from a Session — your own
 * tile first, one per remote peer, streams, states, level meters, per-tile info and the
 * stats line, refreshed once a second from getStats.
 */

import { LayerPolicy } from "../ui/layers.js";
import { linearToDb, mediaFlags, TileGrid } from "../ui/tiles.js";
import { SenderControl } from "../rtc/send_quality.js";
import { Rates, sendingInfo, StatsLine, tileInfo } from "../ui/stats.js";

/** How to add the E2EE passphrase on this page (under "encrypted — no key"). */
export const NO_KEY_HINT = "add #e2ee=the passphrase to this page's address and reload";

export class CallView {
  /**
   * @param {import("../rtc/session.js").Session} session
   * @param {HTMLElement} stage  where the grid and the stats line go
   * @param {{selfName: () => string, onBlocked: () => void}} options
   */
  constructor(session, stage, options) {
    this.session = session;
    this.selfName = options.selfName;
    // layer policy hook (js/ui/layers.js): thumbnails "low", the pinned and active one "high"
    this.layers = new LayerPolicy((id, layer) => {
      const topology = session.topology;
      return topology && "setLayer" in topology ? topology.setLayer(id, layer) : undefined;
    });
    this.grid = new TileGrid({ onBlocked: options.onBlocked,
      onChange: (grid) => this.layers.apply(grid), noKeyHint: NO_KEY_HINT });
    this.stats = new StatsLine();
    this.rates = new Rates();
    this.sending = new SenderControl(session); // quality hook: resolution / data-saver caps
    stage.append(this.grid.el, this.stats.el);
    /** @param {{peer: import("../rtc/peer.js").RemotePeer}} d */
    const render = ({ peer }) => this.renderPeer(peer);
    session.on("peer-added", render);
    session.on("peer-state", render);
    session.on("e2ee", render);
    session.on("peer-media", render); // muted / camera off on the peer's tile
    session.on("peer-removed", ({ peer }) => this.grid.remove(peer.id));
    session.on("stream", ({ peer, stream }) => this.renderPeer(peer).show(stream));
    session.on("local", () => this.renderSelf());
    session.klass.on("class", () => this.renderClass()); // hand badges, host, spotlight pin
    this._spotlit = false; // the pin is the host's spotlight, not the user's click
    this._timer = setInterval(() => this.refreshStats(), 1000);
  }

  /** @param {import("../rtc/peer.js").RemotePeer} peer */
  renderPeer(peer) {
    const tile = this.grid.tile(peer.id);
    tile.update({ name: peer.name || peer.id, state: peer.state, e2ee: peer.e2ee ?? null,
      flags: [...classFlags(this.session.klass, peer.id), ...mediaFlags(peer.media)] });
    return tile;
  }

  /** Hand and host badges on every tile; the host's spotlight pins its tile here too. */
  renderClass() {
    for (const peer of this.session.peers.values()) this.renderPeer(peer);
    const spot = this.session.klass.spotlight;
    const key = spot === this.session.klass.self ? "self" : spot;
    if (key !== null && this.grid.get(key) && this.grid.pinned !== key) this.grid.pin(key);
    if (key === null && this.grid.pinned !== null && this._spotlit) this.grid.pin(null);
    this._spotlit = key !== null;
  }

  renderSelf() {
    const tile = this.grid.tile("self", { local: true });
    const local = this.session.media.describe();
    const flags = [];
    if (!local.audio) flags.push("no mic");
    else if (local.muted) flags.push("muted");
    if (!local.video) flags.push("no camera");
    else if (local.cameraOff && !local.sharing) flags.push("camera off");
    if (local.sharing) flags.push("sharing screen");
    tile.update({ name: `${this.selfName() || "me"} (you)`, state: "connected", flags });
    tile.el.classList.toggle("sharing", local.sharing);
    const track = this.session.media.tracks.video;
    if (tile.stream?.getVideoTracks()[0] !== (track ?? undefined)) {
      tile.show(track ? new MediaStream([track]) : null);
    }
  }

  /** Level meters, tile info lines and the stats line from one round of getStats. */
  async refreshStats() {
    const session = this.session;
    if (session.state !== "joined" || document.hidden) return;
    const stats = await session.stats();
    const rows = [];
    for (const [id, s] of Object.entries(stats)) {
      const tile = this.grid.get(id);
      if (!tile || !s) continue;
      this.grid.setLevel(id, linearToDb(s.audio.level));
      tile.update({ info: tileInfo(s) });
      rows.push({ name: session.peers.get(id)?.name ?? id, fps: s.video.fps,
        kbps: this.rates.kbps(id, s), rtt_ms: s.rtt != null ? s.rtt * 1000 : null });
    }
    this.stats.set(rows);
    // quality hook: caps re-applied (new peers, re-publish), your tile says what you send
    await this.sending.apply();
    const sent = await this.sending.stats();
    const kbps = this.rates.rate("self", sent.bytesSent);
    this.grid.get("self")?.update({ info: sendingInfo(sent, kbps) });
  }

  /** Every tile goes (back to the join form). */
  clear() {
    this.grid.clear();
    this.stats.set([]);
  }
}

/**
 * "host" and "✋ N" (N: place in the queue of raised hands) for a participant.
 * @param {import("../rtc/classroom.js").ClassState} klass
 * @param {string} id
 */
export function classFlags(klass, id) {
  const flags = [];
  if (klass.hosts.includes(id)) flags.push("host");
  const place = klass.handPlace(id);
  if (place) flags.push(`✋ ${place}`);
  return flags;
}
