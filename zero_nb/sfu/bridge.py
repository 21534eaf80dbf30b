"""Server side of SFU mode: each signaling session gets a Janus VideoRoom room.

The signaling core calls :class:`SessionHooks` synchronously on the server loop, so a room id
and PIN are chosen at once (``created``), handed to joiners in ``joined.sfu`` (``joined_extra``)
and the room is created in Janus in the background; kernels retry their Janus join while it
is not there yet. The room is destroyed when the session ends. The PIN keeps people who are
not in the signaling session (and so were not told it) out of the Janus room.

Several Janus servers (``sfu.url`` a list): each new session goes to the answering Janus with
the fewest sessions (:func:`place`). A watcher per Janus sends a keepalive every
``health_interval`` seconds; a closed socket, or ``HEALTH_FAILURES`` unanswered keepalives in a
row, marks that Janus down: no new session goes there. Participants connected to it lose
their own Janus connection and get an ``error`` event from their kernel (or page); when one
of them (or anyone) joins that session again, it is moved to an answering Janus. A Janus that
answers again takes new sessions again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from .._loop import Tasks
from ..signaling.core import SessionHooks
from ..signaling.sessions import Session
from .janus import ROOM_EXISTS, JanusError, JanusHandle, JanusSession

__all__ = ["Backend", "JanusBridge", "place"]

log = logging.getLogger("zero_nb.sfu.bridge")

HEALTH_INTERVAL_S = 2.0
HEALTH_TIMEOUT_S = 3.0
HEALTH_FAILURES = 2  # unanswered keepalives in a row before a Janus counts as down


class Backend:
    """One Janus server: the sessions placed on it, whether it answers, and (lazily) the
    VideoRoom handle the bridge uses to create and destroy rooms there."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sessions: set[str] = set()
        self.healthy = True  # until it fails to answer
        self.failures = 0
        self._janus: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._lock: asyncio.Lock | None = None

    async def videoroom(self, timeout: float) -> JanusHandle:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._janus is None or not self._janus.open or self._handle is None:
                if self._janus is not None:
                    await self._janus.close()
                    self._janus = None
                self._janus = await JanusSession.connect(self.url, timeout=timeout)
                self._janus.on_close = self._socket_closed
                self._handle = await self._janus.attach()
            return self._handle

    async def check(self, timeout: float) -> None:
        """One keepalive round trip (connecting first if needed); JanusError if none."""
        handle = await self.videoroom(timeout)
        await handle.session.keepalive(timeout)

    def _socket_closed(self, reason: str) -> None:
        if self.healthy:
            log.error("Janus at %s is gone (%s): no new sessions go there", self.url, reason)
        self.healthy = False

    async def close(self) -> None:
        if self._janus is not None:
            self._janus.on_close = None
            await self._janus.close()
            self._janus = None

    def __repr__(self) -> str:
        state = "up" if self.healthy else "down"
        return f"<Backend {self.url} {state} sessions={len(self.sessions)}>"


def place(backends: Sequence[Backend]) -> Backend:
    """The answering Janus with the fewest sessions (earlier in the list on a tie); when none
    answers, the one with the fewest anyway (its room creation then fails and is logged)."""
    if not backends:
        raise ValueError("no Janus configured: sfu.url is empty")
    healthy = [b for b in backends if b.healthy]
    return min(healthy or backends, key=lambda b: len(b.sessions))


