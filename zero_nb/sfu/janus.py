"""An async client of Janus' WebSocket API (subprotocol ``janus-protocol``), VideoRoom-centred.

One :class:`JanusSession` is one WebSocket and one Janus session: requests carry a transaction
and wait for their reply; plugin requests answered asynchronously (``ack`` first, the ``event``
later) wait for that event. Events that answer nothing (``publishers``, ``webrtcup``,
``hangup`` ...) go to the handle's ``on_event``. A keepalive goes out every 20 s (Janus drops a
silent session after 60 s). When the socket closes, or a keepalive goes unanswered, pending
requests fail with :class:`JanusError` and ``on_close(reason)`` is called once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..errors import MediaError

__all__ = ["VIDEOROOM", "JanusError", "JanusHandle", "JanusSession"]

log = logging.getLogger("zero_nb.sfu.janus")

VIDEOROOM = "janus.plugin.videoroom"
KEEPALIVE_S = 20.0
REQUEST_TIMEOUT_S = 10.0

# VideoRoom error codes we act on
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428


class JanusError(MediaError):
    """Janus refused a request, or the connection to it is gone. ``code`` is Janus' code."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


EventHandler = Callable[[dict[str, Any], dict[str, Any] | None], None]


class JanusHandle:
    """A plugin handle. ``on_event(data, jsep)`` receives the plugin's unsolicited events;
    ``on_janus(message)`` the core ones (``webrtcup``, ``hangup``, ``media``, ``detached``)."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.on_event: EventHandler | None = None
        self.on_janus: Callable[[dict[str, Any]], None] | None = None

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, destroy, exists, listparticipants...):
        returns the plugin's data; raises JanusError on a plugin error."""
        reply = await self.session._send({"janus": "message", "handle_id": self.id,
                                          "body": body})
        return _plugin_data(reply)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                      timeout: float = REQUEST_TIMEOUT_S
                      ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An asynchronous plugin request (join, publish, start...): waits for its event;
        returns ``(data, jsep)``."""
        msg: dict[str, Any] = {"janus": "message", "handle_id": self.id, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        reply = await self.session._send(msg, wait_event=True, timeout=timeout)
        return _plugin_data(reply), reply.get("jsep")

    async def detach(self) -> None:
        self.session._handles.pop(self.id, None)
        if self.session.open:
            with contextlib.suppress(JanusError, asyncio.TimeoutError):
                await self.session._send({"janus": "detach", "handle_id": self.id}, timeout=3)


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data or "error" in data:
        raise JanusError(f"Janus VideoRoom: {data.get('error', 'error')}",
                         data.get("error_code"))
    return data


class JanusSession:
    """A WebSocket to Janus and one Janus session on it. Create with :meth:`connect`."""

    def __init__(self, url: str, ws: ClientConnection) -> None:
        self.url = url
        self.id: int | None = None
        self.on_close: Callable[[str], None] | None = None
        self.closed_reason: str | None = None
        self._ws = ws
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], bool]] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._reader = asyncio.ensure_future(self._read())
        self._keepalive: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str, timeout: float = REQUEST_TIMEOUT_S) -> JanusSession:
        """Open the socket and create a Janus session; JanusError if Janus is unreachable."""
        try:
            ws = await asyncio.wait_for(
                connect(url, subprotocols=["janus-protocol"], open_timeout=timeout,  # type: ignore[list-item]
                        ping_interval=None, max_size=2**22), timeout)
        except Exception as exc:  # refused, DNS, TLS, handshake, timeout
            raise JanusError(f"cannot reach Janus at {url}: {exc}; is it running, and is "
                             "sfu.url right?") from exc
        session = cls(url, ws)
        try:
            reply = await session._send({"janus": "create"}, timeout=timeout)
        except BaseException:
            await session.close()
            raise
        session.id = int(reply["data"]["id"])
        session._keepalive = asyncio.ensure_future(session._keep_alive())
        return session

    @property
    def open(self) -> bool:
        return self.closed_reason is None

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        reply = await self._send({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(reply["data"]["id"]))
        self._handles[handle.id] = handle
        return handle

    async def close(self) -> None:
        """Destroy the session (best effort) and close the socket."""
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.open and self.id is not None:
            with contextlib.suppress(JanusError, asyncio.TimeoutError):
                await self._send({"janus": "destroy"}, timeout=2)
        self._fail("closed by us", notify=False)
        await self._ws.close()
        self._reader.cancel()

    # -- I/O ----------------------------------------------------------------------------------
    async def _send(self, msg: dict[str, Any], *, wait_event: bool = False,
                    timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        if not self.open:
            raise JanusError(f"the connection to Janus at {self.url} is gone "
                             f"({self.closed_reason})")
        tx = secrets.token_hex(8)
        msg = {**msg, "transaction": tx}
        if self.id is not None:
            msg["session_id"] = self.id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[tx] = (future, wait_event)
        try:
            await self._ws.send(json.dumps(msg))
            return await asyncio.wait_for(future, timeout)
        except ConnectionClosed as exc:
            raise JanusError(f"the connection to Janus at {self.url} closed: {exc}") from exc
        except asyncio.TimeoutError:
            raise JanusError(f"Janus at {self.url} did not answer {msg['janus']!r} "
                             f"{msg.get('body', {}).get('request', '')} within {timeout:g} s"
                             ) from None
        finally:
            self._pending.pop(tx, None)

    async def keepalive(self, timeout: float = REQUEST_TIMEOUT_S) -> None:
        """One keepalive round trip: JanusError if Janus does not answer within ``timeout``."""
        await self._send({"janus": "keepalive"}, timeout=timeout)

    async def _keep_alive(self) -> None:
        while self.open:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self.keepalive()
            except JanusError as exc:
                # a Janus that stops answering (hung, or its host gone without a FIN) is
                # as lost as a closed socket: say so instead of waiting silently
                self._fail(f"Janus at {self.url} stopped answering ({exc})")

    async def _read(self) -> None:
        reason = "closed"
        try:
            async for raw in self._ws:
                try:
                    self._dispatch(json.loads(raw))
                except Exception:  # one odd message must not end the session
                    log.exception("bad message from Janus: %.200r", raw)
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc})"
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        self._fail(f"Janus at {self.url}: {reason}")

    def _fail(self, reason: str, notify: bool = True) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        if self._keepalive is not None:
            self._keepalive.cancel()
        for future, _ in list(self._pending.values()):
            if not future.done():
                future.set_exception(JanusError(f"the connection to Janus is gone: {reason}"))
        if notify and self.on_close is not None:
            try:
                self.on_close(reason)
            except Exception:
                log.exception("on_close callback failed")

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("janus")
        tx = msg.get("transaction")
        pending = self._pending.get(tx) if tx else None
        if pending is not None:
            future, wait_event = pending
            if kind == "ack" and wait_event:
                return
            if future.done():
                return
            if kind == "error":
                err = msg.get("error", {})
                future.set_exception(JanusError(f"Janus: {err.get('reason', 'error')}",
                                                err.get("code")))
            else:
                future.set_result(msg)
            return
        if kind in ("ack", "success") or kind is None:
            return
        handle = self._handles.get(msg.get("sender", -1))
        if handle is None:
            if kind == "timeout":
                self._fail(f"Janus at {self.url} timed the session out")
            return
        if kind == "event":
            data = msg.get("plugindata", {}).get("data", {})
            if handle.on_event is not None:
                handle.on_event(data, msg.get("jsep"))
        elif handle.on_janus is not None:
            handle.on_janus(msg)
