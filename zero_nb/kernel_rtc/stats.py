"""Connection statistics: aiortc's RTP counters joined with what the feeds measure.

aiortc's ``getStats`` has packet counters only, so frames, fps and drops come from our feeds
and filter stage; bitrates are deltas between calls. Records are flat dicts, one per peer,
direction and kind, so ``pandas.DataFrame(room.stats(flat=True))`` just works.

Outbound video also says what the encoder may send and why: ``target_kbps`` (REMB and the
loss rule within the caps of ``set_quality``) and ``quality_limitation``: ``"bandwidth"``
when the network holds the target below the ceiling — the ``max_kbps`` cap, else aiortc's
maximum (VP8 1.5 Mbit/s) — through the loss rule, or through a REMB estimate the encoder uses
(sends at least 80 % of); ``"none"`` otherwise (nothing binds, the user's own cap binds, or
the picture needs less); None while not encoding. Browsers report the same idea as
``qualityLimitationReason``; the page shows its own on your tile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .frames import CLOCK_RATE, VIDEO_CLOCK
from .media.encoders import encoder_of
from .media.quality import limitation
from .net import lowlatency
from .net.hooks import MediaHooks
from .net.peer import RemotePeer
from .net.topology import Topology

__all__ = ["Rates", "collect", "nest"]



class Rates:
    """Remembers byte counters between calls to turn them into bitrates."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, ...], tuple[float, int]] = {}
        self._rate: dict[tuple[str, ...], float] = {}

    def kbps(self, key: tuple[str, ...], now: float, total: int | None,
             since: float | None) -> float | None:
        """Bitrate since the previous call, or since ``since`` (connection start) at first."""
        if total is None:
            return None
        prev = self._last.get(key) or ((since, 0) if since else None)
        if prev is not None and total == prev[1] and key in self._rate:
            # counters fed by RTCP sender reports move in steps: keep the last rate
            return self._rate[key]
        self._last[key] = (now, total)
        if prev is None or now <= prev[0] or total < prev[1]:
            return None
        rate = self._rate[key] = round((total - prev[1]) * 8 / (now - prev[0]) / 1000, 1)
        return rate


async def _counters(in_pc: Any, out_pc: Any, video_out: Any = None
                    ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, float]]:
    """RTP counters by (direction, kind), and RTT per kind: inbound from the connection that
    carries the peer's media, outbound from the one that carries ours (the same in a mesh;
    the publisher connection in an SFU; our video from ``video_out``, a sender, if given)."""
    by_kind: dict[tuple[str, str], dict[str, Any]] = {}
    rtt: dict[str, float] = {}
    skip = "video" if video_out is not None else None
    for pc, wanted, skipped in ((in_pc, "in", None), (out_pc, "out", skip),
                                (video_out, "out", None)):
        if pc is None:
            continue
        for s in (await pc.getStats()).values():
            kind = str(getattr(s, "kind", ""))
            if kind == skipped:
                continue
            if wanted == "in" and s.type == "inbound-rtp":
                d = by_kind.setdefault(("in", kind), {})
                d["packets"] = s.packetsReceived
                d["packets_lost"] = s.packetsLost
                d["jitter_ms"] = round(s.jitter * 1000 / CLOCK_RATE.get(kind, VIDEO_CLOCK), 2)
            elif wanted == "in" and s.type == "remote-outbound-rtp":
                by_kind.setdefault(("in", kind), {})["bytes"] = s.bytesSent
            elif wanted == "out" and s.type == "outbound-rtp":
                d = by_kind.setdefault(("out", kind), {})
                d["packets"] = s.packetsSent
                d["bytes"] = s.bytesSent
            elif wanted == "out" and s.type == "remote-inbound-rtp":
                d = by_kind.setdefault(("out", kind), {})
                d["packets_lost"] = s.packetsLost
                if s.roundTripTime is not None:
                    rtt[kind] = s.roundTripTime * 1000
    return by_kind, rtt


def _video_encoder(pc: Any, video_out: Any = None) -> Any:
    """The encoder of ``video_out`` or else ``pc``'s video sender, or None before its first
    frame."""
    senders = [video_out] if video_out is not None else pc.getSenders() if pc is not None else []
    for sender in senders:
        encoder = encoder_of(sender)
        if sender.kind == "video" and encoder is not None and hasattr(encoder,
                                                                      "target_bitrate"):
            return encoder
    return None


def _sender_quality(pc: Any, video_out: Any, sent_kbps: float | None) -> dict[str, Any]:
    """The video encoder's bitrate target (REMB and the loss rule within the quality cap)
    and whether the network limits it (:func:`.quality.limitation`)."""
    encoder = _video_encoder(pc, video_out)
    if encoder is None:
        return {"target_kbps": None, "quality_limitation": None}
    return {"target_kbps": round(encoder.target_bitrate / 1000, 1),
            "quality_limitation": limitation(encoder, sent_kbps)}


