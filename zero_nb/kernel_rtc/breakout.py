"""A room's breakout tools: split the class into groups, broadcast, visit a group, gather.

Mixed into :class:`~.room.Room`. The server moves participants between sessions (``moved``:
the room drops the peers it left, adopts the group's session, roster and class state, and a
reconnect then lands in the group); this side mirrors the split (``room.group``,
``room.breakouts``, ``room.time_left``), fires ``moved``, ``breakout`` and ``broadcast``, and
for a host sends the requests and waits for the server's answer (its refusal is raised).

``room.groups()`` is the host's live view of every group: the host's kernel joins each group
as a receive-only listener (a participant the group sees, named "<host> (listening)") and
reads the speech tracker's voice activity and turn-taking figures of each.
"""

from __future__ import annotations

import asyncio
import logging
import random
import string
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import Forbidden, ServerError, Timeout

if TYPE_CHECKING:
    from .net.peer import RemotePeer

__all__ = ["BREAKOUT_EVENTS", "BreakoutMixin", "assign_groups", "group_names"]

log = logging.getLogger("zero_nb.room")

BREAKOUT_EVENTS = ("moved", "breakout", "broadcast")
_ANSWERS = {"breakout": "breakout", "gather": "breakout", "visit": "moved",
            "broadcast": "broadcast"}


def group_names(n: int) -> list[str]:
    """``A``, ``B``, ... ``Z``, then ``G27``, ``G28``, ..."""
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"G{i + 1}" for i in range(n)]


def assign_groups(people: Sequence[tuple[str, str]], groups: int, how: str = "balanced",
                  rng: random.Random | None = None) -> dict[str, list[str]]:
    """Split ``(peer_id, name)`` pairs into ``groups`` groups of sizes differing by at most
    one: ``balanced`` in name order (the same names give the same groups), ``random``."""
    if groups < 1:
        raise ValueError(f"groups= must be at least 1; got {groups}")
    if how not in ("balanced", "random"):
        raise ValueError(f"how= is 'balanced' (by name) or 'random'; got {how!r}")
    order = sorted(people, key=lambda p: (p[1], p[0]))
    if how == "random":
        (rng or random.Random()).shuffle(order)
    names = group_names(groups)
    size, extra = divmod(len(order), groups)
    out: dict[str, list[str]] = {}
    start = 0
    for i, name in enumerate(names):
        end = start + size + (1 if i < extra else 0)
        out[name] = [pid for pid, _ in order[start:end]]
        start = end
    return out


def _group_view(ear: Any, leave_out: set[str | None], seconds: float | None,
                window: float) -> dict[str, Any]:
    """One group's figures from its listener (see :meth:`BreakoutMixin.groups`)."""
    members = [{"peer_id": p.peer_id, "name": p.name} for p in list(ear.peers.values())
               if p.peer_id not in leave_out]
    turns = ear.turns(seconds)
    talker = ear.active_speaker(others=True)
    speaking = [p.name for p in ear.speech.speaking() if getattr(p, "peer_id", None)
                not in leave_out]
    union = max(0.0, turns["speaking_s"] - turns["overlap_s"])
    return {"session": ear.session, "members": members,
            "talker": None if talker is None else talker.name,
            "speaking_now": speaking,
            "share": {row["name"]: row["share"] for row in turns["participants"]},
            "speaking_s": turns["speaking_s"], "overlap_s": turns["overlap_s"],
            "silence_s": max(0.0, window - union), "turns": turns}


