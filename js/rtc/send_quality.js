// @ts-check
/**
 * What the browser's video sender may send, and what it does send. The resolution choice
 * caps the bitrate (and scales down a camera that delivers more than asked); the data saver
 * caps it hard. Applied with `RTCRtpSender.setParameters` — no renegotiation — on every
 * connection that carries our video: each mesh peer's, or the Janus publisher's, where the
 * simulcast layers stay consistent (data saver: every layer shrinks so the top one has 240
 * lines, and they share the 150 kbit/s).
 *
 * Figures (bits/s): VGA 800 k, HD 1.5 M, Full HD 2.5 M (Chromium's own defaults are 1.7 M
 * for VGA and 2.5 M above: the menu stays under them); data saver 150 k at most 240 lines
 * (half of VGA), the kernel's `DATA_SAVER` (zero_nb/kernel_rtc/quality.py) too. An SFU
 * room's cap (`sfu.bitrate`) lowers every figure.
 */

/** Per resolution choice: the bitrate cap and the lines it is for. */
export const SEND_CAPS = /** @type {Record<string, {maxBitrate: number, height: number}>} */ ({
  VGA: { maxBitrate: 800_000, height: 480 },
  HD: { maxBitrate: 1_500_000, height: 720 },
  FullHD: { maxBitrate: 2_500_000, height: 1080 },
});

/** The data saver: this many bits/s in all, at most this many lines. */
export const DATA_SAVER = { maxBitrate: 150_000, height: 240 };

/** Chromium's lowest rate for a simulcast layer (its default minimum bitrate). */
export const MIN_LAYER_BITRATE = 30_000;

/** The top simulcast layer's rate unless a room cap or the resolution says less. */
export const TOP_LAYER_BITRATE = 1_500_000;

/**
 * @typedef {{resolution: string, dataSaver: boolean, capture?: boolean}} SendChoice
 *   capture: false for a shared screen (never scaled to the camera resolution)
 * @typedef {{rid?: string, active?: boolean, maxBitrate?: number,
 *   scaleResolutionDownBy?: number}} Encoding
 */

/**
 * Simulcast layers, highest first (Janus' default rid order "hml"): 3 layers are h, m /2,
 * l /4 at 1, 1/3 and 1/10 of `top`; 2 layers are h and l /2 at 1 and 1/5.
 * @param {number} count
 * @param {number} top  the h layer's bits/s
 * @returns {RTCRtpEncodingParameters[]}
 */
export function layerPlan(count, top) {
  return count >= 3
    ? [{ rid: "h", maxBitrate: top }, { rid: "m", maxBitrate: top / 3, scaleResolutionDownBy: 2 },
      { rid: "l", maxBitrate: top / 10, scaleResolutionDownBy: 4 }]
    : [{ rid: "h", maxBitrate: top }, { rid: "l", maxBitrate: top / 5, scaleResolutionDownBy: 2 }];
}

/**
 * The encodings a video sender should have now: one per current encoding (same order and
 * rid), with `active`, `maxBitrate` and `scaleResolutionDownBy`.
 * @param {Encoding[]} current  the sender's encodings (getParameters)
 * @param {SendChoice} choice
 * @param {number} height  lines the track delivers
 * @param {number | null} [roomCap]  the SFU room's cap (bits/s)
 * @returns {Encoding[]}
 */
export function encodingsFor(current, choice, height, roomCap = null) {
  const caps = SEND_CAPS[choice.resolution] ?? SEND_CAPS.VGA;
  const cap = (/** @type {number} */ bps) => Math.round(Math.min(bps, roomCap ?? Infinity));
  const fit = (/** @type {number} */ lines) => Math.max(1, height / lines);
  const base = choice.capture === false ? 1 : fit(caps.height);
  const plan = current.length > 1
    ? layerPlan(current.length, Math.min(caps.maxBitrate, TOP_LAYER_BITRATE))
    : [{ maxBitrate: caps.maxBitrate }];
  const layers = current.map((e, i) => {
    const p = plan.find((q) => e.rid && q.rid === e.rid) ?? plan[Math.min(i, plan.length - 1)];
    return { ...(e.rid ? { rid: e.rid } : {}), active: true,
      maxBitrate: cap(/** @type {number} */ (p.maxBitrate)),
      scaleResolutionDownBy: base * (p.scaleResolutionDownBy ?? 1) };
  });
  if (!choice.dataSaver) return layers;
  // every layer shrinks by one factor (the top one to 240 lines) and they share the 150 k in
  // the plan's proportions (lower layers at least Chromium's 30 k floor, the top one the
  // rest); none goes inactive: Janus 1.1 keeps a subscriber on a layer that stopped
  // (measured here: frozen), it does not fall back to a lower one
  const shrink = Math.max(1, height / layers[0].scaleResolutionDownBy / DATA_SAVER.height);
  const total = layers.reduce((sum, l) => sum + l.maxBitrate, 0);
  const lower = layers.slice(1).map((l) => Math.max(MIN_LAYER_BITRATE,
    DATA_SAVER.maxBitrate * (l.maxBitrate / total)));
  const shares = [DATA_SAVER.maxBitrate - lower.reduce((sum, b) => sum + b, 0), ...lower];
  return layers.map((l, i) => ({ ...l, maxBitrate: cap(shares[i]),
    scaleResolutionDownBy: l.scaleResolutionDownBy * shrink }));
}

