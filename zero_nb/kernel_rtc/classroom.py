"""A room's class tools: hosts, raised hands, mute, remove, spotlight, lock.

Mixed into :class:`~.room.Room`. The signaling server keeps the class state and enforces who
may do what (``docs/protocol.md``, "Running a class"); this side mirrors it from ``joined``
and the updates, fires events, and obeys ``muted`` (mutes our microphone: a request the
participant may undo with ``room.local.audio.muted = False``) and ``removed`` (leaves).
State is written on the engine loop only, as whole new objects, so cells read it safely.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import Forbidden

if TYPE_CHECKING:
    from .net.peer import RemotePeer

__all__ = ["CLASS_EVENTS", "ClassroomMixin"]

log = logging.getLogger("zero_nb.room")

CLASS_EVENTS = ("hand", "hosts", "spotlight", "muted", "removed", "locked")
_STATE_TYPES = frozenset({"hands", "hosts", "spotlight", "locked", "muted", "removed"})


class ClassroomMixin:
    """Class state and host tools of a :class:`~.room.Room`."""

    _hosts: tuple[str, ...] = ()
    _hands: tuple[str, ...] = ()
    _spotlight: str | None = None
    _locked: bool = False
    removed: dict[str, Any] | None = None  # {by, reason} once a host removed us

    if TYPE_CHECKING:  # provided by Room
        peer_id: str | None
        _peers: dict[str, RemotePeer]

        def _emit(self, event: str, *args: Any) -> None: ...
        def _check_open(self) -> None: ...
        def _send_signal(self, message: dict[str, Any], timeout: float, what: str) -> None: ...
        host: Any  # the room's Host: spawn(coro) on the engine loop
        async def _aleave(self) -> None: ...
        @property
        def local(self) -> Any: ...

    # -- state --------------------------------------------------------------------------------
    @property
    def hosts(self) -> list[str]:
        """The session's hosts (peer ids, ours included if we are one)."""
        return list(self._hosts)

    @property
    def is_host(self) -> bool:
        """True if this participant is a host of the session."""
        return self.peer_id in self._hosts

    @property
    def hands(self) -> list[str]:
        """Raised hands: peer ids (ours too), in the order they went up."""
        return list(self._hands)

    @property
    def spotlighted(self) -> str | None:
        """The peer id a host spotlighted (every page pins its tile), or None."""
        return self._spotlight

    @property
    def locked(self) -> bool:
        """True while a host keeps the session locked (no new joins)."""
        return self._locked

    # -- from signaling (engine loop) -----------------------------------------------------------
    def _class_joined(self, joined: dict[str, Any]) -> None:
        """``joined`` (first or after a reconnect) carries the whole class state."""
        self._hosts = tuple(joined.get("hosts") or ())
        self._hands = tuple(joined.get("hands") or ())
        self._spotlight = joined.get("spotlight")
        self._locked = bool(joined.get("locked", False))

    def _class_signal(self, message: dict[str, Any]) -> bool:
        """Apply a class message; True if it was one (the room need not look further)."""
        kind = message.get("type")
        if kind == "peer-joined" and message.get("host"):
            self._hosts = (*self._hosts, message["peer_id"])
            self._emit("hosts", list(self._hosts))
            return False  # the room adds the peer
        if kind not in _STATE_TYPES:
            return False
        if kind == "hands":
            self._hands = tuple(message.get("hands") or ())
            self._emit("hand", list(self._hands))
        elif kind == "hosts":
            self._hosts = tuple(message.get("hosts") or ())
            self._emit("hosts", list(self._hosts))
        elif kind == "spotlight":
            self._spotlight = message.get("peer")
            self._emit("spotlight", self._peer_or_id(self._spotlight))
        elif kind == "locked":
            self._locked = bool(message.get("locked"))
            self._emit("locked", self._locked)
        elif kind == "muted":
            self.local.audio.muted = True  # a request: the participant may unmute
            self._emit("muted", self._peer_or_id(message.get("by")))
        else:  # removed: the server has taken us out already
            self.removed = {"by": message.get("by"), "reason": message.get("reason", "")}
            log.warning("removed from the session by a host: %s", self.removed["reason"])
            self._emit("removed", self._peer_or_id(message.get("by")), self.removed["reason"])
            self.host.spawn(self._aleave())
        return True

    def _peer_or_id(self, peer_id: str | None) -> Any:
        if peer_id is None:
            return None
        return self._peers.get(peer_id, peer_id)

    # -- the tools (any thread) ---------------------------------------------------------------
    def raise_hand(self, timeout: float = 5.0) -> None:
        """Raise this participant's hand (everyone's ``room.hands`` lists it, in order)."""
        self._send_signal({"type": "hand", "raised": True}, timeout, "raising a hand")

    def lower_hand(self, peer: Any = None, timeout: float = 5.0) -> None:
        """Lower our hand; a host may lower ``peer``'s, or everyone's with ``peer="all"``."""
        message: dict[str, Any] = {"type": "hand", "raised": False}
        if peer is not None:
            message["peer"] = "*" if peer == "all" else self._target(peer, "lower a hand")
        self._send_signal(message, timeout, "lowering a hand")

    def make_host(self, peer: Any, *, keep: bool = True, timeout: float = 5.0) -> None:
        """Make ``peer`` a host too; ``keep=False`` hands the role over (we stop hosting)."""
        target = self._target(peer, "make another host", host=True)
        self._send_signal({"type": "make-host", "peer": target, "keep": keep}, timeout,
                          "making a host")

    def mute(self, peer: Any, timeout: float = 5.0) -> None:
        """Ask ``peer`` to mute: its microphone goes off and it is told who asked; it may
        unmute (no hard mute: in a mesh no server can stop a participant's media)."""
        self._send_signal({"type": "mute", "peer": self._target(peer, "mute", host=True)},
                          timeout, "muting")

    def remove(self, peer: Any, reason: str = "", timeout: float = 5.0) -> None:
        """Remove ``peer``: it is told (with ``reason``) and cannot resume its peer_id."""
        target = self._target(peer, "remove", host=True)
        self._send_signal({"type": "remove", "peer": target, "reason": reason}, timeout,
                          "removing a participant")

    def spotlight(self, peer: Any, timeout: float = 5.0) -> None:
        """Pin ``peer``'s tile on every page (None: unpin)."""
        target = None if peer is None else self._target(peer, "spotlight", host=True)
        self._send_signal({"type": "spotlight", "peer": target}, timeout, "spotlighting")

    def lock(self, locked: bool = True, timeout: float = 5.0) -> None:
        """Lock the session (no new joins; members who reconnect get back in) or unlock it."""
        if not self.is_host:
            raise self._forbidden("lock")
        self._send_signal({"type": "lock", "locked": bool(locked)}, timeout, "locking")

    def _target(self, peer: Any, what: str, *, host: bool = False) -> str:
        """A peer id from a RemotePeer, a peer id or a name; Forbidden if not a host."""
        if host and not self.is_host:
            raise self._forbidden(what)
        peer_id = getattr(peer, "peer_id", peer)
        if not isinstance(peer_id, str):
            raise TypeError(f"pass a peer (room.peers[...]) or its peer_id; got {peer!r:.40}")
        if peer_id in self._peers or peer_id == self.peer_id:
            return peer_id
        named = [p.peer_id for p in self._peers.values() if p.name == peer_id]
        return named[0] if len(named) == 1 else peer_id  # the server says if it is unknown

    def _forbidden(self, what: str) -> Forbidden:
        names = [self._peers[h].name for h in self._hosts if h in self._peers]
        who = f"ask a host ({', '.join(names)})" if names else "the session has no other host"
        return Forbidden("forbidden", f"only a host may {what}: {who} to do it or to make you "
                         "a host, or join with host_token=")
