"""Media sources for bots and notebooks: synthetic, numpy, file. Pull-based aiortc tracks.

A source owns one aiortc track paced by the wall clock; the room fans it out to every peer.
Frame production runs in a worker thread, so a heavy generator never blocks the media loop.
``pause()``/``mute()`` switch to black/silence without renegotiation. A producer that raises
or returns a bad frame is counted and reported once per failure (``on_error``); black or
silence goes out meanwhile and the producer keeps being called, so a transient fault heals.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from ...errors import SourceError
from ..frames import AUDIO_RATE, AUDIO_SAMPLES, VIDEO_CLOCK, as_rgb, rgb_to_yuv, s16_frame
from .tracks import FeedTrack

__all__ = [
    "RESOLUTIONS",
    "AudioSource",
    "FeedSource",
    "MediaSource",
    "VideoSource",
    "black",
    "decoded_from_file",
    "from_frames",
    "read_stamp",
    "silence",
    "solid",
    "test_pattern",
    "tone",
]

log = logging.getLogger("zero_nb.sources")

RESOLUTIONS = {"QVGA": (320, 240), "VGA": (640, 480), "HD": (1280, 720), "FullHD": (1920, 1080)}
_REPORT_EVERY_S = 2.0  # a flapping producer is reported at most this often


def _with_index(make: Callable[..., Any]) -> Callable[[int], Any]:
    """``make`` as ``f(index)``: called with the frame index when it takes a positional
    argument, else as ``f()`` (the signature is inspected once, here)."""
    try:
        params = inspect.signature(make).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): assume f(index)
        return make
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    if any(p.kind in positional for p in params):
        return make
    return lambda index: make()


def _resolve(width: int | str | None, height: int | None) -> tuple[int, int]:
    if isinstance(width, str):
        if width not in RESOLUTIONS:
            raise SourceError(f"unknown resolution {width!r}: use one of {', '.join(RESOLUTIONS)}")
        return RESOLUTIONS[width]
    w, h = (width or 640), (height or 480)
    if w % 2 or h % 2 or w < 16 or h < 16:
        raise SourceError(f"video size {w}x{h} must be even and at least 16x16")
    return w, h


class MediaSource:
    """Base of all sources: one aiortc track, wall-clock paced, produced off the loop."""

    kind = ""

    def __init__(self) -> None:
        self._track: _SourceTrack | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zero_nb-src")
        self.ended = False
        self.label = ""
        self.errors = 0  # frames the producer failed to make (black/silence went out)
        self.last_error: str | None = None
        self.on_error: Callable[[str], None] | None = None  # set by the room: report_error
        self._failing = False
        self._reported_at = -math.inf

    def track(self) -> MediaStreamTrack:
        """The source's single aiortc track (fanned out by the room)."""
        if self._track is None:
            self._track = _SourceTrack(self)
        return self._track

    async def _next(self, index: int) -> av.VideoFrame | av.AudioFrame:
        raise NotImplementedError

    def _period(self) -> float:
        raise NotImplementedError

    def _fallback(self, index: int) -> av.VideoFrame | av.AudioFrame:
        """What goes out while the producer fails: black or silence."""
        raise NotImplementedError

    def _failed(self, index: int, exc: BaseException) -> av.VideoFrame | av.AudioFrame:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if not self._failing and now - self._reported_at >= _REPORT_EVERY_S:
            self._reported_at = now
            gap = "black" if self.kind == "video" else "silence"
            text = (f"{self.kind} source {self.label or type(self).__name__} failed: "
                    f"{self.last_error}; sending {gap} and retrying every frame")
            (log.warning if self.errors == 1 else log.info)("%s", text)  # warn once
            if self.on_error is not None:
                self.on_error(text)
        self._failing = True
        return self._fallback(index)

    def _succeeded(self) -> None:
        if self._failing:
            self._failing = False
            log.info("%s source %s works again", self.kind, self.label)

    def close(self) -> None:
        self.ended = True
        self._executor.shutdown(wait=False, cancel_futures=True)


