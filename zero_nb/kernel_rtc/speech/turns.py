"""Turn-taking figures from speech segments (pure functions, no audio, no sockets).

A segment is a dict ``{peer_id, name, start, end}`` (wall-clock seconds), one row of
``room.timeline()``. Definitions, kept simple and stated here so figures can be checked:

- a *turn* is a run of consecutive segments (in start order) by the same speaker; a *speaker
  change* is the start of a segment by someone other than the previous segment's speaker;
- an *overlap* is a stretch where two or more participants speak at once (names sorted);
- a *gap* is a silence between the end of one speaker's speech and the next segment by
  someone else; a *pause* is a silence between two segments of the same speaker;
- a participant's *share* is their speaking time over everyone's speaking time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["clip", "overlaps", "silences", "turns"]

Segment = dict[str, Any]


def clip(segments: Iterable[Segment], start: float | None = None, end: float | None = None
         ) -> list[Segment]:
    """Segments cut to ``[start, end]`` (either may be None), empty ones dropped, in start
    order."""
    out = []
    for seg in segments:
        s = seg["start"] if start is None else max(seg["start"], start)
        e = seg["end"] if end is None else min(seg["end"], end)
        if e > s:
            out.append({**seg, "start": s, "end": e})
    return sorted(out, key=lambda g: (g["start"], g["end"]))


def overlaps(segments: Iterable[Segment]) -> list[dict[str, Any]]:
    """Stretches where two or more participants speak at once: ``{start, end, duration,
    names, peer_ids}`` in time order."""
    edges = sorted([(g["start"], 1, g) for g in segments] + [(g["end"], -1, g) for g in segments],
                   key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    active: dict[int, Segment] = {}
    out: list[dict[str, Any]] = []
    opened: float | None = None
    involved: set[str] = set()
    for time, kind, seg in edges:
        before = len({g["peer_id"] for g in active.values()})
        if kind == 1:
            active[id(seg)] = seg
        else:
            active.pop(id(seg), None)
        now = {g["peer_id"] for g in active.values()}
        if len(now) >= 2:
            if before < 2:
                opened, involved = time, set()
            involved |= now
        elif before >= 2 and opened is not None:
            if time > opened:
                _add_overlap(out, opened, time, involved, edges)
            opened = None
    return out


def _add_overlap(out: list[dict[str, Any]], start: float, end: float, peer_ids: set[str],
                 edges: list[tuple[float, int, Segment]]) -> None:
    names = {g["peer_id"]: g.get("name") or g["peer_id"] for _, _, g in edges}
    ids = sorted(peer_ids, key=lambda p: (str(names[p]), p))
    out.append({"start": start, "end": end, "duration": end - start, "peer_ids": ids,
                "names": [names[p] for p in ids]})


def silences(segments: list[Segment]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(gaps, pauses)``: silences between different speakers / within one speaker's
    speech, each ``{start, end, duration, before, after}`` (names)."""
    gaps: list[dict[str, Any]] = []
    pauses: list[dict[str, Any]] = []
    ordered = sorted(segments, key=lambda g: (g["start"], g["end"]))
    reach: Segment | None = None  # the segment reaching furthest so far
    for seg in ordered:
        if reach is not None and seg["start"] > reach["end"]:
            entry = {"start": reach["end"], "end": seg["start"],
                     "duration": seg["start"] - reach["end"],
                     "before": _name(reach), "after": _name(seg)}
            (pauses if seg["peer_id"] == reach["peer_id"] else gaps).append(entry)
        if reach is None or seg["end"] >= reach["end"]:
            reach = seg
    return gaps, pauses


def _name(seg: Segment) -> str:
    return str(seg.get("name") or seg["peer_id"])


def turns(segments: Iterable[Segment]) -> dict[str, Any]:
    """Turn-taking figures (see the module docstring for the definitions):

    ``speaker_changes``, ``turns`` (list of ``{peer_id, name, start, end, segments}``),
    ``overlaps``, ``overlap_s``, ``gaps``, ``gap_s``, ``pauses``, ``speaking_s`` (total),
    ``duration`` (first start to last end), and ``participants``: one row per speaker with
    ``peer_id, name, segments, turns, speaking_s, share, mean_segment_s`` — ready for
    ``pandas.DataFrame(result["participants"])``.
    """
    segs = sorted(segments, key=lambda g: (g["start"], g["end"]))
    runs: list[dict[str, Any]] = []
    for seg in segs:
        if runs and runs[-1]["peer_id"] == seg["peer_id"]:
            runs[-1]["end"] = max(runs[-1]["end"], seg["end"])
            runs[-1]["segments"] += 1
        else:
            runs.append({"peer_id": seg["peer_id"], "name": _name(seg), "start": seg["start"],
                         "end": seg["end"], "segments": 1})
    over = overlaps(segs)
    gaps, pauses = silences(segs)
    return {
        "speaker_changes": max(0, len(runs) - 1),
        "turns": runs,
        "overlaps": over,
        "overlap_s": sum(o["duration"] for o in over),
        "gaps": gaps,
        "gap_s": sum(g["duration"] for g in gaps),
        "pauses": pauses,
        "speaking_s": sum(g["end"] - g["start"] for g in segs),
        "duration": (max(g["end"] for g in segs) - segs[0]["start"]) if segs else 0.0,
        "participants": _participants(segs, runs),
    }


def _participants(segs: list[Segment], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = sum(g["end"] - g["start"] for g in segs)
    rows: dict[str, dict[str, Any]] = {}
    for seg in segs:
        row = rows.setdefault(seg["peer_id"], {
            "peer_id": seg["peer_id"], "name": _name(seg), "segments": 0, "turns": 0,
            "speaking_s": 0.0})
        row["segments"] += 1
        row["speaking_s"] += seg["end"] - seg["start"]
    for run in runs:
        rows[run["peer_id"]]["turns"] += 1
    for row in rows.values():
        row["share"] = row["speaking_s"] / total if total > 0 else 0.0
        row["mean_segment_s"] = row["speaking_s"] / row["segments"]
    return sorted(rows.values(), key=lambda r: -r["speaking_s"])
