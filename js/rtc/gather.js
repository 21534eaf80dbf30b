// @ts-check
/** Waiting for ICE gathering: for peers that take no trickled candidates (Janus as we use
 * it, the kernel's local link), every candidate goes inside the SDP. */

/**
 * Resolve once ICE gathering is complete (candidates are then inside localDescription), or
 * after `timeoutMs` with whatever was gathered by then.
 * @param {RTCPeerConnection} pc
 * @param {number} [timeoutMs]
 */
export function gathered(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}