class _SourceTrack(MediaStreamTrack):
    def __init__(self, source: MediaSource) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        if self.readyState != "live" or self._source.ended:
            self.stop()
            raise MediaStreamError
        period = self._source._period()
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._index * period
            if due < now - 1.0:  # fell far behind (loop stalled): skip ahead, never burst
                self._index = int((now - self._start) / period)
                due = self._start + self._index * period
            if due > now:
                await asyncio.sleep(due - now)
        try:
            frame = await self._source._next(self._index)
        except (StopIteration, StopAsyncIteration, EOFError):
            self._source.ended = True
            self.stop()
            raise MediaStreamError from None
        except Exception as exc:
            if self._source.ended:
                self.stop()  # the source was closed (its executor shut) while we waited
                raise MediaStreamError from None
            frame = self._source._failed(self._index, exc)
        else:
            self._source._succeeded()
        self._index += 1
        return frame


# -- video ---------------------------------------------------------------------------------

_STAMP_BLOCK = 8
_STAMP_BITS = 48  # 16-bit frame counter + 32-bit send time in ms


def _write_stamp(img: np.ndarray, counter: int, sent_ms: int) -> None:
    """Draw counter and send time as black/white 8x8 blocks, 16 per row, in the top rows."""
    value = ((counter & 0xFFFF) << 32) | (sent_ms & 0xFFFFFFFF)
    for bit in range(_STAMP_BITS):
        row, col = divmod(bit, 16)
        on = (value >> (_STAMP_BITS - 1 - bit)) & 1
        y, x = row * _STAMP_BLOCK, col * _STAMP_BLOCK
        img[y:y + _STAMP_BLOCK, x:x + _STAMP_BLOCK] = 255 if on else 0


def read_stamp(img: np.ndarray) -> tuple[int, int] | None:
    """Read ``(counter, sent_ms)`` from a :func:`test_pattern` frame, or None if absent.

    ``sent_ms`` is ``time.time()*1000 mod 2**32`` at the sender: on one machine,
    ``(time.time()*1000 - sent_ms) % 2**32`` is the send-to-here latency.
    """
    if img.ndim != 3 or img.shape[0] < 3 * _STAMP_BLOCK or img.shape[1] < 16 * _STAMP_BLOCK:
        return None
    half = _STAMP_BLOCK // 2
    value = 0
    for bit in range(_STAMP_BITS):
        row, col = divmod(bit, 16)
        y, x = row * _STAMP_BLOCK + half, col * _STAMP_BLOCK + half
        patch = img[y - 2:y + 2, x - 2:x + 2].mean()
        if 60 < patch < 195:  # neither black nor white: not a stamp
            return None
        value = (value << 1) | int(patch >= 128)
    return value >> 32, value & 0xFFFFFFFF


