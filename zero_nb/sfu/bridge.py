"""Server side of SFU mode: each signaling session gets a Janus VideoRoom room.

The signaling core calls :class:`SessionHooks` synchronously on the server loop, so a room id
and PIN are chosen at once (``created``), handed to joiners in ``joined.sfu`` (``joined_extra``)
and the room is created in Janus in the background; kernels retry their Janus join while it
is not there yet. The room is destroyed when the session ends. The PIN keeps people who are
not in the signaling session (and so were not told it) out of the Janus room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from ..signaling.core import SessionHooks
from ..signaling.sessions import Session
from .janus import ROOM_EXISTS, JanusError, JanusHandle, JanusSession

__all__ = ["JanusBridge"]

log = logging.getLogger("zero_nb.sfu.bridge")


class JanusBridge:
    """Maps sessions to Janus rooms through one (reconnecting) Janus session."""

    def __init__(self, url: str, *, max_publishers: int = 32) -> None:
        self.url = url
        self.max_publishers = max_publishers
        self.rooms: dict[str, int] = {}  # session id -> Janus room id
        self._janus: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def hooks(self) -> SessionHooks:
        return SessionHooks(created=self._created, ended=self._ended,
                            joined_extra=self._joined_extra, close=self.close)

    # -- hooks (server loop, synchronous) ---------------------------------------------------
    def _created(self, session: Session) -> None:
        room = secrets.randbelow(2**52) + 1  # Janus room ids are JSON numbers
        pin = secrets.token_urlsafe(12)
        session.data["sfu"] = {"room": room, "pin": pin}
        self.rooms[session.session_id] = room
        self._spawn(self._create_room(session.session_id, room, pin))

    def _joined_extra(self, session: Session) -> dict[str, Any]:
        info = session.data.get("sfu")
        if info is None:  # a session created before the bridge was installed
            self._created(session)
            info = session.data["sfu"]
        return {"sfu": {"kind": "janus", "url": self.url, "room": info["room"],
                        "pin": info["pin"]}}

    def _ended(self, session: Session) -> None:
        info = session.data.get("sfu")
        self.rooms.pop(session.session_id, None)
        if info is not None:
            self._spawn(self._destroy_room(session.session_id, info["room"]))

    # -- Janus (async) ----------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _videoroom(self) -> JanusHandle:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._janus is None or not self._janus.open or self._handle is None:
                if self._janus is not None:
                    await self._janus.close()
                self._janus = await JanusSession.connect(self.url)
                self._handle = await self._janus.attach()
            return self._handle

    async def _create_room(self, session_id: str, room: int, pin: str) -> None:
        try:
            handle = await self._videoroom()
            await handle.request({
                "request": "create", "room": room, "pin": pin, "is_private": True,
                "permanent": False, "publishers": self.max_publishers,
                "description": f"zero_nb {session_id}"[:100],
                "notify_joining": False,
            })
            log.info("session %s -> Janus room %d", session_id, room)
        except JanusError as exc:
            if exc.code == ROOM_EXISTS:
                return
            log.error("cannot create the Janus room for session %s: %s; its participants "
                      "will get no media", session_id, exc)

    async def _destroy_room(self, session_id: str, room: int) -> None:
        try:
            handle = await self._videoroom()
            await handle.request({"request": "destroy", "room": room})
            log.info("session %s ended: Janus room %d destroyed", session_id, room)
        except JanusError as exc:
            log.warning("cannot destroy Janus room %d of session %s: %s", room, session_id,
                        exc)

    async def close(self, timeout: float = 3.0) -> None:
        """Let pending create/destroy requests finish (briefly), then close the session."""
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(list(self._tasks), timeout=timeout)
        if self._janus is not None:
            await self._janus.close()
            self._janus = None
