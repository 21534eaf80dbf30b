"""A class in one process for tests and benchmarks/class.py: encoded students, colour checks.

Students send encoded test clips (no encoder runs per student: kernel_rtc/encoded.py), one
distinct colour each, and receive nothing (``room.subscribe([])``); the teacher receives all.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import zero_nb
from zero_nb import sources


def colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` colours at least 85 apart on some channel (levels 0/85/170/255, no greys), the
    first ``n`` of a fixed order, so a class of 10 reuses the clips of a class of 30."""
    levels = (255, 0, 170, 85)
    palette = [(r, g, b) for r in levels for g in levels for b in levels
               if not r == g == b]
    if n > len(palette):
        raise ValueError(f"at most {len(palette)} distinct student colours")
    # stride through the palette so neighbours in a small class differ on several channels
    order = sorted(range(len(palette)), key=lambda i: (i * 7) % len(palette))
    return [palette[i] for i in order[:n]]


def student_clips(folder: Path, n: int, *, motion: bool = False, kbps: int = 250,
                  seconds: float = 4.0, fps: int = 15) -> list[Path]:
    """One VP8 clip per student (320x240, keyframe every second); an existing file of the
    same name is reused (the name holds every parameter)."""
    clips = []
    for i, rgb in enumerate(colours(n)):
        tag = f"{'m' if motion else 's'}{kbps}k{seconds:g}s{fps}"
        path = folder / f"student{i:02d}-{tag}.ivf"
        if not path.exists():
            sources.write_test_clip(path, rgb, seconds, fps=fps, motion=motion, kbps=kbps)
        clips.append(path)
    return clips


def join_student(url: str, session: str, index: int, clip: Path, config: Any,
                 audio: Any = None) -> Any:
    """Student ``sNN``: the clip's packets as they are; ``audio``: a source of its own
    (e.g. ``zero_nb.analysis.talk``), else the clip's (a test clip has none)."""
    video, clip_audio = sources.from_file(clip, loop=True, encoded=True)
    room = zero_nb.join(session, url, name=f"s{index:02d}", video=video,
                        audio=audio or clip_audio, config=config, timeout=60)
    room.subscribe([])  # students only publish: the teacher receives
    return room


def join_students(url: str, session: str, clips: Sequence[Path], config: Any,
                  workers: int = 8, audio: dict[int, Any] | None = None) -> list[Any]:
    """Every student joins (``workers`` at a time), all in this process's one engine loop;
    ``audio``: student index -> an audio source (the others are silent)."""
    audio = audio or {}
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(join_student, url, session, i, clip, config, audio.get(i))
                   for i, clip in enumerate(clips)]
        return [f.result() for f in futures]


def colour_of(img: np.ndarray | None) -> np.ndarray | None:
    """Median colour of the left half below the counter rows (the right half may move)."""
    if img is None:
        return None
    h, w = img.shape[:2]
    return np.median(img[h // 5:, : w // 2].reshape(-1, 3), axis=0)


def colour_ok(img: np.ndarray | None, rgb: Sequence[int], tol: float = 30) -> bool:
    got = colour_of(img)
    return got is not None and bool(np.all(np.abs(got - np.asarray(rgb)) < tol))


def expected_colour(name: str, n: int) -> tuple[int, int, int]:
    """Student ``sNN``'s colour in a class of ``n``."""
    return colours(n)[int(name[1:])]


def streams_ok(teacher: Any, students: Sequence[Any], n: int) -> dict[str, bool]:
    """Per student name: does the teacher show its colour right now? (``n``: class size)"""
    by_name = {p.name: p for p in list(teacher.peers.values())}
    return {s.name: s.name in by_name and
            colour_ok(by_name[s.name].video.latest(), expected_colour(s.name, n))
            for s in students}
