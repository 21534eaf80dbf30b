"""Voice activity of one audio stream: WebRTC's VAD per frame, smoothed into speech segments.

WebRTC's VAD (``webrtcvad-wheels``, from the ``[analysis]`` extra) classifies 10/20/30 ms
frames at 8/16/32/48 kHz. A single frame decision is noisy (steady noise yields a stray
"voiced" frame now and then, a syllable boundary a stray "unvoiced" one), so :class:`Segmenter`
turns decisions into segments: a segment counts once it holds ``min_segment_s`` of voiced
frames (so stray frames never become speech), and ends ``hangover_s`` after its last voiced
frame (so short pauses inside a sentence do not split it). Its start and end are the first and
last voiced frames, not the moments the decision was taken. WebRTC's VAD keeps saying "voiced"
for up to ~140 ms after speech stops (its own hangover); frames ``tail_db`` below the segment's
loudest frame, or within ``floor_db`` of the stream's noise floor (its quietest frame in the
last 5 s), are therefore not taken as its end, which puts the end back where speech stopped.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any

import numpy as np

from ...errors import MissingExtra

__all__ = ["Change", "Segmenter", "VadSettings", "VoiceDetector", "load_webrtcvad"]

VAD_RATES = (8000, 16000, 32000, 48000)
MAX_DRIFT_S = 0.25  # arrival this far from the sample clock: re-anchor
SLEW_S = 0.005  # at most this correction per block: frame times stay in order


def load_webrtcvad() -> Any:
    """The ``webrtcvad`` module, or :class:`MissingExtra` naming the extra to install."""
    try:
        import webrtcvad
    except ImportError as exc:
        raise MissingExtra("voice activity detection needs WebRTC's VAD: "
                           "pip install 'zero_nb[analysis]'") from exc
    return webrtcvad


@dataclasses.dataclass(frozen=True)
class VadSettings:
    """How speech is detected.

    ``aggressiveness``: WebRTC VAD mode 0 (keeps quiet speech) .. 3 (rejects most noise).
    ``hangover_s``: silence that ends a segment. ``min_segment_s``: voiced audio a segment
    needs before it counts. ``frame_ms``: VAD frame, 10, 20 or 30 ms. ``tail_db``: voiced
    frames this far below the segment's loudest, or ``floor_db`` within the noise floor, do
    not extend it.
    """

    aggressiveness: int = 1
    hangover_s: float = 0.3
    min_segment_s: float = 0.2
    frame_ms: int = 20
    tail_db: float = 30.0
    floor_db: float = 6.0

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness is 0..3; got {self.aggressiveness}")
        if self.frame_ms not in (10, 20, 30):
            raise ValueError(f"frame_ms is 10, 20 or 30; got {self.frame_ms}")
        if self.hangover_s < 0 or self.min_segment_s < 0:
            raise ValueError("hangover_s and min_segment_s must be >= 0")


@dataclasses.dataclass(frozen=True)
class Change:
    """A speaking state change: ``speaking`` True at ``time`` = segment start, False at
    ``time`` = segment end."""

    speaking: bool
    time: float


class Segmenter:
    """Per-frame voiced/unvoiced decisions -> speech segments (pure, no audio)."""

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self.frame_s = settings.frame_ms / 1000
        self.speaking = False
        self._start: float | None = None  # first voiced frame of the candidate segment
        self._last_end = 0.0  # end of its last voiced frame
        self._voiced = 0  # voiced frames in the candidate
        self._peak = -math.inf  # loudest frame of the candidate (dBFS)

    def push(self, start: float, voiced: bool, level_db: float = 0.0,
             floor_db: float = -math.inf) -> list[Change]:
        """One frame starting at ``start`` (s), the VAD's decision, the frame's level and
        the stream's noise floor (dB); returns the changes it causes."""
        if voiced and self._start is not None and level_db < max(
                self._peak - self.settings.tail_db, floor_db + self.settings.floor_db):
            voiced = False  # the VAD's own hangover over near-silence
        if voiced:
            if self._start is None:
                self._start, self._voiced, self._peak = start, 0, level_db
            self._peak = max(self._peak, level_db)
            self._voiced += 1
            self._last_end = start + self.frame_s
            if not self.speaking and \
                    self._voiced * self.frame_s >= self.settings.min_segment_s - 1e-6:
                self.speaking = True
                return [Change(True, self._start)]
            return []
        return self.expire(start + self.frame_s)

    def expire(self, now: float) -> list[Change]:
        """Close the segment if ``now`` is ``hangover_s`` past its last voiced frame (also
        for a stream that stopped delivering audio)."""
        # 1 ms slack: wall-clock times (~1.8e9 s) carry only ~0.2 µs of precision
        if self._start is None or now - self._last_end < self.settings.hangover_s - 1e-3:
            return []
        return self.close()

    def close(self) -> list[Change]:
        """End of stream: close an open segment at its last voiced frame."""
        was, self.speaking, self._start = self.speaking, False, None
        return [Change(False, self._last_end)] if was else []


