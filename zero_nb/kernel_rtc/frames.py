"""Frame <-> numpy conversions and media clocks, in one place.

Everything that turns user arrays into PyAV frames (or back) and every timestamp clock lives
here, so sources, feeds, the output track and the widget link agree on formats: video is
``(H, W, 3)`` uint8 RGB for people and yuv420p for encoders; audio is float32 in [-1, 1] for
people and s16 stereo 48 kHz on the wire.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
import numpy as np

from ..errors import SourceError

__all__ = [
    "AUDIO_RATE",
    "AUDIO_SAMPLES",
    "CLOCK_RATE",
    "VIDEO_CLOCK",
    "Pacer",
    "Restamper",
    "as_rgb",
    "audio_to_float",
    "rgb_to_yuv",
    "s16_frame",
]

VIDEO_CLOCK = 90_000  # RTP video clock (Hz)
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960  # 20 ms at 48 kHz
CLOCK_RATE = {"video": VIDEO_CLOCK, "audio": AUDIO_RATE}
_VIDEO_BASE = fractions.Fraction(1, VIDEO_CLOCK)


def as_rgb(img: Any) -> np.ndarray:
    """Normalise a user image to contiguous ``(H, W, 3)`` uint8 RGB with even sides.

    Gray ``(H, W)`` is repeated, RGBA loses alpha, floats in [0, 1] are scaled to 255.
    Raises :class:`SourceError` for None or any other shape.
    """
    if img is None:
        raise SourceError("a video frame must be an (H, W, 3) RGB uint8 array; got None")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise SourceError(f"a video frame must be (H, W, 3) RGB uint8; got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                or arr.dtype == np.bool_):
            raise SourceError(f"a video frame must hold numbers; got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255)
        arr = arr.astype(np.uint8)
    h, w = arr.shape[:2]
    if h % 2 or w % 2:  # yuv420p needs even sizes
        arr = arr[: h - h % 2, : w - w % 2]
    return np.ascontiguousarray(arr)


def rgb_to_yuv(img: np.ndarray) -> av.VideoFrame:
    """An RGB array as a new yuv420p frame (what every encoder wants; converted once)."""
    return av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")


def audio_to_float(frame: av.AudioFrame) -> np.ndarray:
    """An audio frame as ``(samples, channels)`` float32 in [-1, 1]."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if np.issubdtype(data.dtype, np.integer):
        scale = float(np.iinfo(data.dtype).max + 1)  # type: ignore[type-var]
        return data.astype(np.float32) / scale
    return data.astype(np.float32, copy=False)


def s16_frame(block: Any, sample_rate: int = AUDIO_RATE) -> av.AudioFrame:
    """Float samples ``(n,)``, ``(n, 1)`` or ``(n, 2)`` as an s16 stereo frame (mono is
    duplicated, not upmixed at -3 dB; values are clipped to [-1, 1])."""
    arr = np.asarray(block, np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise SourceError(f"audio must be (n,) or (n, 2) float32; got shape {arr.shape}")
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 2, axis=1)
    pcm = (np.clip(arr, -1.0, 1.0) * 32767).astype("<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
    frame.sample_rate = sample_rate
    return frame


class Restamper:
    """Re-stamps a stream's frames from its own clock: video from the wall clock (90 kHz),
    audio by sample count, so switching what feeds a track never makes time jump back."""

    def __init__(self, kind: str = "video") -> None:
        self.kind = kind
        self._t0: float | None = None
        self._samples = 0

    def __call__(self, frame: Any) -> Any:
        if isinstance(frame, av.Packet) and self.kind == "audio":  # encoded Opus (encoded.py)
            frame.pts, frame.time_base = self._samples, fractions.Fraction(1, 48_000)
            self._samples += frame.duration or 960
            return frame
        if isinstance(frame, av.AudioFrame):
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, frame.sample_rate)
            self._samples += frame.samples
            return frame
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        frame.pts = int((now - self._t0) * VIDEO_CLOCK)
        frame.time_base = _VIDEO_BASE
        return frame


class Pacer:
    """Paces media on the wall clock: what sits at media time ``t`` (seconds) is due at
    origin + ``t``. The first item, an item more than ``resync_s`` late (a stalled loop) and
    the first after :meth:`restart` move the origin to now: no wait, never a burst."""

    def __init__(self, resync_s: float = 1.0) -> None:
        self.resync_s = resync_s
        self._origin: float | None = None

    def restart(self) -> None:
        self._origin = None

    async def wait(self, t: float) -> None:
        """Sleep until ``t`` is due."""
        now = time.monotonic()
        if self._origin is None or self._origin + t < now - self.resync_s:
            self._origin = now - t
        due = self._origin + t
        if due > now:
            await asyncio.sleep(due - now)
