"""Kernel -> page media over the widget comm: batching and flow control, pure (no I/O).

:class:`DownFlow` takes encoded frames per slot (:meth:`DownFlow.push`, any thread) and
hands out at most one ``m.down`` message at a time (:meth:`DownFlow.take`) carrying every
slot's pending frames, so a class of 30 tiles costs one iopub message per send, far under
jupyter_server's iopub rate limit. The page acks the highest ``seq`` it received
(:meth:`DownFlow.ack`). At most ``window`` messages (and ``max_inflight`` bytes) are in
flight; the window follows the time an ack takes (halved when it passes ``target_rtt``,
grown by one while under half of it, up to ``max_messages``), so on a slow tunnel only what
it carries in about ``target_rtt`` is ever queued past the kernel: frames wait here, where
they can be dropped, rather than in the Jupyter server's socket buffers, where they could
only add latency. A video frame held longer than ``max_hold`` (or any while the oldest
unacked message is older than ``max_age``)
is dropped with the rest of its chain: the slot waits for its next key frame, which
:meth:`DownFlow.wanted_keys` asks its source for; audio keeps only its newest packets.
So latency stays near ``max_hold`` plus the messages in flight, and memory within
``max_pending`` per slot, whatever the comm does: frames drop instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DownFlow", "Frame"]

KEY_RETRY_S = 0.3  # a key frame asked for and not seen: ask again after this long
AUDIO_KEEP = 5  # audio packets (20 ms each) kept per slot while the comm is backed up
MESSAGE_OVERHEAD = 700  # bytes a Jupyter message adds around the content (header, session, ...)
FRAME_OVERHEAD = 80  # bytes of JSON per frame header


@dataclass
class Frame:
    """One encoded frame of a slot, as the page decodes it."""

    slot: int
    kind: str  # "video" | "audio"
    codec: str  # "vp8" | "opus" | "jpeg"
    key: bool
    ts: int  # µs, monotonic per slot and kind
    data: bytes
    w: int = 0
    h: int = 0

    def header(self) -> dict[str, Any]:
        head: dict[str, Any] = {"slot": self.slot, "kind": self.kind, "codec": self.codec,
                                "key": self.key, "ts": self.ts}
        if self.kind == "video":
            head.update(w=self.w, h=self.h)
        return head


@dataclass
class _Slot:
    video: list[Frame] = field(default_factory=list)  # a chain: key or deltas of one
    audio: deque[Frame] = field(default_factory=deque)
    need_key: bool = True  # the page cannot decode a delta until it has this slot's key frame
    asked_at: float | None = None  # when a key frame was last asked for (monotonic)
    since: float = 0.0  # when the oldest pending video frame was queued
    dropped: int = 0


class DownFlow:
    """Pending frames per slot, the messages in flight, and the drop rules."""

    def __init__(self, *, max_messages: int = 8, max_inflight: int = 1_500_000,
                 max_hold: float = 0.15, max_age: float = 0.5, max_pending: int = 2_000_000,
                 target_rtt: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_messages = max_messages
        self.window = max_messages
        self.target_rtt = target_rtt
        self.rtt = 0.0  # the latest ack's round trip
        self._shrunk_at = -1e9
        self.max_inflight = max_inflight
        self.max_hold = max_hold
        self.max_age = max_age
        self.max_pending = max_pending
        self._clock = clock
        self.seq = 0
        self.acked = 0
        self._inflight: deque[tuple[int, int, float]] = deque()  # (seq, bytes, sent at)
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()
        self.sent_frames = 0
        self.sent_bytes = 0

    # -- frames in (any thread) ---------------------------------------------------------------
    def push(self, frame: Frame) -> None:
        """Queue ``frame`` for the next message; a delta the page could not decode is dropped."""
        with self._lock:
            slot = self._slots.setdefault(frame.slot, _Slot())
            if frame.kind == "audio":
                slot.audio.append(frame)
                return
            if not slot.video or frame.key:
                slot.since = self._clock()
            if frame.key:  # a key frame supersedes whatever is pending for the slot
                slot.dropped += len(slot.video)
                slot.video = [frame]
                slot.need_key = False
                slot.asked_at = None
            elif slot.need_key:
                slot.dropped += 1
                return
            else:
                slot.video.append(frame)
            if sum(len(f.data) for f in slot.video) > self.max_pending:
                self._restart(slot)

    def key_wanted(self, slot: int) -> None:
        """The page's decoder needs a key frame for ``slot`` (error, or a new decoder)."""
        with self._lock:
            state = self._slots.setdefault(slot, _Slot())
            self._restart(state)
            state.asked_at = None

    def forget(self, slot: int) -> None:
        """``slot`` shows something else (or nothing): drop its frames and state."""
        with self._lock:
            self._slots.pop(slot, None)

    def _restart(self, slot: _Slot) -> None:
        slot.dropped += len(slot.video)
        slot.video = []
        slot.need_key = True

    # -- acks (any thread) ----------------------------------------------------------------------
    def ack(self, seq: int) -> None:
        """The page received every message up to ``seq``."""
        with self._lock:
            now = self._clock()
            if seq > self.acked:
                self.acked = min(seq, self.seq)
            sent = None
            while self._inflight and self._inflight[0][0] <= self.acked:
                sent = self._inflight.popleft()[2]
            if sent is None:
                return
            self.rtt = now - sent
            if self.rtt > self.target_rtt:
                if now - self._shrunk_at >= self.rtt:  # once per round trip
                    self.window = max(1, self.window // 2)
                    self._shrunk_at = now
            elif self.rtt < self.target_rtt / 2:
                self.window = min(self.max_messages, self.window + 1)

    def inflight_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size, _ in self._inflight)

    def backed_up(self, now: float) -> bool:
        """True while no message may be sent (window full)."""
        with self._lock:
            return self._full()

    def _full(self) -> bool:
        return bool(self._inflight) and (
            len(self._inflight) >= self.window
            or sum(size for _, size, _ in self._inflight) > self.max_inflight)

    def _stale(self, now: float) -> bool:
        return bool(self._inflight) and now - self._inflight[0][2] > self.max_age

    # -- messages out (the sender thread) -------------------------------------------------------
    def take(self, now: float) -> tuple[dict[str, Any], list[bytes]] | None:
        """The next ``m.down`` content (without ``view``) and its buffers, or None: nothing
        pending, or the window is full (then frames held too long drop, audio keeps its
        newest)."""
        with self._lock:
            stale = self._stale(now)
            if stale or self._full():
                for slot in self._slots.values():
                    if not slot.video or not (stale or now - slot.since > self.max_hold):
                        pass
                    elif not slot.video[0].key:
                        self._restart(slot)
                    elif len(slot.video) > 1:  # keep the key frame, drop its deltas
                        slot.dropped += len(slot.video) - 1
                        del slot.video[1:]
                        slot.since = now
                    while len(slot.audio) > AUDIO_KEEP:
                        slot.audio.popleft()
                        slot.dropped += 1
                return None
            frames: list[Frame] = []
            for slot in self._slots.values():
                frames.extend(slot.video)
                frames.extend(slot.audio)
                slot.video = []
                slot.audio.clear()
            if not frames:
                return None
            self.seq += 1
            size = MESSAGE_OVERHEAD + sum(len(f.data) + FRAME_OVERHEAD for f in frames)
            self._inflight.append((self.seq, size, now))
            self.sent_frames += len(frames)
            self.sent_bytes += sum(len(f.data) for f in frames)
            return ({"type": "m.down", "seq": self.seq, "frames": [f.header() for f in frames]},
                    [f.data for f in frames])

    def wanted_keys(self, now: float) -> list[int]:
        """Slots whose source should make (or be asked by PLI for) a key frame now; each is
        asked again only after ``KEY_RETRY_S``."""
        with self._lock:
            wanted = []
            for index, slot in self._slots.items():
                if slot.need_key and (slot.asked_at is None or now - slot.asked_at > KEY_RETRY_S):
                    slot.asked_at = now
                    wanted.append(index)
            return wanted

    def pending(self) -> bool:
        with self._lock:
            return any(s.video or s.audio for s in self._slots.values())

    def dropped(self) -> dict[int, int]:
        """Frames dropped so far per slot (stats)."""
        with self._lock:
            return {index: slot.dropped for index, slot in self._slots.items()}
