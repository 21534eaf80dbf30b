"""Exact byte counters for tests and benchmarks (aiortc's receiver only learns byte counts from
RTCP sender reports, about once a second; the sender's outbound-rtp counter moves per packet).
For a sender that is not ours (a browser), :func:`received_video_kbps` rates the sender reports
between their own timestamps, so the report interval does not blur the figure."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["received_video_kbps", "sent_video_bytes"]


def sent_video_bytes(room: Any, peer_id: str) -> int:
    """Video bytes ``room`` has sent to ``peer_id`` so far; on lossless loopback, what that
    peer received."""
    pc = room.peers[peer_id].pc

    async def read() -> int:
        report = await pc.getStats()
        return sum(s.bytesSent for s in report.values()
                   if s.type == "outbound-rtp" and getattr(s, "kind", "") == "video")

    return int(room.engine.run(read(), 5, "reading stats"))


def _sender_report(room: Any, peer_id: str) -> tuple[float, int] | None:
    """(sender's clock in s, video payload bytes) of the latest RTCP sender report ``room``
    got from ``peer_id``'s video, or None before the first."""
    pc = room.peers[peer_id].pc

    async def read() -> tuple[float, int] | None:
        for s in (await pc.getStats()).values():
            if s.type == "remote-outbound-rtp" and getattr(s, "kind", "") == "video" \
                    and s.remoteTimestamp is not None:
                return s.remoteTimestamp.timestamp(), int(s.bytesSent)
        return None

    return room.engine.run(read(), 5, "reading stats")  # type: ignore[no-any-return]


def received_video_kbps(room: Any, peer_id: str, seconds: float = 2.0,
                        timeout: float = 10.0) -> float:
    """Video payload kbit/s ``peer_id`` sent ``room`` over at least ``seconds``, from two of
    its sender reports (their own clock); on lossless loopback, what arrived."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        report = _sender_report(room, peer_id)
        if report is not None and first is None:
            first = report
        elif report is not None and first is not None and report[0] - first[0] >= seconds:
            return (report[1] - first[1]) * 8 / (report[0] - first[0]) / 1000
        time.sleep(0.1)  # polling for the next report, not synchronising
    raise TimeoutError(f"no two video sender reports {seconds} s apart from {peer_id} "
                       f"within {timeout} s")
