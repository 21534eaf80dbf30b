"""Exact byte counters for tests and benchmarks (aiortc's receiver only learns byte counts from
RTCP sender reports, about once a second; the sender's outbound-rtp counter moves per packet)."""

from __future__ import annotations

from typing import Any

__all__ = ["sent_video_bytes"]


def sent_video_bytes(room: Any, peer_id: str) -> int:
    """Video bytes ``room`` has sent to ``peer_id`` so far; on lossless loopback, what that
    peer received."""
    pc = room.peers[peer_id].pc

    async def read() -> int:
        report = await pc.getStats()
        return sum(s.bytesSent for s in report.values()
                   if s.type == "outbound-rtp" and getattr(s, "kind", "") == "video")

    return int(room.engine.run(read(), 5, "reading stats"))
