"""What this participant sends: one output track per kind, whatever the source of the moment.

Every peer connection sends a relay of the same output track, so changing the source (a bot
pattern, a file, the browser camera) or pausing it needs no renegotiation. The output track
re-stamps timestamps from its own clock, so switching sources never makes them jump back.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from ..errors import SourceError
from .feeds import AudioFeed, VideoFeed, pump
from .sources import AudioSource, MediaSource, VideoSource, _as_rgb
from .workers import LatestWorker

__all__ = ["FilterChain", "LocalMedia"]

log = logging.getLogger("zero_nb.filters")

VIDEO_CLOCK = 90_000
_ENCODED_FILTER = ("filters need decoded frames, and an encoded source (from_file(..., "
                   "encoded=True)) sends its packets unchanged: use encoded=False to filter it")


class FilterChain:
    """Filters applied in order; one that raises is skipped for that frame and counted."""

    def __init__(self) -> None:
        self.filters: list[Callable[[np.ndarray], np.ndarray]] = []
        self.calls: dict[int, int] = {}
        self.errors: dict[int, int] = {}
        self.last_error: dict[int, str] = {}
        self.seconds: dict[int, float] = {}
        self._lock = threading.Lock()

    def add(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        if not callable(fn):
            raise TypeError(f"a filter must be callable ndarray -> ndarray; got {fn!r}")
        with self._lock:
            self.filters = [*self.filters, fn]

    def remove(self, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Remove one filter, or all of them."""
        with self._lock:
            self.filters = [] if fn is None else [f for f in self.filters if f is not fn]

    def __bool__(self) -> bool:
        return bool(self.filters)

    def __call__(self, data: np.ndarray, check: Callable[[Any], np.ndarray]) -> np.ndarray:
        for fn in self.filters:
            key = id(fn)
            start = time.perf_counter()
            try:
                out = check(fn(data))
            except Exception as exc:
                self.errors[key] = self.errors.get(key, 0) + 1
                self.last_error[key] = f"{type(exc).__name__}: {exc}"
                if self.errors[key] == 1:
                    log.warning("filter %s raised %s; it is skipped for frames where it fails "
                                "(logged once, counted in room.stats())",
                                getattr(fn, "__name__", fn), self.last_error[key])
                continue
            finally:
                self.calls[key] = self.calls.get(key, 0) + 1
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start
            data = out
        return data

    def stats(self) -> list[dict[str, Any]]:
        out = []
        for fn in self.filters:
            key = id(fn)
            calls = self.calls.get(key, 0)
            out.append({"filter": getattr(fn, "__name__", repr(fn)), "calls": calls,
                        "errors": self.errors.get(key, 0),
                        "last_error": self.last_error.get(key),
                        "mean_ms": 1000 * self.seconds.get(key, 0.0) / calls if calls else 0.0})
        return out


def _check_audio(block: Any) -> np.ndarray:
    arr = np.asarray(block, np.float32)
    if arr.ndim == 1:
        arr = np.stack([arr, arr], axis=1)
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise ValueError(f"an audio filter must return (n,) or (n, 2) float32; got {arr.shape}")
    return arr if arr.shape[1] == 2 else np.repeat(arr, 2, axis=1)


class _Slot:
    """One-frame mailbox on the loop: the newest result wins."""

    def __init__(self) -> None:
        self.value: Any = None
        self.event = asyncio.Event()

    def put(self, value: Any) -> None:
        self.value = value
        self.event.set()

    async def get(self) -> Any:
        await self.event.wait()
        self.event.clear()
        value, self.value = self.value, None
        return value