class JanusBridge:
    """Maps sessions to Janus rooms on one or several Janus servers."""

    def __init__(self, url: str | Sequence[str], *, max_publishers: int = 32,
                 bitrate: int | None = None, simulcast: bool = True,
                 require_e2ee: bool = False,
                 health_interval: float = HEALTH_INTERVAL_S,
                 health_timeout: float = HEALTH_TIMEOUT_S) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        self.backends = [Backend(u) for u in urls]
        self.url = urls[0] if urls else ""
        self.max_publishers = max_publishers
        self.bitrate = bitrate  # bits/s cap per publisher (Janus REMB + b=AS), None: Janus' own
        self.simulcast = simulcast  # told to joiners: browsers publish simulcast layers
        self.require_e2ee = require_e2ee  # E2EE hook: Janus refuses plain publishers
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.rooms: dict[str, int] = {}  # session id -> Janus room id
        self._tasks = Tasks("a Janus room request")
        self._watchers: list[asyncio.Task[None]] = []

    def hooks(self) -> SessionHooks:
        return SessionHooks(created=self._created, ended=self._ended,
                            joined_extra=self._joined_extra, close=self.close)

    def backend_of(self, session_id: str) -> Backend | None:
        return next((b for b in self.backends if session_id in b.sessions), None)

    # -- hooks (server loop, synchronous) ---------------------------------------------------
    def _created(self, session: Session) -> None:
        self._watch()
        backend = place(self.backends)
        room = secrets.randbelow(2**52) + 1  # Janus room ids are JSON numbers
        pin = secrets.token_urlsafe(12)
        session.data["sfu"] = {"room": room, "pin": pin, "url": backend.url}
        backend.sessions.add(session.session_id)
        self.rooms[session.session_id] = room
        self._spawn(self._create_room(backend, session.session_id, room, pin))

    def _joined_extra(self, session: Session) -> dict[str, Any]:
        info = session.data.get("sfu")
        backend = self.backend_of(session.session_id)
        if info is None or backend is None:  # a session created before the bridge existed
            self._created(session)
        elif not backend.healthy and any(b.healthy for b in self.backends):
            log.warning("session %s was on Janus %s, which is down: moving it",
                        session.session_id, backend.url)
            backend.sessions.discard(session.session_id)
            self._created(session)
        info = session.data["sfu"]
        return {"sfu": {"kind": "janus", "url": info["url"], "room": info["room"],
                        "pin": info["pin"], "simulcast": self.simulcast,
                        "bitrate": self.bitrate,
                        **({"require_e2ee": True} if self.require_e2ee else {})}}  # E2EE

    def _ended(self, session: Session) -> None:
        info = session.data.get("sfu")
        self.rooms.pop(session.session_id, None)
        backend = self.backend_of(session.session_id)
        if backend is not None:
            backend.sessions.discard(session.session_id)
            if info is not None:
                self._spawn(self._destroy_room(backend, session.session_id, info["room"]))

    # -- Janus (async) ----------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def _watch(self) -> None:
        """Start one health watcher per Janus (first hook call: the server loop runs)."""
        if not self._watchers and len(self.backends) > 1:
            loop = asyncio.get_running_loop()
            self._watchers = [loop.create_task(self._watcher(b)) for b in self.backends]

    async def _watcher(self, backend: Backend) -> None:
        while True:
            try:
                await backend.check(self.health_timeout)
            except JanusError as exc:
                backend.failures += 1
                gone = backend._janus is None or not backend._janus.open  # refused, closed
                if backend.healthy and (gone or backend.failures >= HEALTH_FAILURES):
                    backend.healthy = False
                    log.error("Janus at %s does not answer (%s): no new sessions go there",
                              backend.url, exc)
            else:
                if not backend.healthy:
                    log.info("Janus at %s answers again: it takes new sessions", backend.url)
                backend.healthy, backend.failures = True, 0
            await asyncio.sleep(self.health_interval)

    async def _create_room(self, backend: Backend, session_id: str, room: int,
                           pin: str) -> None:
        try:
            handle = await backend.videoroom(self.health_timeout)
            await handle.request({
                "request": "create", "room": room, "pin": pin, "is_private": True,
                "permanent": False, "publishers": self.max_publishers,
                "description": f"zero_nb {session_id}"[:100],
                "notify_joining": False,
                "videocodec": "vp8,h264",  # h264: encoded H.264 files (kernel_rtc/encoded.py)
                "require_e2ee": self.require_e2ee,  # E2EE hook
                **({"bitrate": self.bitrate, "bitrate_cap": True} if self.bitrate else {}),
            })
            log.info("session %s -> Janus room %d at %s", session_id, room, backend.url)
        except JanusError as exc:
            if exc.code == ROOM_EXISTS:
                return
            log.error("cannot create the Janus room for session %s at %s: %s; its "
                      "participants will get no media", session_id, backend.url, exc)

    async def _destroy_room(self, backend: Backend, session_id: str, room: int) -> None:
        if not backend.healthy:
            return  # its rooms went with it
        try:
            handle = await backend.videoroom(self.health_timeout)
            await handle.request({"request": "destroy", "room": room})
            log.info("session %s ended: Janus room %d destroyed", session_id, room)
        except JanusError as exc:
            log.warning("cannot destroy Janus room %d of session %s: %s", room, session_id,
                        exc)

    async def close(self, timeout: float = 3.0) -> None:
        """Let pending create/destroy requests finish (briefly), then close the sessions."""
        for watcher in self._watchers:
            watcher.cancel()
        if len(self._tasks):  # their failures are logged by Tasks
            await asyncio.wait(list(self._tasks), timeout=timeout)
        for backend in self.backends:
            await backend.close()
