"""A session's class state and the rules of a class's host tools. Pure: no I/O.

A session has hosts. With ``signaling.auth.host_token`` set, a joiner whose ``join.host_token``
matches it is a host; without one, the session always has a host: its creator, then (should
every host leave) the participant there longest. Hosts may hand the role on (``make-host``),
mute (a request: the participant's client mutes and may unmute), remove (the peer_id cannot
be resumed), spotlight and lock; anyone may raise and lower their own hand. Each
session keeps one :class:`ClassState`; the core calls :func:`admit`, :func:`enter`,
:func:`left` and :func:`request` and sends what they return.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .protocol import ClassRequest, ErrorCode, Join

__all__ = ["ClassState", "Outcome", "admit", "enter", "forbidden", "left", "moved_in",
           "request", "same_secret"]


class Session(Protocol):
    """What the rules read of a session (``sessions.Session`` is one, holding a ClassState)."""

    session_id: str
    classroom: ClassState
    persistent: bool  # outlives its last peer (a split class, its groups)

    @property
    def peers(self) -> Mapping[str, Any]: ...


class SessionRegistry(Protocol):
    """What the rules read of the registry (``sessions.SessionRegistry`` is one)."""

    @property
    def sessions(self) -> Mapping[str, Session]: ...

    def may_resume(self, session_id: str | None, peer_id: str | None,
                   secret: str | None) -> bool: ...


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a client's token with the server's."""
    return hmac.compare_digest((given or "").encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


@dataclass
class ClassState:
    """Who hosts, whose hands are up (in order), the spotlight, the lock, who was removed."""

    hosts: list[str] = field(default_factory=list)  # connected hosts, in the order they became
    ever_hosts: set[str] = field(default_factory=set)  # a resumed host id is a host again
    hands: list[str] = field(default_factory=list)
    spotlight: str | None = None
    locked: bool = False
    removed: set[str] = field(default_factory=set)
    # breakout rooms (breakout.py): the class's running split, kept by the class's own
    # session; a group's session names its class (``parent``) and shares its hosts and
    # removals; a group that ended sends late joiners back to the class
    breakout: Any = None
    parent: str | None = None
    former_groups: set[str] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        """The fields ``joined`` carries."""
        return {"hosts": list(self.hosts), "hands": list(self.hands),
                "spotlight": self.spotlight, "locked": self.locked}

    def make_host(self, peer_id: str) -> bool:
        """Add a host; False if it was one already."""
        self.ever_hosts.add(peer_id)
        if peer_id in self.hosts:
            return False
        self.hosts.append(peer_id)
        return True


@dataclass
class Outcome:
    """What a class request does: an error for the sender, or messages for the session
    (``everyone``), for single peers (``direct``), and a peer to take out (``remove``)."""

    error: tuple[ErrorCode, str] | None = None
    everyone: list[dict[str, Any]] = field(default_factory=list)
    direct: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    remove: str | None = None


def forbidden(kind: str, hosts: list[str]) -> str:
    """Why a participant who is not a host may not use ``kind``, and what to do."""
    who = f"ask a host ({', '.join(hosts)})" if hosts else "this session has no host now"
    return (f"only a host may use {kind!r}: {who} to do it or to make you a host "
            "(make-host), or join with the server's host_token (signaling.auth.host_token)")


def admit(registry: SessionRegistry, host_token: str | None,
          msg: Join) -> tuple[ErrorCode, str] | None:
    """Why a join may not go in (a wrong host token, a removed id, a locked session)."""
    if msg.host_token is not None and (
            host_token is None or not same_secret(msg.host_token, host_token)):
        if host_token is None:
            why = ("this server has no host token (signaling.auth.host_token): leave "
                   "host_token out; the session's creator is its host")
        else:
            why = "wrong host_token: ask the server's owner for it"
        return ErrorCode.UNAUTHORIZED, why
    session = registry.sessions.get(msg.session or "")
    if session is None:
        return None
    resumed = registry.may_resume(msg.session, msg.resume, msg.resume_secret)
    if resumed and msg.resume in session.classroom.removed:
        return ErrorCode.REMOVED, (f"a host removed you from session {msg.session!r}: "
                                   "ask a host to let you back in")
    if session.classroom.locked and not resumed and msg.host_token is None:
        return ErrorCode.SESSION_LOCKED, (f"session {msg.session!r} is locked by its host: "
                                          "ask a host to unlock it (room.lock(False))")
    return None


def enter(state: ClassState, host_token: str | None, peer_id: str, msg: Join) -> bool:
    """A member joined (``admit`` let it): True if it is a host."""
    # with a token, admit() checked that it matches; without, a session always has a host
    # (in a breakout the host is visiting a group: a newcomer does not take over)
    split = state.breakout is not None or state.parent is not None
    host = msg.host_token is not None if host_token is not None else \
        not state.hosts and not split
    if host or peer_id in state.ever_hosts:
        state.make_host(peer_id)
        return True
    return False


def moved_in(state: ClassState, peer_id: str) -> bool:
    """A member was moved into this session (a breakout group or back): True if a host."""
    if peer_id in state.ever_hosts:
        state.make_host(peer_id)
        return True
    return False


def left(session: Session, host_token: str | None, peer_id: str) -> list[dict[str, Any]]:
    """A member left: its hand, host role and spotlight go (and without a host token the
    one there longest becomes host if no host is left). Returns messages for everyone."""
    state = session.classroom
    out: list[dict[str, Any]] = []
    if peer_id in state.hands:
        state.hands.remove(peer_id)
        out.append({"type": "hands", "hands": list(state.hands)})
    if peer_id in state.hosts:
        state.hosts.remove(peer_id)
        # in a breakout the host is in another room of the class, not gone
        split = state.breakout is not None or state.parent is not None
        if not state.hosts and host_token is None and session.peers and not split:
            state.make_host(next(iter(session.peers)))
        out.append({"type": "hosts", "hosts": list(state.hosts)})
    if state.spotlight == peer_id:
        state.spotlight = None
        out.append({"type": "spotlight", "peer": None, "by": None})
    return out


def request(session: Session, me: str, req: ClassRequest) -> Outcome:
    """Apply one class request from member ``me``."""
    state = session.classroom
    own_hand = req.type == "hand" and req.peer in (None, me)
    if not own_hand and me not in state.hosts:
        return Outcome(error=(ErrorCode.FORBIDDEN, forbidden(req.type, state.hosts)))
    if req.peer is not None and req.peer != "*" and req.peer not in session.peers:
        return Outcome(error=(ErrorCode.NO_SUCH_PEER,
                              f"no peer {req.peer[:40]!r} in session {session.session_id!r}: "
                              "use a peer_id from 'joined' or 'peer-joined'"))
    if req.type == "hand":
        return _hand(state, req, me)
    target = req.peer or ""
    if req.type == "make-host":
        changed = state.make_host(target)
        if not req.keep and target != me:
            state.hosts.remove(me)
            state.ever_hosts.discard(me)
            changed = True
        return Outcome(everyone=[{"type": "hosts", "hosts": list(state.hosts)}] if changed
                       else [])
    if req.type == "mute":
        # a request: in a mesh the server cannot stop anyone's media, so no hard mute
        return Outcome(direct=[(target, {"type": "muted", "by": me})])
    if req.type == "remove":
        if target == me:
            return Outcome(error=(ErrorCode.BAD_MESSAGE, "a host cannot remove itself: "
                                  "send 'leave'"))
        state.removed.add(target)
        return Outcome(direct=[(target, {"type": "removed", "by": me, "reason": req.reason})],
                       remove=target)
    if req.type == "spotlight":
        state.spotlight = req.peer
        return Outcome(everyone=[{"type": "spotlight", "peer": req.peer, "by": me}])
    state.locked = req.locked
    return Outcome(everyone=[{"type": "locked", "locked": req.locked, "by": me}])


def _hand(state: ClassState, req: ClassRequest, me: str) -> Outcome:
    hands = state.hands
    before = list(hands)
    if req.peer == "*":
        if not req.raised:  # nobody raises everyone's hand
            hands.clear()
    else:
        who = req.peer or me
        if req.raised and who != me:
            return Outcome(error=(ErrorCode.BAD_MESSAGE, "only a participant raises its own "
                                  "hand: send 'hand' without 'peer'"))
        if req.raised and who not in hands:
            hands.append(who)
        elif not req.raised and who in hands:
            hands.remove(who)
    if hands == before:
        return Outcome()
    return Outcome(everyone=[{"type": "hands", "hands": list(hands)}])
