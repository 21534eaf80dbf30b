"""Read back a session recorded by ``room.record_session(dir)``: who took part, what
happened when, and any participant's frame or audio at a session time (docs/recording.md).

    s = zero_nb.session.load("call/")
    s.participants            # {id: Participant}
    s.events                  # a pandas DataFrame (a list of dicts without pandas)
    s.frame_at("bob", 12.5)   # RGB ndarray shown at 12.5 s on the session clock
    s.audio("bob", 10, 12)    # float32 mono at 48 kHz, zeros where nothing was received
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RecordingError

__all__ = ["AUDIO_RATE", "Participant", "Segment", "Session", "load"]

AUDIO_RATE = 48000
MANIFEST = "manifest.jsonl"


@dataclass
class Segment:
    """One file of one participant: time ``x`` in ``path`` is session time ``offset + x``."""

    path: Path | None
    offset: float
    codecs: dict[str, str | None]
    end: float | None = None  # session time it stopped (leave or end); None: cut short


@dataclass
class Participant:
    id: str
    name: str
    kind: str
    segments: list[Segment] = field(default_factory=list)


class Session:
    """A loaded session: ``participants``, ``events``, ``frame_at`` and ``audio``."""

    def __init__(self, directory: Path, header: dict[str, Any],
                 participants: dict[str, Participant], events: list[dict[str, Any]],
                 ended: float | None) -> None:
        self.directory = directory
        self.header = header
        self.participants = participants
        self.event_list = events
        self.ended = ended  # session time of a clean stop; None: the recorder died

    @property
    def events(self) -> Any:
        """The timed events, oldest first: a pandas DataFrame, or a list of dicts."""
        try:
            import pandas as pd
        except ImportError:
            return list(self.event_list)
        return pd.DataFrame(self.event_list)

    @property
    def duration(self) -> float:
        """Session seconds covered: the clean stop, else the last thing the manifest saw."""
        if self.ended is not None:
            return self.ended
        times = [float(e["t"]) for e in self.event_list]
        times += [s.end if s.end is not None else s.offset
                  for p in self.participants.values() for s in p.segments]
        return max(times, default=0.0)

    def speech_segments(self) -> dict[str, list[tuple[float, float]]]:
        """``{participant id: [(start, end), ...]}`` from the speaking events (every
        participant listed); a segment still open ends at a leave or the session's end."""
        out: dict[str, list[tuple[float, float]]] = {pid: [] for pid in self.participants}
        open_at: dict[str, float] = {}
        for e in self.event_list:
            pid, kind, t = e.get("participant"), e.get("event"), float(e["t"])
            if pid is None:
                continue
            if kind == "speaking-start":
                open_at.setdefault(pid, t)
            elif kind in ("speaking-end", "leave") and pid in open_at:
                out.setdefault(pid, []).append((open_at.pop(pid), t))
        for pid, start in open_at.items():
            out.setdefault(pid, []).append((start, max(start, self.duration)))
        return out

    def to_elan(self, path: str | Path) -> Path:
        """Write an ELAN ``.eaf``: a speech tier per participant, a chat tier, every file
        linked on the session clock (needs ``zero_nb[analysis]``)."""
        from .session_export import to_elan

        return to_elan(self, path)

    def to_praat(self, path: str | Path) -> Path:
        """Write a Praat TextGrid: a speech interval tier per participant and a chat point
        tier (needs ``zero_nb[analysis]``)."""
        from .session_export import to_praat

        return to_praat(self, path)

    def participant(self, who: str) -> Participant:
        """A participant by id or by name."""
        if who in self.participants:
            return self.participants[who]
        named = [p for p in self.participants.values() if p.name == who]
        if len(named) != 1:
            raise RecordingError(f"no single participant {who!r} in {self.directory}: "
                               f"use one of {sorted(self.participants)}")
        return named[0]

    def _segment_at(self, who: str, t: float) -> Segment | None:
        found = None
        for segment in self.participant(who).segments:
            if segment.offset <= t and (segment.end is None or t <= segment.end):
                found = segment
        return found

    def frame_at(self, who: str, t: float) -> np.ndarray | None:
        """The RGB frame ``who`` showed at session time ``t`` (the last one at or before
        it), or None if no video of theirs was recorded then."""
        import av

        segment = self._segment_at(who, t)
        if segment is None or segment.path is None or segment.codecs.get("video") is None:
            return None
        local = t - segment.offset
        best = None
        with av.open(str(segment.path)) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            if local > 2 and tb:
                try:  # to the keyframe before; a file cut short may have no index
                    container.seek(int((local - 1) / tb), stream=stream, backward=True)
                except av.error.FFmpegError:
                    container.seek(0)
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if frame.time > local + 1e-6:
                    break
                best = frame
            if best is None:
                return None
            return best.to_ndarray(format="rgb24")

    def audio(self, who: str, t0: float, t1: float) -> np.ndarray:
        """``who``'s audio from ``t0`` to ``t1`` (session seconds): float32 mono at
        :data:`AUDIO_RATE`, zeros where nothing was recorded."""
        import av

        out = np.zeros(max(0, round((t1 - t0) * AUDIO_RATE)), np.float32)
        for segment in self.participant(who).segments:
            if segment.path is None or segment.codecs.get("audio") is None:
                continue
            with av.open(str(segment.path)) as container:
                if not container.streams.audio:
                    continue
                for frame in container.decode(container.streams.audio[0]):
                    if frame.time is None:
                        continue
                    start = round((segment.offset + frame.time - t0) * AUDIO_RATE)
                    if start >= len(out):
                        break
                    block = frame.to_ndarray().astype(np.float32)
                    mono = block.mean(axis=0) if block.ndim == 2 and block.shape[0] <= 8 \
                        else block.reshape(-1)
                    lo, hi = max(start, 0), min(start + len(mono), len(out))
                    if hi > lo:
                        out[lo:hi] = mono[lo - start:hi - start]
        return out


def load(directory: str | Path) -> Session:
    """Read a session directory written by ``room.record_session`` (even one whose
    recorder was killed: every line written before is there)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise RecordingError(f"{directory} has no {MANIFEST}: record with room.record_session")
    header: dict[str, Any] = {}
    participants: dict[str, Participant] = {}
    events: list[dict[str, Any]] = []
    ended = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        kind = record.get("type")
        if kind == "session":
            header = record
        elif kind == "participant":
            who = participants.setdefault(record["participant"], Participant(
                record["participant"], record.get("name", ""), record.get("kind", "peer")))
            file = record.get("file")
            who.segments.append(Segment(directory / file if file else None,
                                        float(record["offset"]), record.get("codecs", {})))
        elif kind == "event":
            events.append(record)
            if record.get("event") == "leave" and record.get("participant") in participants:
                segments = participants[record["participant"]].segments
                if segments and segments[-1].end is None:
                    segments[-1].end = float(record["t"])
        elif kind == "end":
            ended = float(record["t"])
    if not header:
        raise RecordingError(f"{path} has no session line: not a session manifest")
    for who in participants.values():
        for segment in who.segments:
            if segment.end is None and ended is not None:
                segment.end = ended
    return Session(directory, header, participants, events, ended)