class VoiceDetector:
    """WebRTC VAD + :class:`Segmenter` for one stream of float audio blocks."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self._vad = load_webrtcvad().Vad(self.settings.aggressiveness)
        self.segmenter = Segmenter(self.settings)
        self._pending = np.zeros(0, np.int16)
        self._rate = 0
        self._clock: float | None = None  # start time of the first pending sample
        self._levels: collections.deque[float] = collections.deque(
            maxlen=5000 // self.settings.frame_ms)  # for the noise floor
        self.frames = 0  # VAD frames classified
        self.voiced = 0  # of which voiced

    @property
    def speaking(self) -> bool:
        return self.segmenter.speaking

    def push(self, samples: np.ndarray, sample_rate: int, end_time: float) -> list[Change]:
        """``samples``: ``(n,)`` or ``(n, channels)`` float in [-1, 1] that ended at
        ``end_time`` (s). Returns the speaking changes, in order."""
        mono = np.asarray(samples, np.float32)
        if mono.ndim == 2:
            mono = mono.mean(axis=1)
        mono, rate = _vad_rate(mono, sample_rate)
        duration = len(mono) / rate
        start = end_time - duration
        # follow the sample clock, slewed gently towards arrival times (which jitter, and
        # whose latency drifts as jitter buffers adapt); re-anchor after a gap or a jump
        drift = 0.0 if self._clock is None else \
            start - (self._clock + len(self._pending) / rate)
        if self._clock is None or rate != self._rate or abs(drift) > MAX_DRIFT_S:
            self._pending = np.zeros(0, np.int16)
            self._clock, self._rate = start, rate
        else:
            self._clock += float(np.clip(0.1 * drift, -SLEW_S, SLEW_S))
        pcm = (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)
        self._pending = np.concatenate([self._pending, pcm])
        step = rate * self.settings.frame_ms // 1000
        changes: list[Change] = []
        used = 0
        while len(self._pending) - used >= step:
            frame = self._pending[used:used + step]
            voiced = bool(self._vad.is_speech(frame.tobytes(), rate))
            self.frames += 1
            self.voiced += voiced
            level = _level(frame)
            self._levels.append(level)
            changes += self.segmenter.push(self._clock + used / rate, voiced, level,
                                           min(self._levels))
            used += step
        self._pending = self._pending[used:]
        self._clock += used / rate
        return changes


def _level(pcm: np.ndarray) -> float:
    """RMS of int16 samples in dBFS (relative use only: no AES17 offset needed)."""
    power = float(np.mean(np.square(pcm, dtype=np.float64)))
    return 10 * math.log10(power / 32768.0**2) if power > 0 else -120.0


def _vad_rate(mono: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """Audio at a rate the VAD takes (linear resampling to 16 kHz otherwise)."""
    if rate in VAD_RATES:
        return mono, rate
    n = round(len(mono) * 16000 / rate)
    x = np.linspace(0, len(mono) - 1, n) if len(mono) else np.zeros(0)
    return np.interp(x, np.arange(len(mono)), mono).astype(np.float32), 16000
