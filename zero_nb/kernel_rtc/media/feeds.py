"""Feeds: every stream as numpy, bounded and newest-wins, readable from any thread.

A pump task on the engine loop always drains the aiortc track (whose own queue is
unbounded) into a feed that keeps only the newest video frame and a fixed history of audio.
Video frames are converted to RGB lazily, once per frame, under a lock: only frames someone
reads cost a conversion, and PyAV never converts one frame from two threads at once. Other
parts (recorder, widget link, derived feeds) follow a feed with :meth:`Feed.subscribe` and
convert what they get with :meth:`VideoFeed.rgb` / :meth:`VideoFeed.yuv`, which take that lock.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from ..frames import as_rgb, audio_to_float
from ..workers import LatestWorker

__all__ = ["AudioFeed", "Feed", "VideoFeed", "pump"]

SILENCE_DB = -120.0
AES17_OFFSET_DB = 20 * math.log10(math.sqrt(2))  # full-scale sine reads 0 dBFS


class Feed:
    """Common bookkeeping: counts, arrival times, waking sync and async readers."""

    kind = ""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.frame_count = 0
        self.ended = False
        self.last_time: float | None = None  # wall-clock arrival of the newest frame
        self._cond = threading.Condition()
        self._times: collections.deque[float] = collections.deque(maxlen=256)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._listeners: tuple[Callable[[Any], None], ...] = ()

    @property
    def fps(self) -> float:
        """Frames per second over the last 2 s (0 when nothing arrives)."""
        now = time.time()
        with self._cond:
            recent = [t for t in self._times if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(frame)`` with every new frame, on the producer's thread (keep it
        short: hand the frame on). Returns ``unsubscribe()``; calling it twice is harmless.

        A video frame may be a shared PyAV frame: convert it only with :meth:`VideoFeed.rgb`
        or :meth:`VideoFeed.yuv`."""
        with self._cond:
            self._listeners = (*self._listeners, callback)

        def unsubscribe() -> None:
            with self._cond:
                listeners = list(self._listeners)
                if callback in listeners:
                    listeners.remove(callback)
                    self._listeners = tuple(listeners)

        return unsubscribe

    def _tell(self, frame: Any) -> None:
        for listener in self._listeners:  # a snapshot: subscribe() replaces the tuple
            listener(frame)

    def _notify(self) -> None:
        # called with self._cond held
        self._cond.notify_all()
        for loop, event in list(self._waiters):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self._waiters.discard((loop, event))

    def _stamp(self, now: float) -> None:
        self.frame_count += 1
        self.last_time = now
        self._times.append(now)

    def _end(self) -> None:
        with self._cond:
            self.ended = True
            self._notify()

    def wait(self, count: int = 1, timeout: float | None = None) -> bool:
        """Block until ``frame_count >= count``; False on timeout or end of stream."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.frame_count < count and not self.ended:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return self.frame_count >= count


class VideoFeed(Feed):
    """The newest frame of a video stream, as ``(H, W, 3)`` uint8 RGB on demand."""

    kind = "video"
    layer: str | None = None  # SFU simulcast: the layer the SFU says it sends ("low"...)

    def __init__(self, label: str = "") -> None:
        super().__init__(label)
        self.dropped = 0  # frames that a frames()/async-for reader skipped (newest wins)
        self._frame: av.VideoFrame | np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        self._rgb_seq = -1
        self._convert_lock = threading.Lock()
        self.worker: LatestWorker[Any, np.ndarray] | None = None  # set on derived feeds

    def _push(self, frame: av.VideoFrame | np.ndarray, now: float | None = None) -> None:
        with self._cond:
            self._frame = frame
            self._stamp(time.time() if now is None else now)
            self._notify()
        self._tell(frame)

    def _array(self) -> tuple[np.ndarray | None, int]:
        with self._cond:
            frame, seq = self._frame, self.frame_count
        if frame is None:
            return None, 0
        if isinstance(frame, np.ndarray):  # a derived feed holds arrays already
            return frame, seq
        with self._convert_lock:
            if self._rgb_seq != seq:
                self._rgb = frame.to_ndarray(format="rgb24")  # type: ignore[union-attr]
                self._rgb_seq = seq
            return self._rgb, seq

    def latest(self) -> np.ndarray | None:
        """The newest frame as RGB, or None before the first frame. Do not modify it
        in place (it is shared with other readers): copy it first."""
        return self._array()[0]

    @property
    def shape(self) -> tuple[int, int, int] | None:
        frame = self._frame
        if isinstance(frame, np.ndarray):
            return frame.shape  # type: ignore[return-value]
        return None if frame is None else (frame.height, frame.width, 3)

    def map(self, fn: Callable[[np.ndarray], np.ndarray], label: str | None = None
            ) -> VideoFeed:
        """A derived feed: ``fn`` applied to each new frame on a worker thread (newest
        wins). Displayable and recordable like any feed; ``.worker`` has its counters."""
        derived = VideoFeed(label or f"{self.label}.map({getattr(fn, '__name__', 'fn')})")

        def run(frame: Any) -> np.ndarray:
            return as_rgb(fn(self.rgb(frame)))

        worker = LatestWorker(run, derived._push, name=f"map-{derived.label}")
        derived.worker = worker
        self.subscribe(worker.submit)
        return derived

    def rgb(self, frame: av.VideoFrame | np.ndarray) -> np.ndarray:
        """``frame`` (one this feed delivered) as ``(H, W, 3)`` uint8 RGB; shares the
        conversion :meth:`latest` made when it is the newest frame. Do not modify it."""
        if isinstance(frame, np.ndarray):
            return frame
        with self._convert_lock:  # PyAV must not convert one frame in two threads at once
            if frame is self._frame and self._rgb_seq == self.frame_count and \
                    self._rgb is not None:
                return self._rgb
            return frame.to_ndarray(format="rgb24")

    def yuv(self, frame: av.VideoFrame | np.ndarray, width: int | None = None,
            height: int | None = None) -> av.VideoFrame:
        """``frame`` as a new yuv420p frame of its own (optionally scaled), safe to encode
        or re-stamp: the shared frame is never handed out or modified."""
        if isinstance(frame, np.ndarray):
            out = av.VideoFrame.from_ndarray(frame, format="rgb24")
            return out.reformat(width=width, height=height, format="yuv420p")
        with self._convert_lock:
            if frame.format.name == "yuv420p" and width in (None, frame.width) and \
                    height in (None, frame.height):
                # a plane copy, no colour conversion either way
                return av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"),
                                                  format="yuv420p")
            return frame.reformat(width=width, height=height, format="yuv420p")

    def frames(self, timeout: float | None = 10.0, limit: int | None = None
               ) -> Iterator[np.ndarray]:
        """Yield each new frame as it arrives (skipping ones you were too slow for).

        Stops after ``limit`` frames, at the end of the stream, or when no frame comes
        for ``timeout`` seconds.
        """
        return self._frames_after(self.frame_count, timeout, limit)

    def _frames_after(self, seen: int, timeout: float | None, limit: int | None
                      ) -> Iterator[np.ndarray]:
        given = 0
        while limit is None or given < limit:
            if not self.wait(seen + 1, timeout):
                return
            taken = self._take(seen)
            if taken is None:
                return
            img, seen = taken
            given += 1
            yield img

    def _take(self, seen: int) -> tuple[np.ndarray, int] | None:
        """The newest frame after ``seen`` and its number; counts what was skipped."""
        img, seq = self._array()
        if img is None:
            return None
        self.dropped += max(0, seq - seen - 1)
        return img, seq

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        """``async for img in feed``: new frames on your own event loop, newest wins."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        self._waiters.add(key)
        seen = self.frame_count
        try:
            while True:
                while self.frame_count <= seen and not self.ended:
                    event.clear()
                    if self.frame_count > seen:
                        break
                    await event.wait()
                if self.frame_count <= seen:
                    return
                taken = self._take(seen)
                if taken is None:
                    return
                img, seen = taken
                yield img
        finally:
            self._waiters.discard(key)

    def __repr__(self) -> str:
        return (f"<VideoFeed {self.label} {self.shape} frames={self.frame_count} "
                f"fps={self.fps:.1f}>")


