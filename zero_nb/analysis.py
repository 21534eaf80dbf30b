"""Analysis helpers for notebooks (the ``[analysis]`` extra): speech-like test audio, a face
detector filter and a test clip with a real face.

- :func:`speech_like` / :func:`talk`: voiced-speech-like audio (a gliding pitch with its
  harmonics shaped by three formants, loudness pulsing at a syllable rate) that WebRTC's VAD
  takes for speech, for bots that "talk" on a script;
- :class:`FaceDetector`: OpenCV's Haar face detector (shipped inside
  ``opencv-python-headless``) as a ``room.local.video.add_filter`` that draws boxes others
  see, counts faces and times itself;
- :func:`face_clip`: a video source showing scikit-image's astronaut photo (a drawn face is
  not detected by Haar cascades), drifting across a plain background.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import MissingExtra
from .kernel_rtc.media.sources import AudioSource, VideoSource, from_frames

__all__ = ["FaceDetector", "face_clip", "face_frames", "require", "speech_like", "talk"]

RATE = 48000
BLOCK = 960  # samples per 20 ms block, as AudioSource sends them
SYLLABLE_HZ = 4.5
FORMANTS = ((500.0, 200.0), (1500.0, 300.0), (2500.0, 400.0))  # centre, width (Hz)


def require(module: str) -> Any:
    """Import ``module`` (``cv2``, ``skimage``, ``pandas``, ``webrtcvad``) or raise
    :class:`~zero_nb.errors.MissingExtra` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{module} is part of zero_nb's analysis extra: "
                           f"pip install 'zero_nb[analysis]'") from exc


# -- speech-like audio ---------------------------------------------------------------------------

