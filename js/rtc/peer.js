// @ts-check
/**
 * A remote participant as both topologies see it: id, name, connection state, the
 * RTCPeerConnection its media arrives on, the MediaStream to show, statistics. How that
 * connection is negotiated is someone else's job (mesh: negotiation.js; SFU: sfu.js).
 *
 * Events on the peer (detail): state {state} · stream {stream} · media {media}. The same
 * changes are announced on the topology that owns it: peer-state {peer, state} ·
 * stream {peer, stream} · peer-media {peer, media}.
 */

import { Emitter } from "./emitter.js";

/**
 * @typedef {'new'|'connecting'|'connected'|'disconnected'|'failed'|'closed'} PeerState
 * @typedef {{audio: MediaStreamTrack | null, video: MediaStreamTrack | null}} LocalTracks
 * @typedef {{audio: boolean | null, video: boolean | null, e2ee: boolean}} PeerMedia
 *   what a peer says it sends: false = muted / camera off, null = unknown (never said);
 *   e2ee: its media is end-to-end encrypted
 */

export const KINDS = /** @type {const} */ (["audio", "video"]);

/**
 * A peer's media state from signaling (`peer-media`, a roster row's `media`); anything that
 * is not a boolean reads as unknown.
 * @param {any} wire
 * @returns {PeerMedia}
 */
export function readMedia(wire) {
  const flag = (/** @type {any} */ v) => (typeof v === "boolean" ? v : null);
  return { audio: flag(wire?.audio), video: flag(wire?.video), e2ee: wire?.e2ee === true };
}

/**
 * Send `track` on every live sender of `kind` in `pc` (replaceTrack: no renegotiation).
 * @param {RTCPeerConnection} pc
 * @param {'audio'|'video'} kind
 * @param {MediaStreamTrack | null} track
 */
export async function replaceKindTrack(pc, kind, track) {
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.receiver.track.kind === kind && transceiver.currentDirection !== "stopped") {
      await transceiver.sender.replaceTrack(track);
    }
  }
}

/**
 * Stats of every peer as {peer_id: stats | null} (null where getStats failed).
 * @param {Iterable<RemotePeer>} peers
 */
export async function peersStats(peers) {
  /** @type {Record<string, any>} */
  const out = {};
  await Promise.all([...peers].map(async (peer) => {
    try {
      out[peer.id] = await peer.stats();
    } catch {
      out[peer.id] = null;
    }
  }));
  return out;
}

/**
 * One getStats report as plain data: inbound video/audio, outbound per kind, RTT.
 * @param {RTCStatsReport} report
 */
export function summarizeStats(report) {
  /** @type {Record<string, any>} */
  const out = { video: {}, audio: {}, sent: {}, rtt: null };
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out.video = { framesDecoded: s.framesDecoded ?? 0, framesReceived: s.framesReceived ?? 0,
        framesDropped: s.framesDropped ?? 0, width: s.frameWidth ?? null,
        height: s.frameHeight ?? null, fps: s.framesPerSecond ?? null,
        bytesReceived: s.bytesReceived ?? 0, packetsLost: s.packetsLost ?? 0,
        jitter: s.jitter ?? null };
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.audio = { level: s.audioLevel ?? null, samples: s.totalSamplesReceived ?? 0,
        bytesReceived: s.bytesReceived ?? 0, packetsLost: s.packetsLost ?? 0,
        jitter: s.jitter ?? null };
    } else if (s.type === "outbound-rtp") {
      out.sent[s.kind] = { bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0,
        framesEncoded: s.framesEncoded ?? undefined, width: s.frameWidth ?? undefined,
        height: s.frameHeight ?? undefined };
    } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      out.rtt = s.currentRoundTripTime ?? out.rtt;
    }
  });
  return out;
}

/** Close a connection, detaching its handlers first (closing twice is harmless). */
export function closePc(/** @type {RTCPeerConnection | null} */ pc) {
  if (!pc) return;
  pc.onicecandidate = pc.onconnectionstatechange = null;
  try {
    pc.close();
  } catch {
    // already closed
  }
}

export class RemotePeer extends Emitter {
  /**
   * @param {Emitter} owner  the topology: it re-announces this peer's changes
   * @param {string} id
   * @param {string} name
   */
  constructor(owner, id, name) {
    super();
    this.owner = owner;
    this.id = id;
    this.name = name;
    /** @type {PeerState} */
    this.state = "new";
    /** @type {string | null} E2EE: "ok", "no-key" or "wrong-key" (set by js/rtc/e2ee.js) */
    this.e2ee = null;
    /** @type {string | null} SFU: the simulcast layer Janus says it sends (sfu_subscriber.js) */
    this.layer = null;
    /** @type {PeerMedia} muted / camera off as the peer announces it (set by the Session) */
    this.media = readMedia(null);
    /** @type {RTCPeerConnection | null} the connection this peer's media arrives on */
    this.pc = null;
    /** Remote audio + video of the current connection (a new stream per connection). */
    this.stream = new MediaStream();
    this.joinedAt = Date.now();
    /** @type {number | null} */
    this.connectedAt = null;
    this.closed = false;
  }

  /** @param {PeerState} state */
  setState(state) {
    if (state === this.state || this.closed) return;
    this.state = state;
    if (state === "connected") this.connectedAt = Date.now();
    this.emit("state", { state });
    this.owner.emit("peer-state", { peer: this, state });
  }

  /** @param {PeerMedia} media  what the peer now says it sends */
  setMedia(media) {
    if (media.audio === this.media.audio && media.video === this.media.video &&
      media.e2ee === this.media.e2ee) return;
    this.media = media;
    this.emit("media", { media });
    this.owner.emit("peer-media", { peer: this, media });
  }

  /**
   * Make `pc` this peer's connection (the previous one is closed); its state is ours.
   * @param {RTCPeerConnection} pc
   */
  usePc(pc) {
    this.dropPc();
    this.pc = pc;
    pc.onconnectionstatechange = () => {
      if (pc === this.pc) this.setState(/** @type {PeerState} */ (pc.connectionState));
    };
    return pc;
  }

  dropPc() {
    const pc = this.pc;
    this.pc = null;
    closePc(pc);
  }

  /** @param {MediaStream} stream  what to show and play for this peer from now on */
  setStream(stream) {
    this.stream = stream;
    this.emit("stream", { stream });
    this.owner.emit("stream", { peer: this, stream });
  }

  /**
   * Put a local track on this connection's sender of `kind` (no renegotiation).
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setTrack(kind, track) {
    if (this.pc) await replaceKindTrack(this.pc, kind, track);
  }

  /**
   * One snapshot of this connection's statistics (plain data; null before a connection).
   * `video.framesDecoded` advancing proves the remote video plays.
   */
  async stats() {
    const pc = this.pc;
    if (!pc) return null;
    return { state: this.state, layer: this.layer, ...summarizeStats(await pc.getStats()) };
  }

  close() {
    if (this.closed) return;
    this.dropPc();
    this.state = "closed";
    this.closed = true;
    for (const track of this.stream.getTracks()) track.stop();
    this.emit("state", { state: "closed" });
  }

  /** Plain data for tests and UIs. */
  describe() {
    return { peerId: this.id, name: this.name, state: this.state, media: { ...this.media },
      signalingState: this.pc?.signalingState ?? null, connectedAt: this.connectedAt,
      layer: this.layer };
  }
}