class _Reading:
    """What one ``collect`` reads: passed in by the room, so stats never imports it."""

    def __init__(self, topology: Topology | None, local_media: Callable[[str], Any],
                 hooks: MediaHooks, rates: Rates, low_latency: bool) -> None:
        self.topology = topology
        self.local_media = local_media
        self.hooks = hooks
        self.rates = rates
        self.low_latency = low_latency


async def _peer_records(room: _Reading, peer: RemotePeer, now: float
                        ) -> list[dict[str, Any]]:
    rates = room.rates
    out_pc = room.topology.sending_for(peer) if room.topology is not None else peer.pc
    video_out = room.topology.video_sender() if room.topology is not None else None
    by_kind, rtt = await _counters(peer.pc, out_pc, video_out)
    rtt_ms = round(min(rtt.values()), 1) if rtt else None
    duration = round(now - peer.connected_at, 1) if peer.connected_at else 0.0
    records = []
    for direction in ("in", "out"):
        for kind in ("video", "audio"):
            raw = by_kind.get((direction, kind), {})
            if direction == "in":
                feed: Any = peer.video if kind == "video" else peer.audio
            else:
                feed = room.local_media(kind)
            rec: dict[str, Any] = {
                "time": now, "peer_id": peer.peer_id, "name": peer.name,
                "direction": direction, "kind": kind, "state": peer.state,
                "duration_s": duration,
                "bitrate_kbps": rates.kbps((peer.peer_id, direction, kind), now,
                                           raw.get("bytes"), peer.connected_at),
                "fps": round(feed.fps, 1), "frames": feed.frame_count,
                "dropped": getattr(feed, "dropped", 0) if direction == "in" else
                feed.filter_dropped,
                "packets": raw.get("packets"), "packets_lost": raw.get("packets_lost"),
                "jitter_ms": raw.get("jitter_ms"), "rtt_ms": rtt_ms,
            }
            if kind == "audio":
                rec["level_db"] = round(feed.level_db, 1)
            if direction == "out":
                rec["filter_errors"] = sum(f["errors"] for f in feed.filters.stats())
                rec["source_errors"] = feed.source_errors
            if direction == "out" and kind == "video":
                # what REMB, loss and caps allow now, and whether the network holds it back
                rec.update(_sender_quality(out_pc, video_out, rec["bitrate_kbps"]))
                rec["fps_skipped"] = feed.quality.skipped
            if direction == "in" and kind == "video":
                rec["layer"] = peer.video.layer  # SFU simulcast: what Janus sends us
            if direction == "in" and room.low_latency:
                rec.update(_low_latency_counters(peer, kind))
            if direction == "in":  # add-ons' fields (E2EE: state and dropped frames)
                rec.update(room.hooks.counters(peer, kind))
            records.append(rec)
    return records


def _low_latency_counters(peer: RemotePeer, kind: str) -> dict[str, Any]:
    if peer.pc is None:
        return {}
    for transceiver in peer.pc.getTransceivers():
        if transceiver.kind == kind:
            c = lowlatency.counters(transceiver.receiver)
            return {"concealed": c.get("audio_concealed", 0)} if kind == "audio" else \
                {"frames_fast": c.get("frames_fast", 0),
                 "frames_skipped": c.get("frames_skipped", 0)}
    return {}


async def collect(peers: list[RemotePeer], topology: Topology | None,
                  local_media: Callable[[str], Any], hooks: MediaHooks, rates: Rates, *,
                  low_latency: bool) -> list[dict[str, Any]]:
    """One flat record per peer, direction (in/out) and kind (video/audio): ``peers``'
    counters, the ``topology``'s sending connections, ``local_media(kind)`` (what we send),
    the add-ons' ``hooks``; ``rates`` remembers byte counters between calls."""
    reading = _Reading(topology, local_media, hooks, rates, low_latency)
    now = time.time()
    records: list[dict[str, Any]] = []
    for peer in peers:
        records += await _peer_records(reading, peer, now)
    return records


def nest(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Flat records -> ``{peer_id: {name, state, duration_s, rtt_ms, in: {video, audio},
    out: {video, audio}}}``."""
    out: dict[str, Any] = {}
    for rec in records:
        peer = out.setdefault(rec["peer_id"], {
            "name": rec["name"], "state": rec["state"], "duration_s": rec["duration_s"],
            "rtt_ms": rec["rtt_ms"], "in": {}, "out": {}})
        peer[rec["direction"]][rec["kind"]] = {
            k: v for k, v in rec.items()
            if k not in ("peer_id", "name", "state", "duration_s", "direction", "kind", "time")}
    return out