class _OutputTrack(MediaStreamTrack):
    """Frames of the current source, re-stamped; waits while there is no source."""

    def __init__(self, media: LocalMedia) -> None:
        super().__init__()
        self.kind = media.kind
        self._media = media
        self._t0: float | None = None
        self._samples = 0

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        media = self._media
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = media.source
            if source is None or source.ended:
                media._changed.clear()
                await media._changed.wait()
                continue
            if media.kind == "video" and media.filters:
                filtered = await media._filtered_frame()
                if filtered is None:
                    continue
                return self._restamp(filtered)
            try:
                frame: Any = await source.track().recv()
            except MediaStreamError:
                continue  # that source ended: wait for another
            if source is not media.source:
                continue  # switched while we waited: drop the stale frame
            if media.kind == "audio" and media.filters:
                frame = await media._filter_audio(frame)
            return self._restamp(frame)

    def _restamp(self, frame: av.VideoFrame | av.AudioFrame) -> av.VideoFrame | av.AudioFrame:
        if isinstance(frame, av.Packet) and self.kind == "audio":  # encoded Opus (encoded.py)
            frame.pts, frame.time_base = self._samples, fractions.Fraction(1, 48_000)
            self._samples += frame.duration or 960
        elif isinstance(frame, av.AudioFrame):
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, frame.sample_rate)
            self._samples += frame.samples
        else:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            frame.pts = int((now - self._t0) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class LocalMedia:
    """This participant's outgoing video or audio: ``room.local.video`` / ``.audio``.

    ``feed`` shows what the others receive (a :class:`VideoFeed` / :class:`AudioFeed`).
    """

    def __init__(self, kind: str, source: MediaSource | None = None) -> None:
        self.kind = kind
        self.source: MediaSource | None = None
        self._changed = asyncio.Event()
        self.feed: VideoFeed | AudioFeed = VideoFeed("local") if kind == "video" \
            else AudioFeed("local")
        self._output = _OutputTrack(self)
        self._relay = MediaRelay()
        self._pump: asyncio.Task[None] | None = None
        self.filters = FilterChain()
        self._worker: LatestWorker[av.VideoFrame, av.VideoFrame] | None = None
        self._filter_pump: asyncio.Task[None] | None = None
        self._slot: _Slot | None = None
        self._audio_executor: Any = None
        if source is not None:
            self.set_source(source)

    def set_source(self, source: MediaSource | None) -> None:
        """Send from ``source`` (None: send nothing); call on the engine loop."""
        if source is not None and source.kind != self.kind:
            raise ValueError(f"a {source.kind} source cannot feed local {self.kind}")
        if getattr(source, "encoded", False) and self.filters:
            raise SourceError(_ENCODED_FILTER)
        old, self.source = self.source, source
        if old is not None and old is not source:
            old.close()
        self._changed.set()
        if self._pump is None and source is not None:
            self._pump = asyncio.get_running_loop().create_task(
                pump(self._relay.subscribe(self._output, buffered=False), self.feed))

    def subscribe(self) -> MediaStreamTrack:
        """A newest-wins relay of the output, for one more peer connection."""
        return self._relay.subscribe(self._output, buffered=False)

    # -- filters (others receive the result) ----------------------------------------------------
    def add_filter(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        """Apply ``fn`` to every outgoing frame: video ``(H, W, 3)`` uint8 RGB -> RGB (any
        size), audio ``(960, 2)`` float32 -> same. Runs on a worker thread, newest frame
        wins: a slow filter lowers the fps instead of adding delay."""
        if getattr(self.source, "encoded", False):
            raise SourceError(_ENCODED_FILTER)
        self.filters.add(fn)

    def remove_filter(self, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Remove ``fn`` (or every filter)."""
        self.filters.remove(fn)

    def _apply_video(self, frame: av.VideoFrame) -> av.VideoFrame:
        rgb = frame.to_ndarray(format="rgb24")
        out = self.filters(rgb, _as_rgb)
        if out is rgb:
            return frame
        return av.VideoFrame.from_ndarray(out, format="rgb24").reformat(format="yuv420p")

    async def _filtered_frame(self) -> av.VideoFrame | None:
        loop = asyncio.get_running_loop()
        if self._worker is None:
            slot = self._slot = _Slot()
            def deliver(frame: av.VideoFrame) -> None:
                loop.call_soon_threadsafe(slot.put, frame)

            self._worker = LatestWorker(self._apply_video, deliver, name="filter")
            self._filter_pump = loop.create_task(self._feed_filter())
        assert self._slot is not None
        try:  # wake up now and then to notice filters removed or the source changed
            return await asyncio.wait_for(self._slot.get(), 0.5)
        except asyncio.TimeoutError:
            return None

    async def _feed_filter(self) -> None:
        while self.filters and self.source is not None:
            try:
                frame: Any = await self.source.track().recv()
            except MediaStreamError:
                self._changed.clear()
                await self._changed.wait()
                continue
            assert self._worker is not None
            self._worker.submit(frame)
        # no filters left: shut the stage down; the output reads the source again
        if self._worker is not None:
            self._worker.stop()
        self._worker = None
        self._filter_pump = None

    @property
    def filter_dropped(self) -> int:
        """Frames the filter stage skipped because it was busy (newest wins)."""
        return self._worker.dropped if self._worker else 0

    async def _filter_audio(self, frame: av.AudioFrame) -> av.AudioFrame:
        import concurrent.futures

        if self._audio_executor is None:
            self._audio_executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="zero_nb-afilter")
        block = AudioFeed.to_float(frame)
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(self._audio_executor, self.filters, block,
                                         _check_audio)
        if out is block:
            return frame
        pcm = (np.clip(out, -1, 1) * 32767).astype("<i2").reshape(1, -1)
        new = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        new.sample_rate = frame.sample_rate
        return new

    # -- conveniences forwarded to the source -------------------------------------------------
    def pause(self) -> None:
        """Video: send black frames until resume(). Audio: same as mute()."""
        if isinstance(self.source, VideoSource):
            self.source.pause()
        elif isinstance(self.source, AudioSource):
            self.source.mute()

    def resume(self) -> None:
        if isinstance(self.source, VideoSource):
            self.source.resume()
        elif isinstance(self.source, AudioSource):
            self.source.unmute()

    mute = pause
    unmute = resume

    def __getattr__(self, name: str) -> Any:
        # feed readers (latest, fps, level_db, ...) straight from room.local.video
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.feed, name)

    def close(self) -> None:
        self._output.stop()
        self._changed.set()  # wake the output track so its relay task sees the end
        if self._worker is not None:
            self._worker.stop()
        if self._filter_pump is not None:
            self._filter_pump.cancel()
        if self._audio_executor is not None:
            self._audio_executor.shutdown(wait=False)
        if self.source is not None:
            self.source.close()
        if self._pump is not None:
            self._pump.cancel()

    def __repr__(self) -> str:
        return f"<LocalMedia {self.kind} source={self.source!r}>"
