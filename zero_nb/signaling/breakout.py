"""Breakout rooms: the rules of splitting a class into groups and gathering it. Pure: no I/O.

A class is a session (its *root*); a host splits it (``breakout``) into groups, each a session
of its own on the same server named ``<root>.<group>``, which lives until ``gather``. The
rules say who moves where (a :class:`Plan`); the core creates the groups' sessions, moves the
peers (``moved``), sends the notices and closes the groups. Hosts stay in the root and may
``visit`` a group; ``broadcast`` reaches every room of the class. A participant who comes
back (a reconnect, or a page reloaded under the same name) lands in its group
(:func:`landing`); one who comes back to a group that ended lands in the root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .classroom import ClassState, Session, SessionRegistry, forbidden
from .protocol import ClassRequest, ErrorCode, Join

__all__ = ["Breakout", "Plan", "class_of", "describe", "group_session", "landing",
           "members", "new_group_state", "request", "took_place"]


@dataclass
class Breakout:
    """A running split: the groups (name -> assigned peer ids, in order), the names the
    assigned peers had (a reloaded page finds its group by name), the end time (``now``'s
    clock, None: no limit), and whether the root outlived its last peer before."""

    groups: dict[str, list[str]]
    names: dict[str, str]
    ends_at: float | None
    was_persistent: bool

    def group_of(self, peer_id: str) -> str | None:
        return next((g for g, ids in self.groups.items() if peer_id in ids), None)

    def describe(self, now: float) -> dict[str, Any]:
        left = None if self.ends_at is None else max(0.0, round(self.ends_at - now, 1))
        return {"groups": {g: list(ids) for g, ids in self.groups.items()},
                "seconds_left": left}


@dataclass
class Plan:
    """What a breakout request does: an error for the sender, or group sessions to open
    (``create``), peers to move ``(peer_id, session_id)``, messages for every member of
    the class after the moves (``notify``) and group sessions to close (``drop``)."""

    error: tuple[ErrorCode, str] | None = None
    create: list[str] = field(default_factory=list)
    moves: list[tuple[str, str]] = field(default_factory=list)
    notify: list[dict[str, Any]] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)


def group_session(root: str, group: str) -> str:
    """The session id of ``group`` of the class ``root``."""
    return f"{root}.{group}"[:128]


def new_group_state(root: ClassState, root_id: str) -> ClassState:
    """A group's class state: its own hands and spotlight, the class's hosts and removals."""
    return ClassState(ever_hosts=root.ever_hosts, removed=root.removed, parent=root_id)


def class_of(registry: SessionRegistry, session: Session) -> Session:
    """The class a session belongs to: its root (itself, unless it is a group)."""
    parent = session.classroom.parent
    return registry.sessions.get(parent, session) if parent else session


def _groups(registry: SessionRegistry, root: Session) -> list[Session]:
    split: Breakout | None = root.classroom.breakout
    if split is None:
        return []
    ids = (group_session(root.session_id, g) for g in split.groups)
    return [registry.sessions[s] for s in ids if s in registry.sessions]


def members(registry: SessionRegistry, root: Session) -> list[str]:
    """Every peer of the class: the root's, then each group's."""
    return [pid for s in (root, *_groups(registry, root)) for pid in s.peers]


def describe(registry: SessionRegistry, session: Session, now: float) -> dict[str, Any]:
    """What ``joined`` and ``moved`` add in a split class: ``group`` (ours, None in the
    root), ``parent`` (the root's id) and ``breakout`` (groups, seconds_left); {} if none."""
    root = class_of(registry, session)
    split: Breakout | None = root.classroom.breakout
    if split is None:
        return {}
    group = None if root is session else session.session_id[len(root.session_id) + 1:]
    return {"group": group, "parent": root.session_id, "breakout": split.describe(now)}


def landing(registry: SessionRegistry, msg: Join) -> str | None:
    """Where a join should go instead of ``msg.session`` (None: where it asks): an assigned
    member's group while the class is split, the class once its group ended."""
    sid = msg.session
    if sid is None:
        return None
    session = registry.sessions.get(sid)
    if session is None:  # a group that ended: back to its class
        root_id = sid.rpartition(".")[0]
        root = registry.sessions.get(root_id)
        return root_id if root is not None and sid in root.classroom.former_groups else None
    split: Breakout | None = session.classroom.breakout
    if split is None:
        return None
    group = None
    if registry.may_resume(sid, msg.resume, msg.resume_secret):
        group = split.group_of(msg.resume or "")
    if group is None and msg.name:  # a reloaded page: its name, if that member is away
        taken = set(members(registry, session))
        group = next((split.group_of(pid) for pid, name in split.names.items()
                      if name == msg.name and pid not in taken), None)
    return group_session(sid, group) if group is not None else None


def took_place(registry: SessionRegistry, session: Session, peer_id: str, name: str) -> None:
    """A joiner landed in a group by name: it takes the place of the absent member."""
    root = class_of(registry, session)
    split: Breakout | None = root.classroom.breakout
    if split is None or root is session:
        return
    ids = split.groups.get(session.session_id[len(root.session_id) + 1:], [])
    if peer_id in ids:
        return
    taken = set(members(registry, root))
    for i, pid in enumerate(ids):
        if split.names.get(pid) == name and pid not in taken:
            ids[i] = peer_id
            split.names[peer_id] = split.names.pop(pid)
            return


def request(registry: SessionRegistry, session: Session, me: str, req: ClassRequest,
            now: float) -> Plan:
    """Apply one breakout request (breakout, broadcast, visit, gather) from member ``me``."""
    if me not in session.classroom.hosts:
        return Plan(error=(ErrorCode.FORBIDDEN, forbidden(req.type, session.classroom.hosts)))
    root = class_of(registry, session)
    state = root.classroom
    split: Breakout | None = state.breakout
    if req.type == "broadcast":
        return Plan(notify=[{"type": "broadcast", "text": req.text, "by": me}])
    if req.type == "breakout":
        return _split(registry, root, req, now)
    if split is None:
        return Plan(error=(ErrorCode.BAD_MESSAGE, f"{req.type!r}: the class is not split into "
                           "groups: send 'breakout' first"))
    if req.type == "visit":
        if req.group is not None and req.group not in split.groups:
            return Plan(error=(ErrorCode.BAD_MESSAGE, f"no group {req.group!r}: use one of "
                               f"{', '.join(split.groups)}, or null to go back"))
        target = root.session_id if req.group is None else \
            group_session(root.session_id, req.group)
        return Plan(moves=[(me, target)] if target != session.session_id else [])
    # gather: everyone back, the groups close
    groups = _groups(registry, root)
    state.breakout = None
    root.persistent = split.was_persistent
    state.former_groups |= {g.session_id for g in groups}
    return Plan(moves=[(pid, root.session_id) for g in groups for pid in g.peers],
                notify=[{"type": "breakout", "groups": None, "seconds_left": None,
                         "by": me}],
                drop=[g.session_id for g in groups])


def _split(registry: SessionRegistry, root: Session, req: ClassRequest, now: float) -> Plan:
    state = root.classroom
    if state.breakout is not None:
        return Plan(error=(ErrorCode.BAD_MESSAGE, "the class is split into groups already: "
                           "send 'gather' first"))
    peers: Mapping[str, Any] = root.peers
    for name, ids in req.groups:
        stranger = next((i for i in ids if i not in peers), None)
        if stranger is not None:
            return Plan(error=(ErrorCode.NO_SUCH_PEER, f"no peer {stranger!r} in session "
                               f"{root.session_id!r} (group {name!r}): use peer_ids from "
                               "'joined' or 'peer-joined'"))
        sid = group_session(root.session_id, name)
        if sid in registry.sessions:
            return Plan(error=(ErrorCode.BAD_MESSAGE, f"a session {sid!r} exists already: "
                               "choose another group name"))
    groups = {name: list(ids) for name, ids in req.groups}
    ends = None if req.minutes is None else now + req.minutes * 60.0
    state.breakout = Breakout(groups, {i: peers[i].name for ids in groups.values()
                                       for i in ids}, ends, root.persistent)
    root.persistent = True  # its hosts may all be visiting groups
    state.former_groups -= {group_session(root.session_id, g) for g in groups}
    return Plan(create=[group_session(root.session_id, g) for g in groups],
                moves=[(i, group_session(root.session_id, g)) for g, ids in groups.items()
                       for i in ids],
                notify=[{"type": "breakout", **state.breakout.describe(now)}])
