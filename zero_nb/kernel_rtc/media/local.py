"""What this participant sends: one output track per kind, whatever the source of the moment.

Every peer connection sends a relay of the same output track, so changing the source (a bot
pattern, a file, the browser camera) or pausing it needs no renegotiation. The output track
re-stamps timestamps from its own clock, so switching sources never makes them jump back.
"""

from __future__ import annotations

import asyncio
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

from ...errors import SourceError
from ..frames import Restamper, as_rgb, rgb_to_yuv, s16_frame
from ..workers import LatestWorker
from .feeds import AudioFeed, VideoFeed, pump
from .quality import Quality
from .sources import AudioSource, MediaSource, VideoSource

__all__ = ["FilterChain", "LocalMedia", "source_live"]

log = logging.getLogger("zero_nb.filters")

_ENCODED_FILTER = ("filters need decoded frames, and an encoded source (from_file(..., "
                   "encoded=True)) sends its packets unchanged: use encoded=False to filter it")

def _source_muted(source: MediaSource | None) -> bool:
    return bool(getattr(source, "paused", False) or getattr(source, "muted", False))


def _mute_source(source: MediaSource | None, muted: bool) -> None:
    """Pause/mute a source that can (a feed from the browser is muted there)."""
    if isinstance(source, VideoSource):
        (source.pause if muted else source.resume)()
    elif isinstance(source, AudioSource):
        (source.mute if muted else source.unmute)()


def source_live(source: MediaSource | None) -> bool:
    """True if ``source`` would send live media: present, not ended, not paused/muted."""
    return source is not None and not source.ended and not _source_muted(source)


class FilterChain:
    """Filters applied in order; one that raises (or returns a bad frame) is skipped for that
    frame and counted, reported through ``on_error`` once per failure, and called again on
    the next frame: a transient fault heals by itself."""

    def __init__(self, on_error: Callable[[str], None] | None = None) -> None:
        self.filters: list[Callable[[np.ndarray], np.ndarray]] = []
        self.calls: dict[int, int] = {}
        self.errors: dict[int, int] = {}
        self.last_error: dict[int, str] = {}
        self.seconds: dict[int, float] = {}
        self.on_error = on_error
        self._failing: set[int] = set()
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
                self._failed(fn, exc)
                continue
            finally:
                self.calls[key] = self.calls.get(key, 0) + 1
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start
            self._failing.discard(key)
            data = out
        return data

    def _failed(self, fn: Callable[..., Any], exc: Exception) -> None:
        key = id(fn)
        self.errors[key] = self.errors.get(key, 0) + 1
        self.last_error[key] = f"{type(exc).__name__}: {exc}"
        if key in self._failing:
            return
        self._failing.add(key)
        text = (f"filter {getattr(fn, '__name__', fn)} failed: {self.last_error[key]}; it is "
                "skipped for frames where it fails (counted in room.stats())")
        (log.warning if self.errors[key] == 1 else log.info)("%s", text)  # warn once
        if self.on_error is not None:
            self.on_error(text)

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
        self._restamp = Restamper(media.kind)

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
                if filtered is None or (filtered := media.quality.shape(filtered)) is None:
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
            elif media.kind == "video" and (frame := media.quality.shape(frame)) is None:
                continue  # the fps cap skips it
            return self._restamp(frame)


class LocalMedia:
    """This participant's outgoing video or audio: ``room.local.video`` / ``.audio``.

    ``feed`` shows what the others receive (a :class:`VideoFeed` / :class:`AudioFeed`).
    """

    def __init__(self, kind: str, source: MediaSource | None = None, *,
                 on_error: Callable[[str], None] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.source: MediaSource | None = None
        self._on_error = on_error
        self._on_change = on_change  # the room re-announces what it sends (any thread)
        self._muted = False
        self._changed = asyncio.Event()
        self.feed: VideoFeed | AudioFeed = VideoFeed("local") if kind == "video" \
            else AudioFeed("local")
        self._output = _OutputTrack(self)
        self._relay = MediaRelay()
        self._pump: asyncio.Task[None] | None = None
        self.filters = FilterChain(on_error)
        self.quality = Quality()  # caps before and in the encoder (video)
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
        if source is not None and self._on_error is not None:
            source.on_error = self._on_error
        if self._muted:  # muted stays muted across a change of source, as in a browser
            _mute_source(source, True)
        self._changed.set()
        self._notify()
        if self._pump is None and source is not None:
            self._pump = asyncio.get_running_loop().create_task(
                pump(self._relay.subscribe(self._output, buffered=False), self.feed))

    def subscribe(self) -> MediaStreamTrack:
        """A newest-wins relay of the output, for one more peer connection."""
        return self._relay.subscribe(self._output, buffered=False)

    def set_quality(self, max_kbps: float | None = None, width: int | None = None,
                    height: int | None = None, fps: float | None = None) -> None:
        """Cap what the others receive (video), at runtime, no renegotiation: ``max_kbps``
        the encoder's bitrate (REMB may still lower it), ``width``/``height`` the largest
        frame size (aspect kept, never enlarged), ``fps`` the frame rate. None: no cap."""
        if self.kind != "video":
            raise ValueError("set_quality applies to room.local.video")
        self.quality.set(max_kbps, width, height, fps)

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
        out = self.filters(rgb, as_rgb)
        if out is rgb:
            return frame
        return rgb_to_yuv(out)

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
    def source_errors(self) -> int:
        """Frames the current source failed to make (black or silence went out instead)."""
        return self.source.errors if self.source is not None else 0

    @property
    def filter_dropped(self) -> int:
        """Frames the filter stage skipped because it was busy (newest wins)."""
        return self._worker.dropped if self._worker else 0

    async def _filter_audio(self, frame: av.AudioFrame) -> av.AudioFrame:
        import concurrent.futures

        if self._output.readyState != "live":
            raise MediaStreamError  # closed while this frame was on its way: end quietly
        if self._audio_executor is None:
            self._audio_executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="zero_nb-afilter")
        block = AudioFeed.to_float(frame)
        loop = asyncio.get_running_loop()
        try:
            job = loop.run_in_executor(self._audio_executor, self.filters, block, _check_audio)
        except RuntimeError:  # close() shut the executor down from another thread meanwhile
            raise MediaStreamError from None
        out = await job
        if out is block:
            return frame
        return s16_frame(out, frame.sample_rate)

    # -- muting (the others see it on their tiles: the room announces it) --------------------
    @property
    def muted(self) -> bool:
        """True while muted: audio sends silence, video black frames (camera off).
        Settable (``room.local.audio.muted = True``), like :meth:`mute` / :meth:`unmute`."""
        return self._muted or _source_muted(self.source)

    @muted.setter
    def muted(self, value: bool) -> None:
        self._muted = bool(value)
        _mute_source(self.source, self._muted)
        self._notify()

    @property
    def sending(self) -> bool:
        """True if live media goes out: a source that has not ended, not muted."""
        return source_live(self.source) and not self._muted

    def pause(self) -> None:
        """Video: send black frames until resume(). Audio: silence. The others are told."""
        self.muted = True

    def resume(self) -> None:
        self.muted = False

    mute = pause
    unmute = resume

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change()

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