class AudioFeed(Feed):
    """Levels and recent samples of an audio stream (48 kHz float32, any channels)."""

    kind = "audio"
    speaking = False  # voice activity now; set by kernel_rtc/speech.py ([analysis] extra)

    def __init__(self, label: str = "", *, history_s: float = 300.0, samples_s: float = 10.0
                 ) -> None:
        super().__init__(label)
        blocks = int(history_s * 50)
        self._levels: collections.deque[float] = collections.deque(maxlen=blocks)
        self._level_times: collections.deque[float] = collections.deque(maxlen=blocks)
        self._blocks: collections.deque[np.ndarray] = collections.deque(
            maxlen=int(samples_s * 50))
        self.level_db = SILENCE_DB
        self.sample_rate = 48000
        self.channels = 0

    to_float = staticmethod(audio_to_float)

    @staticmethod
    def level_of(samples: np.ndarray) -> float:
        """RMS level in dBFS (AES17: a full-scale sine reads 0 dBFS)."""
        if samples.size == 0:
            return SILENCE_DB
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        return max(SILENCE_DB, 20 * math.log10(rms) + AES17_OFFSET_DB) if rms > 0 else SILENCE_DB

    def _push(self, frame: av.AudioFrame, now: float | None = None) -> None:
        samples = self.to_float(frame)
        level = self.level_of(samples)
        now = time.time() if now is None else now
        with self._cond:
            self.sample_rate = frame.sample_rate
            self.channels = samples.shape[1]
            self.level_db = level
            self._levels.append(level)
            self._level_times.append(now)
            self._blocks.append(samples)
            self._stamp(now)
            self._notify()
        self._tell(frame)

    def levels(self, seconds: float | None = None) -> np.ndarray:
        """Level history in dBFS, one value per received frame (~20 ms), oldest first."""
        return self.level_history(seconds)[1]

    def level_history(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(times, levels)``: wall-clock times (s) and dBFS levels."""
        with self._cond:
            times = np.fromiter(self._level_times, float, len(self._level_times))
            levels = np.fromiter(self._levels, float, len(self._levels))
        if seconds is not None and len(times):
            keep = times >= times[-1] - seconds
            times, levels = times[keep], levels[keep]
        return times, levels

    def samples(self, seconds: float = 1.0) -> np.ndarray:
        """The most recent ``seconds`` of audio as ``(n, channels)`` float32."""
        with self._cond:
            blocks = list(self._blocks)
        if not blocks:
            return np.zeros((0, max(self.channels, 1)), np.float32)
        data = np.concatenate(blocks)
        return data[-int(seconds * self.sample_rate):]

    def __repr__(self) -> str:
        return f"<AudioFeed {self.label} {self.level_db:.1f} dBFS frames={self.frame_count}>"


async def pump(track: MediaStreamTrack, feed: VideoFeed | AudioFeed, *, end: bool = True
               ) -> None:
    """Drain ``track`` into ``feed`` until the track ends (runs on the engine loop).

    ``end=False`` leaves the feed open for the next track (a replaced connection)."""
    try:
        while True:
            frame: Any = await track.recv()
            if isinstance(frame, av.Packet):  # an encoded source (encoded.py): no picture
                continue
            feed._push(frame)
    except MediaStreamError:
        pass
    finally:
        if end:
            feed._end()