def _voice(t: np.ndarray, f0: float) -> np.ndarray:
    """Unscaled voiced sound at sample times ``t`` (s): continuous across calls."""
    vibrato = 0.08
    phase = 2 * np.pi * f0 * (t - vibrato / (2 * np.pi * 0.7) * np.cos(2 * np.pi * 0.7 * t))
    out = np.zeros_like(t)
    for h in range(1, int(4000 // f0) + 1):
        fh = h * f0
        gain = 0.1 + sum(math.exp(-(((fh - c) / w) ** 2)) for c, w in FORMANTS)
        out += gain / math.sqrt(h) * np.sin(h * phase)
    syllables = 0.3 + 0.35 * (1 - np.cos(2 * np.pi * SYLLABLE_HZ * t))
    return out * syllables


def _scale(f0: float, level_db: float) -> float:
    """Gain that makes :func:`_voice` read ``level_db`` dBFS RMS (AES17, as feeds measure)."""
    rms = float(np.sqrt(np.mean(np.square(_voice(np.arange(RATE) / RATE, f0)))))
    return float(10 ** (level_db / 20) / math.sqrt(2) / rms)


def speech_like(duration_s: float, *, f0: float = 140.0, level_db: float = -20.0,
                offset_s: float = 0.0) -> np.ndarray:
    """``duration_s`` of speech-like float32 audio at 48 kHz, ``level_db`` dBFS RMS;
    ``offset_s`` continues the same sound from that time on."""
    t = offset_s + np.arange(round(duration_s * RATE)) / RATE
    return (_scale(f0, level_db) * _voice(t, f0)).astype(np.float32)


def _gate(t: np.ndarray, script: Sequence[tuple[float, float]], ramp_s: float = 0.005
          ) -> np.ndarray:
    """1 inside the script's ``(start, end)`` bursts, 0 outside, 5 ms ramps (no clicks)."""
    gate = np.zeros_like(t)
    for start, end in script:
        gate = np.maximum(gate, np.clip(np.minimum(t - start, end - t) / ramp_s, 0, 1))
    return gate


def talk(script: Sequence[tuple[float, float]], t0: float, *, f0: float = 140.0,
         level_db: float = -20.0) -> AudioSource:
    """An audio source that speaks (:func:`speech_like`) during each ``(start, end)`` of
    ``script``, seconds after the wall-clock time ``t0`` (``time.time()``), silent otherwise.

    Blocks follow the wall clock, so several bots keep to one shared script."""
    gain = _scale(f0, level_db)
    bursts = [(float(a), float(b)) for a, b in script]

    def make(index: int) -> np.ndarray:
        block = math.floor((time.time() - t0) * RATE / BLOCK)  # the block "now" falls in
        t = (block * BLOCK + np.arange(BLOCK)) / RATE
        gate = _gate(t, bursts)
        if not gate.any():
            return np.zeros(BLOCK, np.float32)
        return (gain * gate * _voice(t, f0)).astype(np.float32)

    return AudioSource(make, label=f"talk({len(bursts)} bursts, f0 {f0:g} Hz)")


# -- faces ---------------------------------------------------------------------------------------

class FaceDetector:
    """OpenCV Haar face detection as a video filter: ``room.local.video.add_filter(det)``.

    Draws a box around each face (the others see it), and keeps per-frame counts
    (``frames``, ``frames_with_faces``, ``history(seconds)``) and the cost per frame
    (``mean_ms``). ``scale`` < 1 detects on a smaller copy (faster, misses small faces).
    """

    def __init__(self, *, scale: float = 1.0, min_neighbors: int = 5,
                 min_size: tuple[int, int] = (24, 24), color: tuple[int, int, int] = (0, 255, 0),
                 cascade: str = "haarcascade_frontalface_default.xml") -> None:
        cv2 = require("cv2")
        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self._cascade.empty():
            raise MissingExtra(f"OpenCV has no {cascade}: pip install "
                               f"'opencv-python-headless<5' (zero_nb[analysis])")
        self.scale = scale
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.color = color
        self.frames = 0
        self.frames_with_faces = 0
        self.seconds = 0.0
        self.last_faces: list[tuple[int, int, int, int]] = []
        self._history: collections.deque[tuple[float, int]] = collections.deque(maxlen=10_000)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Faces in an RGB frame as ``(x, y, w, h)`` boxes."""
        cv2 = self._cv2
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if self.scale != 1.0:
            gray = cv2.resize(gray, None, fx=self.scale, fy=self.scale)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1,
                                               minNeighbors=self.min_neighbors,
                                               minSize=self.min_size)
        return [tuple(int(v / self.scale) for v in box) for box in found]  # type: ignore[misc]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        faces = self.detect(rgb)
        out = rgb.copy()
        for x, y, w, h in faces:
            self._cv2.rectangle(out, (x, y), (x + w, y + h), self.color, 3)
        with self._lock:
            self.frames += 1
            self.frames_with_faces += bool(faces)
            self.seconds += time.perf_counter() - start
            self.last_faces = faces
            self._history.append((time.time(), len(faces)))
        return out

    @property
    def detection_rate(self) -> float:
        """Share of frames with at least one face."""
        return self.frames_with_faces / self.frames if self.frames else 0.0

    @property
    def mean_ms(self) -> float:
        """Mean cost per frame (detection + drawing), ms."""
        return 1000 * self.seconds / self.frames if self.frames else 0.0

    def history(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(times, faces)``: wall-clock time and face count of each processed frame."""
        with self._lock:
            rows = list(self._history)
        if seconds is not None:
            rows = [r for r in rows if r[0] >= time.time() - seconds]
        arr = np.array(rows, float).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    def __repr__(self) -> str:
        return (f"<FaceDetector {self.frames} frames, faces in {self.detection_rate:.0%}, "
                f"{self.mean_ms:.1f} ms/frame>")


def face_frames(width: int = 320, height: int = 240, fps: float = 15
                ) -> Callable[[int], np.ndarray]:
    """``frame(index)`` -> RGB: scikit-image's astronaut photo (a real face) drifting slowly
    over a grey background (the frames of :func:`face_clip`)."""
    skimage_data = require("skimage.data")
    cv2 = require("cv2")
    side = int(min(width, height) * 0.95)
    photo = cv2.resize(skimage_data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    background = np.full((height, width, 3), 90, np.uint8)
    travel = max(0, width - side)

    def frame(index: int) -> np.ndarray:
        img = background.copy()
        x = int(travel * (0.5 + 0.5 * math.sin(index / (4 * fps))))
        y = (height - side) // 2
        img[y:y + side, x:x + side] = photo
        return img

    return frame


def face_clip(width: int = 320, height: int = 240, fps: float = 15) -> VideoSource:
    """A video source with a real face in it (see :func:`face_frames`)."""
    return from_frames(face_frames(width, height, fps), fps)