/**
 * True when `have` differs from `want` in a field we set.
 * @param {Encoding[]} have
 * @param {Encoding[]} want
 */
export function encodingsDiffer(have, want) {
  return have.length !== want.length || want.some((w, i) => {
    const e = have[i];
    return (e.active ?? true) !== w.active || e.maxBitrate !== w.maxBitrate ||
      Math.abs((e.scaleResolutionDownBy ?? 1) - (w.scaleResolutionDownBy ?? 1)) > 1e-6;
  });
}

const REASONS = ["none", "other", "cpu", "bandwidth"]; // worst last

/**
 * Our outbound video in getStats reports: bytes sent, the encoders' target, the worst
 * `qualityLimitationReason` and the layers being sent (inactive layers left out).
 * @param {RTCStatsReport[]} reports
 * @returns {{bytesSent: number, targetKbps: number | null, limitation: string | null,
 *   layers: {rid: string, width: number, height: number}[]}}
 */
export function summarizeSending(reports) {
  let bytesSent = 0;
  let target = 0;
  let worst = -1;
  /** @type {{rid: string, width: number, height: number}[]} */
  const layers = [];
  for (const report of reports) {
    report.forEach((s) => {
      if (s.type !== "outbound-rtp" || s.kind !== "video") return;
      bytesSent += s.bytesSent ?? 0;
      if (s.active === false) return;
      target += s.targetBitrate ?? 0;
      worst = Math.max(worst, REASONS.indexOf(s.qualityLimitationReason ?? ""));
      if (s.frameWidth) layers.push({ rid: s.rid ?? "", width: s.frameWidth, height: s.frameHeight });
    });
  }
  layers.sort((a, b) => b.height - a.height);
  return { bytesSent, targetKbps: target ? target / 1000 : null,
    limitation: worst >= 0 ? REASONS[worst] : null, layers };
}

/**
 * Keeps a Session's video senders at the media's choice (`LocalMedia.sendChoice()`): at once
 * when it changes or a peer connects, and on every {@link apply} (the page calls it each
 * second, so a new mesh peer or a re-published SFU connection gets the caps too).
 */
export class SenderControl {
  /** @param {import("./session.js").Session} session */
  constructor(session) {
    this.session = session;
    /** @type {string | null} the last setParameters failure, for logs and tests */
    this.error = null;
    this._off = [session.media.on("quality", () => this.apply()),
      session.on("peer-state", () => this.apply())];
  }

  /** The connections that send our video, and the SFU room's cap. */
  connections() {
    const topology = this.session.topology;
    if (!topology) return { pcs: [], roomCap: null };
    if (topology.kind === "sfu") {
      const sfu = /** @type {import("./sfu.js").Sfu} */ (topology);
      const pc = sfu.publisher?.pc;
      return { pcs: pc ? [pc] : [], roomCap: sfu.info?.bitrate ?? null };
    }
    const pcs = [...topology.peers.values()].map((p) => p.pc);
    return { pcs: /** @type {RTCPeerConnection[]} */ (pcs.filter(Boolean)), roomCap: null };
  }

  /** Bring every video sender to the choice (those already there are left alone). */
  async apply() {
    const choice = this.session.media.sendChoice();
    const { pcs, roomCap } = this.connections();
    const senders = pcs.flatMap((pc) => pc.getSenders())
      .filter((s) => s.track?.kind === "video");
    await Promise.all(senders.map(async (sender) => {
      const params = sender.getParameters();
      if (!params.encodings?.length) return; // not negotiated yet: the next round
      const track = /** @type {MediaStreamTrack} */ (sender.track);
      const want = encodingsFor(params.encodings, choice, track.getSettings().height ?? 480,
        roomCap);
      if (!encodingsDiffer(params.encodings, want)) return;
      params.encodings = params.encodings.map(
        (/** @type {RTCRtpEncodingParameters} */ e, /** @type {number} */ i) => ({ ...e,
          ...want[i] }));
      try {
        await sender.setParameters(params);
      } catch (err) {
        // a connection closing or renegotiating meanwhile: the next round retries
        this.error = `setParameters: ${/** @type {any} */ (err)?.message ?? err}`;
      }
    }));
  }

  /** What we send now (see {@link summarizeSending}). */
  async stats() {
    const { pcs } = this.connections();
    return summarizeSending(await Promise.all(pcs.map((pc) => pc.getStats())));
  }

  dispose() {
    for (const off of this._off) off();
  }
}
