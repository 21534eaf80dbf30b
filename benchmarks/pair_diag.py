"""Per-pair diagnostics for the multi-bot benchmarks: why did receiver R get few frames of S?

Each bot takes a :func:`snapshot` of every remote peer at the start and the end of the
window (on its engine loop): frames delivered, connection / ICE / DTLS / signaling state,
which connection object carries the peer (a replaced connection shows up as ``pc`` changing),
RTP packets received and sent on video, the low-latency buffer's counters (frames released
to the decoder, gaps given up on, frames skipped) and RTCP feedback counted by
:func:`install_counters`: PLIs and NACKs this receiver sent, key frames the peer asked of
our sender. The bots also note peer and signaling events (joined, left, connection state)
with their time from the window's start. :func:`pair_windows` joins both ends' snapshots of
each pair (``gone``: the sender was no longer in the receiver's room at the end);
:func:`explain` turns one into a line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explain", "install_counters", "pair_windows", "snapshot"]

_COUNTS = ("pli_sent", "nack_sent", "key_requests")


def install_counters() -> None:
    """Count, per aiortc receiver / sender, the PLIs and NACKs sent and the key frame
    requests (PLI/FIR) received (this process only: the bot's)."""
    from aiortc import RTCRtpReceiver, RTCRtpSender

    def counting(cls: Any, method: str, counter: str, is_async: bool) -> None:
        original = getattr(cls, method)
        if getattr(original, "_counted", False):
            return

        if is_async:
            async def wrapper(self: Any, *args: Any) -> Any:
                setattr(self, counter, getattr(self, counter, 0) + 1)
                return await original(self, *args)
        else:
            def wrapper(self: Any, *args: Any) -> Any:  # type: ignore[misc]
                setattr(self, counter, getattr(self, counter, 0) + 1)
                return original(self, *args)
        wrapper._counted = True  # type: ignore[attr-defined]
        setattr(cls, method, wrapper)

    counting(RTCRtpReceiver, "_send_rtcp_pli", "pli_sent", True)
    counting(RTCRtpReceiver, "_send_rtcp_nack", "nack_sent", True)
    counting(RTCRtpSender, "_send_keyframe", "key_requests", False)


async def _video_stats(pc: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"rtp_in": None, "lost_in": None, "rtp_out": None}
    try:
        report = await pc.getStats()
    except Exception:
        return out
    for s in report.values():
        if getattr(s, "kind", None) != "video":
            continue
        if s.type == "inbound-rtp":
            out["rtp_in"], out["lost_in"] = s.packetsReceived, s.packetsLost
        elif s.type == "outbound-rtp":
            out["rtp_out"] = s.packetsSent
    return out


async def _peer_snapshot(peer: Any) -> dict[str, Any]:
    from zero_nb.kernel_rtc.net import lowlatency

    pc = peer.pc
    row: dict[str, Any] = {"frames": peer.video.frame_count, "state": peer.state,
                           "restarts": peer.restarts, "pc": id(pc) if pc else None}
    if pc is None:
        return row
    row.update(conn=pc.connectionState, ice=pc.iceConnectionState,
               sig=pc.signalingState, **await _video_stats(pc))
    for t in pc.getTransceivers():
        if t.kind != "video":
            continue
        transport = t.receiver.transport
        row["dtls"] = getattr(transport, "state", None)
        row["track"] = t.receiver.track is not None
        counters = lowlatency.counters(t.receiver)
        row["released"] = counters["frames_fast"] + counters["frames_fallback"]
        row["gaps_skipped"] = counters["gaps_skipped"]
        row["frames_skipped"] = counters["frames_skipped"]
        row["pli_sent"] = getattr(t.receiver, "pli_sent", 0)
        row["nack_sent"] = getattr(t.receiver, "nack_sent", 0)
        row["key_requests"] = getattr(t.sender, "key_requests", 0)
    return row


async def snapshot(room: Any) -> dict[str, dict[str, Any]]:
    """Every remote peer's figures by name (call on the room's engine loop)."""
    out: dict[str, dict[str, Any]] = {}
    for peer in list(room.peers.values()):
        try:
            row = await _peer_snapshot(peer)
        except Exception as exc:  # a figure missing must not hide the others
            row = {"frames": peer.video.frame_count, "state": peer.state,
                   "error": f"{type(exc).__name__}: {exc}"}
        row["peer_id"] = peer.peer_id
        if peer.name in out:
            row["duplicate_name"] = True
        out[peer.name] = row
    return out


def _delta(a: dict[str, Any], b: dict[str, Any], key: str) -> Any:
    if a.get(key) is None or b.get(key) is None:
        return None
    return b[key] - a[key]


def pair_windows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (receiver, sender) over the window, both ends' figures joined."""
    by_name = {r["name"]: r for r in results}
    pairs = []
    for r in results:
        snap0, snap1 = r.get("snap0") or {}, r.get("snap1") or {}
        for sender in sorted(set(r["fps"]) | set(snap1)):
            start, end = snap0.get(sender, {}), snap1.get(sender, {})
            other = by_name.get(sender, {})
            theirs0 = (other.get("snap0") or {}).get(r["name"], {})
            theirs1 = (other.get("snap1") or {}).get(r["name"], {})
            row = {"receiver": r["name"], "sender": sender,
                   "fps": r["fps"].get(sender), "frames_before": start.get("frames"),
                   "pc_replaced": start.get("pc") != end.get("pc"),
                   "gone": sender not in r.get("names1", [sender]),
                   **{k: end.get(k) for k in ("state", "conn", "ice", "dtls", "sig",
                                              "track", "restarts", "error", "peer_id",
                                              "duplicate_name")}}
            for key in ("frames", "rtp_in", "lost_in", "released", "gaps_skipped",
                        "frames_skipped", "pli_sent", "nack_sent"):
                row[key] = _delta(start, end, key)
            # the sender's side of the same connection
            row["sent_rtp"] = _delta(theirs0, theirs1, "rtp_out")
            row["key_requests"] = _delta(theirs0, theirs1, "key_requests")
            row["sender_conn"] = theirs1.get("conn")
            # what both ends saw of each other (and of the signaling link) during the run
            row["events"] = [e for e in r.get("events", []) if sender in e[2:]
                             or e[1] == "connection"] + \
                [("sender", *e) for e in other.get("events", []) if r["name"] in e[2:]
                 or e[1] == "connection"]
            pairs.append(row)
    return pairs


def explain(row: dict[str, Any]) -> str:
    """One line: ``b3<-b0 0.0 fps: ...`` with every figure of the pair."""
    keys: tuple[str, ...] = (
        "gone", "error", "frames_before", "state", "conn", "ice", "dtls", "sig", "track",
        "restarts", "pc_replaced", "sent_rtp", "rtp_in", "lost_in", "released", "frames",
        "gaps_skipped", "frames_skipped", "pli_sent", "nack_sent", "key_requests",
        "sender_conn")
    fps = row["fps"]
    if row.get("events"):
        keys = (*keys, "events")
    text = " ".join(f"{k}={row.get(k)}" for k in keys)
    return f"{row['receiver']}<-{row['sender']} {fps if fps is None else round(fps, 1)} " \
           f"fps: {text}"