class BreakoutMixin:
    """Breakout state and host tools of a :class:`~.room.Room`."""

    _group: str | None = None
    _parent: str | None = None
    _split: dict[str, list[str]] | None = None
    _ends_at: float | None = None  # time.monotonic() at the end of the breakout
    _waiters: dict[str, asyncio.Future[Any]]
    _ears: dict[str, Any]  # group -> the listener Room in it (groups())
    _ears_since: float | None = None
    broadcasts: list[dict[str, Any]]

    if TYPE_CHECKING:  # provided by Room and ClassroomMixin
        peer_id: str | None
        session: str | None
        _peers: dict[str, RemotePeer]
        _client: Any
        engine: Any
        _hosts: tuple[str, ...]
        server: str
        name: str
        config: dict[str, Any]
        _token: str | None
        _password: str | None
        _topologies: Any

        def _emit(self, event: str, *args: Any) -> None: ...
        def _check_open(self) -> None: ...
        def _apply_joined(self, joined: dict[str, Any]) -> None: ...
        def _remove_peer(self, peer_id: str) -> None: ...
        def _target(self, peer: Any, what: str, *, host: bool = False) -> str: ...
        def _forbidden(self, what: str) -> Forbidden: ...
        @property
        def is_host(self) -> bool: ...

    def _breakout_init(self) -> None:
        self._waiters = {}
        self._ears = {}
        self.broadcasts = []

    # -- state --------------------------------------------------------------------------------
    @property
    def group(self) -> str | None:
        """The breakout group this participant is in now (None: the class's own room)."""
        return self._group

    @property
    def breakouts(self) -> dict[str, list[str]] | None:
        """While the class is split: group name -> peer ids assigned to it; else None."""
        return None if self._split is None else {g: list(i) for g, i in self._split.items()}

    @property
    def class_session(self) -> str | None:
        """The class's own session (``room.session`` while in the class's room)."""
        return self._parent or self.session

    @property
    def time_left(self) -> float | None:
        """Seconds until the breakout's end (advisory: the host gathers), or None."""
        if self._ends_at is None:
            return None
        return max(0.0, self._ends_at - time.monotonic())

    # -- from signaling (engine loop) -----------------------------------------------------------
    def _breakout_joined(self, joined: dict[str, Any]) -> None:
        """``joined`` or ``moved``: where in a split class we are."""
        self._group = joined.get("group")
        self._parent = joined.get("parent")
        self._set_split(joined.get("breakout"))

    def _set_split(self, info: dict[str, Any] | None) -> None:
        groups = None if info is None else info.get("groups")
        self._split = None if groups is None else {g: list(i) for g, i in groups.items()}
        left = None if info is None else info.get("seconds_left")
        self._ends_at = None if left is None else time.monotonic() + float(left)

    def _breakout_signal(self, message: dict[str, Any]) -> bool:
        """Apply a breakout message; True if it was one (the room need not look further)."""
        kind = message.get("type")
        if kind == "error" and message.get("request") in _ANSWERS:
            waiter = self._waiters.pop(str(message["request"]), None)
            if waiter is None or waiter.done():
                return False  # nobody waits: the room reports it
            cls = Forbidden if message.get("code") == "forbidden" else ServerError
            waiter.set_exception(cls(str(message.get("code")), str(message.get("message"))))
            return True
        if kind == "moved":
            self._moved(message)
        elif kind == "breakout":
            self._set_split(message)
            if self._split is None:  # gathered: the listeners come back with everyone
                self._stop_listening()
            self._emit("breakout", self.breakouts)
        elif kind == "broadcast":
            entry = {"text": message.get("text", ""), "by": message.get("by"),
                     "time": time.time()}
            self.broadcasts = [*self.broadcasts[-99:], entry]
            self._emit("broadcast", entry["text"], self._peers.get(entry["by"], entry["by"]))
        else:
            return False
        for request, answer in _ANSWERS.items():
            # a split answers 'breakout', its end 'gather'
            fits = kind != "breakout" or (request == "gather") == (self._split is None)
            if answer == kind and request in self._waiters and fits:
                waiter = self._waiters.pop(request)
                if not waiter.done():
                    waiter.set_result(message)
        return True

    def _moved(self, moved: dict[str, Any]) -> None:
        """The server moved us to another session of the class (same peer id)."""
        listed = {p["peer_id"] for p in moved.get("peers", ())}
        for peer_id in set(self._peers) - listed:  # peer-left came first; in case not
            self._remove_peer(peer_id)
        client = self._client
        if client is not None:  # a reconnect now joins where we are
            client.session = moved["session"]
            client.resume_secret = moved.get("resume_secret")
            client.joined = moved
        self._apply_joined(moved)
        log.info("moved to session %s (group %s)", self.session, self._group)
        self._emit("moved", self.session, self._group)

    # -- the tools (any thread) ---------------------------------------------------------------
    def breakout(self, assign: Mapping[str, Iterable[Any]] | None = None, *,
                 groups: int | None = None, minutes: float | None = None,
                 how: str = "balanced", timeout: float = 10.0) -> dict[str, list[str]]:
        """Split the class: ``assign`` maps group names to peers (RemotePeer, peer_id or
        name), or ``groups=N`` splits everyone but the hosts (``how``: ``"balanced"`` by
        name, or ``"random"``). ``minutes``: the time every page counts down (advisory).
        Returns the groups (peer ids) once the server has moved everyone."""
        if not self.is_host:
            raise self._forbidden("split the class into groups")
        if (assign is None) == (groups is None):
            raise ValueError("pass either assign={'A': [peers...], ...} or groups=N")
        if assign is None:
            assert groups is not None
            people = [(p.peer_id, p.name) for p in list(self._peers.values())
                      if p.peer_id not in self._hosts]
            plan = assign_groups(people, groups, how)
        else:
            plan = {str(g): [self._target(p, "assign a group") for p in members]
                    for g, members in assign.items()}
        message: dict[str, Any] = {"type": "breakout", "groups": plan}
        if minutes is not None:
            message["minutes"] = minutes
        self._request(message, timeout, "splitting the class")
        return plan

    def broadcast(self, text: str, timeout: float = 5.0) -> None:
        """Show ``text`` to every room of the class (pages: a banner; kernels:
        ``room.broadcasts`` and ``room.on("broadcast", cb(text, by))``)."""
        if not self.is_host:
            raise self._forbidden("broadcast to the class")
        self._request({"type": "broadcast", "text": str(text)}, timeout, "broadcasting")

    def visit(self, group: str | None, timeout: float = 10.0) -> None:
        """Join breakout ``group`` (None: back to the class's room); returns once moved."""
        if not self.is_host:
            raise self._forbidden("visit a group")
        if group == self._group:
            return
        self._request({"type": "visit", "group": group}, timeout, f"visiting {group!r}")

    def gather(self, timeout: float = 10.0) -> None:
        """Bring everyone back to the class's room; the groups close."""
        if not self.is_host:
            raise self._forbidden("gather the class")
        self.engine.run(self._aclose_ears(), timeout, "closing the group listeners")
        self._request({"type": "gather"}, timeout, "gathering the class")

    # -- the host's view of every group ----------------------------------------------------------
    def groups(self, seconds: float | None = 30.0, *, timeout: float = 30.0
               ) -> dict[str, dict[str, Any]]:
        """Host, while the class is split: per group, over the last ``seconds`` (None: since
        listening began) — ``members`` (peer_id, name), ``talker`` (the name of who speaks
        now, by voice activity, or None), ``speaking_now`` (names), ``share`` (name ->
        share of the group's speaking time), ``speaking_s``, ``overlap_s``, ``silence_s``
        (no one speaking) and ``turns`` (``room.turns()``'s figures for the group). The
        first call joins a listener to each group and returns once each is connected to
        its group (a second or two); they leave at gather. Voice activity needs
        ``zero_nb[analysis]``."""
        if not self.is_host:
            raise self._forbidden("watch the groups")
        split = self._split
        if split is None:
            return {}
        new = [g for g in split if g not in self._ears]
        self.engine.run(self._alisten(new, timeout), timeout + 5.0,
                        "joining a listener to each group")
        ears = dict(self._ears)
        for g in new:  # figures only once the listener hears every member
            ears[g].wait_for_peers(len(ears[g].peers), timeout, media=False)
        listening = {ear.peer_id for ear in ears.values()}
        since = self._ears_since or time.monotonic()
        window = time.monotonic() - since if seconds is None else \
            min(seconds, time.monotonic() - since)
        return {g: _group_view(ears[g], listening | {self.peer_id}, seconds, window)
                for g in split if g in ears}

    async def _alisten(self, groups: list[str], timeout: float) -> None:
        """Join a receive-only listener to every group that has none (engine loop)."""
        missing = [g for g in groups if g not in self._ears]
        if not missing:
            return
        root = self.class_session

        async def listen(group: str) -> None:
            make: Any = type(self)  # a Room, as we are
            ear = make(f"{root}.{group}", self.server, name=f"{self.name} (listening)",
                             password=self._password, token=self._token, config=self.config,
                             engine=self.engine, topologies=self._topologies)
            await ear._ajoin(timeout)
            self._ears[group] = ear

        await asyncio.gather(*(listen(g) for g in missing))
        if self._ears_since is None:
            self._ears_since = time.monotonic()

    async def _aclose_ears(self) -> None:
        ears, self._ears, self._ears_since = list(self._ears.values()), {}, None
        for ear in ears:
            await ear._aleave()
            ear._events.shutdown(wait=False)

    def _stop_listening(self) -> None:
        if self._ears:
            asyncio.get_running_loop().create_task(self._aclose_ears())

    def _request(self, message: dict[str, Any], timeout: float, what: str) -> None:
        """Send a breakout request; wait for its answer (raise the server's refusal)."""
        self._check_open()
        kind = message["type"]

        async def ask() -> None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[kind] = waiter
            try:
                await self._client.send(message)
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise Timeout(f"{what}: the server did not answer within {timeout:g} s; "
                              "is the connection up (room.on('connection'))?") from None
            finally:
                if self._waiters.get(kind) is waiter:
                    del self._waiters[kind]

        self.engine.run(ask(), timeout + 1.0, what)
