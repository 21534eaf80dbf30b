"""Exports of a loaded session for annotation tools: ELAN ``.eaf`` and Praat TextGrid, both
on the session clock (``pip install 'zero_nb[analysis]'``: ``pympi-ling``, ``praatio``).

ELAN: one tier per participant with its speech segments, one ``chat`` tier, and a media
descriptor per file whose ``TIME_ORIGIN`` is the media time at session time 0 (``-offset``
in ms: negative for a file that starts later, so ELAN plays every file in step). Praat: an
interval tier per participant (``speech``) and a ``chat`` point tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class Session(Protocol):
    """What the exports read of a loaded :class:`zero_nb.session.Session` (a protocol, so
    this module needs no import of it: the Session's export methods import this one)."""

    header: dict[str, Any]
    event_list: list[dict[str, Any]]

    @property
    def participants(self) -> Mapping[str, Any]: ...
    @property
    def duration(self) -> float: ...

    def speech_segments(self) -> dict[str, list[tuple[float, float]]]: ...

__all__ = ["CHAT_SECONDS", "chat_intervals", "tier_names", "to_elan", "to_praat"]

CHAT_SECONDS = 2.0  # how long a chat message's annotation lasts (cut at the next message)


def tier_names(session: Session) -> dict[str, str]:
    """A unique tier name per participant id: its name, with the id where names repeat."""
    names = [p.name or p.id for p in session.participants.values()]
    return {p.id: (p.name or p.id) if names.count(p.name or p.id) == 1 and
            (p.name or p.id) != "chat" else f"{p.name or 'peer'} ({p.id})"
            for p in session.participants.values()}


def chat_intervals(session: Session) -> list[tuple[float, float, str]]:
    """``(start, end, "name: text")`` per chat message; each lasts :data:`CHAT_SECONDS`
    or until the next one, so the intervals never overlap."""
    chats = [e for e in session.event_list if e.get("event") == "chat"]
    out = []
    for i, chat in enumerate(chats):
        start = float(chat["t"])
        end = start + CHAT_SECONDS
        if i + 1 < len(chats):
            end = min(end, float(chats[i + 1]["t"]))
        data = chat.get("data")
        text = data if isinstance(data, str) else repr(data)
        out.append((start, max(end, start + 0.001), f"{chat.get('name') or '?'}: {text}"))
    return out


def _ms(t: float) -> int:
    return round(t * 1000)


def to_elan(session: Session, path: str | Path) -> Path:
    """Write ``path`` (.eaf): a tier per participant of its speech segments, a ``chat``
    tier, and every file linked with its time origin on the session clock."""
    from .analysis import require

    elan = require("pympi").Elan
    path = Path(path)
    eaf = elan.Eaf(author="zero_nb")
    eaf.remove_tier("default")
    names = tier_names(session)
    for who in session.participants.values():
        for segment in who.segments:
            if segment.path is None:
                continue
            # relative to the .eaf, so the folder can be moved as a whole
            try:
                relative = Path(segment.path).resolve().relative_to(path.resolve().parent)
                rel = f"./{relative.as_posix()}"
            except ValueError:
                rel = None
            eaf.add_linked_file(Path(segment.path).resolve().as_uri(), relpath=rel,
                                mimetype="video/webm", time_origin=-_ms(segment.offset))
            eaf.add_property(f"offset:{Path(segment.path).name}", f"{segment.offset:.4f}")
    eaf.add_property("session", str(session.header.get("session")))
    eaf.add_property("started_utc", str(session.header.get("started_utc")))
    for pid, spans in session.speech_segments().items():
        tier = names[pid]
        eaf.add_tier(tier, part=tier)
        for start, end in spans:
            if _ms(end) > _ms(start):
                eaf.add_annotation(tier, _ms(start), _ms(end), "speech")
    eaf.add_tier("chat")
    for start, end, text in chat_intervals(session):
        eaf.add_annotation("chat", _ms(start), _ms(end), text)
    elan.to_eaf(str(path), eaf)
    return path


def to_praat(session: Session, path: str | Path) -> Path:
    """Write ``path`` (a long TextGrid): an interval tier per participant (``speech``)
    and a ``chat`` point tier, from 0 to the end of the session."""
    from .analysis import require

    textgrid = require("praatio.textgrid")
    path = Path(path)
    names = tier_names(session)
    end = max(session.duration, 0.001)
    grid = textgrid.Textgrid(0, end)
    for pid, spans in session.speech_segments().items():
        entries = [(s, min(e, end), "speech") for s, e in spans if min(e, end) > s]
        grid.addTier(textgrid.IntervalTier(names[pid], entries, 0, end))
    points = [(start, text) for start, _, text in chat_intervals(session) if start <= end]
    grid.addTier(textgrid.PointTier("chat", points, 0, end))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path

