// @ts-check
/**
 * How remote peers are reached: the topology a Session holds. Two implementations with one
 * interface — {@link Mesh} (a connection per peer, negotiated over signaling) and {@link Sfu}
 * (publish to and subscribe from a Janus VideoRoom). The server's `joined` message says which
 * one a session uses; the Session never asks which one it has.
 *
 * The interface (both classes are Emitters):
 *   kind                       "mesh" | "sfu"
 *   peers                      Map<peer_id, RemotePeer>
 *   start(joined)              the server's `joined` message (our id, the roster, sfu info)
 *   peerJoined(id, name)       a participant arrived · peerLeft(id) one left
 *   signal(message)            a relayed offer/answer/candidate
 *   setTrack(kind, track)      what we send now (replaceTrack only, never renegotiation)
 *   stats()                    {peer_id: RemotePeer.stats()}
 *   describe() / describePeers()  plain data for snapshots and tests
 *   close()                    every connection goes
 * Events (detail): peer-added {peer} · peer-removed {peer} · peer-state {peer, state}
 *   · stream {peer, stream} · error {peer, message, code?}
 */

import { Mesh } from "./mesh.js";
import { Sfu } from "./sfu.js";

/**
 * @typedef {{send: (signal: import("./negotiation.js").Signal) => any,
 *   rtcConfig?: RTCConfiguration, tracks?: import("./peer.js").LocalTracks,
 *   online?: () => boolean, e2ee?: import("./e2ee.js").E2eeLink | null}} TopologyOptions
 *   send: a signal to the server (false if it could not) · online: signals can go out now
 *   · e2ee: end-to-end encryption of media (js/rtc/e2ee.js), or null
 * @typedef {Mesh | Sfu} Topology
 */

/** The topology for each `joined.sfu.kind` ("mesh" when there is no `sfu`). */
export const TOPOLOGIES = /** @type {Record<string, new (o: TopologyOptions) => Topology>} */ ({
  mesh: Mesh,
  janus: Sfu,
});

/** `joined` names an SFU this page cannot use. */
export class UnsupportedTopology extends Error {
  /** @param {string} kind */
  constructor(kind) {
    super(`an SFU of kind ${kind}`);
    this.kind = kind;
  }
}

/**
 * The topology the server's `joined` message asks for, not started yet.
 * @param {Record<string, any>} joined
 * @param {TopologyOptions} options
 * @returns {Topology}
 */
export function topologyFor(joined, options) {
  const sfu = joined.sfu;
  const usable = !sfu || (typeof sfu.url === "string" && TOPOLOGIES[sfu.kind]);
  if (!usable) throw new UnsupportedTopology(JSON.stringify(sfu.kind ?? null));
  const make = TOPOLOGIES[sfu ? sfu.kind : "mesh"];
  const rtcConfig = { iceServers: [], ...options.rtcConfig };
  // optional server hint: the server's STUN/TURN list
  if (Array.isArray(joined.ice_servers)) rtcConfig.iceServers = joined.ice_servers;
  return new make({ ...options, rtcConfig });
}