class VideoSource(MediaSource):
    """A video source producing RGB numpy frames from ``make(index) -> ndarray``."""

    kind = "video"

    def __init__(self, make: Callable[[int], np.ndarray], fps: float, label: str = "") -> None:
        super().__init__()
        if fps <= 0:
            raise SourceError(f"fps must be positive; got {fps}")
        self.fps = float(fps)
        self.label = label
        self._make = _with_index(make)
        self._paused = False
        self._black: av.VideoFrame | None = None
        self.shape: tuple[int, ...] | None = None

    def pause(self) -> None:
        """Send black frames (at 2 fps) until :meth:`resume`; no renegotiation."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def _period(self) -> float:
        return 0.5 if self._paused else 1.0 / self.fps

    def _black_frame(self) -> av.VideoFrame:
        shape = self.shape or (480, 640, 3)  # nothing made yet: VGA
        if self._black is None or (self._black.height, self._black.width) != shape[:2]:
            self._black = rgb_to_yuv(np.zeros(shape, np.uint8))
        return self._black

    def _frame(self, index: int) -> av.VideoFrame:
        if self._paused and self.shape is not None:
            return self._black_frame()
        img = as_rgb(_produce(self._make, index))
        self.shape = img.shape
        # converted here, once: encoders for several peers then share a yuv420p frame
        return rgb_to_yuv(img)

    async def _next(self, index: int) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        return self._stamp(await loop.run_in_executor(self._executor, self._frame, index),
                           index)

    def _fallback(self, index: int) -> av.VideoFrame:
        return self._stamp(self._black_frame(), index)

    def _stamp(self, frame: av.VideoFrame, index: int) -> av.VideoFrame:
        # paused: keep a monotonic clock from wall time (the period is not 1/fps then)
        frame.pts = int(time.monotonic() * VIDEO_CLOCK) if self._paused else \
            int(index * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame

    def __repr__(self) -> str:
        return f"<VideoSource {self.label} {self.fps:g} fps{' paused' if self._paused else ''}>"


def _produce(make: Callable[[int], Any], index: int) -> Any:
    try:
        return make(index)
    except StopIteration:  # cannot cross a Future: asyncio refuses StopIteration
        raise EOFError from None


def test_pattern(
    width: int | str = 640, height: int | None = 480, fps: float = 30, *, stamp: bool = True
) -> VideoSource:
    """Moving colour bars with a frame counter and send time stamped in the top rows
    (read them back with :func:`read_stamp` to measure latency)."""
    w, h = _resolve(width, height)
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0],
                     [255, 0, 255], [255, 0, 0], [0, 0, 255], [16, 16, 16]], np.uint8)
    base = bars[(np.arange(w) * len(bars)) // w][None, :, :].repeat(h, axis=0)

    def make(index: int) -> np.ndarray:
        img = np.roll(base, index * 4, axis=1)
        y = (index * 2) % max(h - 3 * _STAMP_BLOCK - 16, 1) + 3 * _STAMP_BLOCK
        img[y:y + 16] = 128
        if stamp and w >= 16 * _STAMP_BLOCK and h >= 3 * _STAMP_BLOCK:
            _write_stamp(img, index, int(time.time() * 1000))
        return img

    return VideoSource(make, fps, label=f"test_pattern {w}x{h}")


def solid(rgb: tuple[int, int, int], width: int | str = 160, height: int | None = 120,
          fps: float = 30) -> VideoSource:
    """A single-colour video (handy to check what arrives)."""
    w, h = _resolve(width, height)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rgb
    return VideoSource(lambda i: img, fps, label=f"solid {rgb}")


def black(width: int | str = 160, height: int | None = 120, fps: float = 5) -> VideoSource:
    """Black video at a low frame rate."""
    return solid((0, 0, 0), width, height, fps)


def from_frames(frames: Iterable[np.ndarray] | Callable[..., np.ndarray],
                fps: float = 30) -> VideoSource:
    """Video from an iterable of RGB arrays (ends with it) or a callable ``f(index)`` or
    ``f()``. A callable that raises or returns a bad frame is reported (``room.on("error")``)
    and black goes out until it works again."""
    if callable(frames):
        return VideoSource(frames, fps, label="from_frames(callable)")
    iterator: Iterator[np.ndarray] = iter(frames)
    lock = threading.Lock()

    def make(index: int) -> np.ndarray:
        with lock:
            return next(iterator)

    return VideoSource(make, fps, label="from_frames(iterable)")


# -- audio ---------------------------------------------------------------------------------

def level_to_amplitude(level_db: float) -> float:
    """Peak amplitude of a sine whose RMS level is ``level_db`` dBFS (AES17: full-scale
    sine = 0 dBFS)."""
    return float(10 ** (level_db / 20.0))


class AudioSource(MediaSource):
    """An audio source producing float32 blocks ``make(index) -> (960,) or (960, 2)``
    at 48 kHz, 20 ms each, sent as stereo s16 (no mono upmix loss)."""

    kind = "audio"

    def __init__(self, make: Callable[[int], np.ndarray], label: str = "") -> None:
        super().__init__()
        self.label = label
        self._make = _with_index(make)
        self._muted = False

    def mute(self) -> None:
        """Send silence until :meth:`unmute`; no renegotiation."""
        self._muted = True

    def unmute(self) -> None:
        self._muted = False

    @property
    def muted(self) -> bool:
        return self._muted

    def _period(self) -> float:
        return AUDIO_SAMPLES / AUDIO_RATE

    def _frame(self, index: int) -> av.AudioFrame:
        if self._muted:
            block = np.zeros((AUDIO_SAMPLES, 2), np.float32)
        else:
            block = np.asarray(_produce(self._make, index), np.float32)
            if block.ndim == 1:
                block = np.stack([block, block], axis=1)
            if block.shape != (AUDIO_SAMPLES, 2):
                raise SourceError(
                    f"an audio block must be ({AUDIO_SAMPLES},) or ({AUDIO_SAMPLES}, 2) "
                    f"float32 at 48 kHz; got {block.shape}")
        return s16_frame(block)

    async def _next(self, index: int) -> av.AudioFrame:
        return self._stamp(self._frame(index), index)  # cheap (1920 samples): no thread hop

    def _fallback(self, index: int) -> av.AudioFrame:
        return self._stamp(s16_frame(np.zeros((AUDIO_SAMPLES, 2), np.float32)), index)

    @staticmethod
    def _stamp(frame: av.AudioFrame, index: int) -> av.AudioFrame:
        frame.pts = index * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame

    def __repr__(self) -> str:
        return f"<AudioSource {self.label}{' muted' if self._muted else ''}>"


def tone(freq_hz: float = 440.0, level_db: float = -20.0) -> AudioSource:
    """A sine tone at ``level_db`` dBFS RMS (AES17: a full-scale sine reads 0 dBFS)."""
    amp = level_to_amplitude(level_db)
    t = np.arange(AUDIO_SAMPLES, dtype=np.float64) / AUDIO_RATE

    def make(index: int) -> np.ndarray:
        phase = 2 * math.pi * freq_hz * index * AUDIO_SAMPLES / AUDIO_RATE
        return (amp * np.sin(2 * math.pi * freq_hz * t + phase)).astype(np.float32)

    return AudioSource(make, label=f"tone {freq_hz:g} Hz {level_db:g} dBFS")


def silence() -> AudioSource:
    """Digital silence."""
    zeros = np.zeros(AUDIO_SAMPLES, np.float32)
    return AudioSource(lambda i: zeros, label="silence")


# -- files -----------------------------------------------------------------------------------

class _FileReader:
    """Decode a media file once per source; hands out video as RGB and audio as float32."""

    def __init__(self, path: str, loop: bool) -> None:
        self.path = path
        self.loop = loop
        self.lock = threading.Lock()
        try:
            container = av.open(path)
        except (OSError, av.error.FFmpegError) as exc:  # type: ignore[attr-defined]
            raise SourceError(f"cannot open media file {path!r}: {exc}") from exc
        self.has_video = bool(container.streams.video)
        self.has_audio = bool(container.streams.audio)
        rate = container.streams.video[0].average_rate if self.has_video else None
        self.fps = float(rate) if rate else 30.0
        container.close()
        self._video: Iterator[np.ndarray] | None = None
        self._audio: Iterator[np.ndarray] | None = None

    def _video_frames(self) -> Iterator[np.ndarray]:
        while True:
            with av.open(self.path) as container:
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24")
            if not self.loop:
                return

    def _audio_blocks(self) -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=AUDIO_RATE)
        pending = np.zeros((0, 2), np.float32)
        while True:
            with av.open(self.path) as container:
                for frame in container.decode(audio=0):
                    for out in resampler.resample(frame):
                        data = out.to_ndarray().reshape(-1, 2)
                        pending = np.concatenate([pending, data])
                        while len(pending) >= AUDIO_SAMPLES:
                            yield pending[:AUDIO_SAMPLES]
                            pending = pending[AUDIO_SAMPLES:]
            if not self.loop:
                return

    def next_video(self, index: int) -> np.ndarray:
        with self.lock:
            if self._video is None:
                self._video = self._video_frames()
            return next(self._video)

    def next_audio(self, index: int) -> np.ndarray:
        with self.lock:
            if self._audio is None:
                self._audio = self._audio_blocks()
            return next(self._audio)


def decoded_from_file(path: str | Path, *, loop: bool = False
                      ) -> tuple[VideoSource | None, AudioSource | None]:
    """``(video, audio)`` sources decoding a media file (either may be None); ``loop=True``
    repeats it. :func:`.files.from_file` chooses between this and the encoded kind."""
    reader = _FileReader(str(path), loop)
    video = VideoSource(reader.next_video, reader.fps, label=f"file {path}") \
        if reader.has_video else None
    audio = AudioSource(reader.next_audio, label=f"file {path}") if reader.has_audio else None
    if video is None and audio is None:
        raise SourceError(f"{str(path)!r} has neither video nor audio streams")
    return video, audio


class FeedSource(MediaSource):
    """A source sending whatever a feed receives: e.g. the browser camera of a
    :class:`zero_nb.widgets.Camera`, or ``peer.video.map(fn)``. Paced by the feed."""

    def __init__(self, feed: Any, label: str = "") -> None:
        super().__init__()
        self.feed = feed
        self.kind = feed.kind
        self.label = label or f"feed {feed.label}"

    def track(self) -> MediaStreamTrack:
        if self._track is None:
            self._track = FeedTrack(self.kind, self.feed)  # type: ignore[assignment]
        return self._track  # type: ignore[return-value]

    def close(self) -> None:
        super().close()
        if self._track is not None:
            self._track.stop()

    def __repr__(self) -> str:
        return f"<FeedSource {self.label}>"
