"""Async signaling client: connect, join, send, receive; reconnects and re-joins by itself.

Server messages go to ``on_message`` (called on the client's loop) or, without a callback,
to a bounded queue read with :meth:`SignalingClient.recv`. After a reconnect the client asks
to keep its ``peer_id`` (``resume`` with the ``resume_secret`` that ``joined`` gave) and a
fresh ``joined`` message is delivered: if its ``peer_id`` differs, treat it as a reset.
:meth:`SignalingClient.set_media` says what this participant sends (``media``); every
(re-)join carries the latest state, so the others see it after a reconnect too.
A join the server refuses raises at once (no retry can help) as a
:class:`zero_nb.errors.JoinRefused` subclass carrying the server's ``code`` and ``message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..errors import ServerUnreachable, SignalingError, Timeout, join_refused
from .heartbeat import until_silent
from .tokens import split_token

__all__ = ["ClientState", "SignalingClient", "media_state"]

log = logging.getLogger("zero_nb.signaling.client")


def media_state(audio: bool, video: bool, e2ee: bool = False) -> dict[str, bool]:
    """The wire ``media`` object: ``e2ee`` only when set, as the server describes it."""
    media = {"audio": bool(audio), "video": bool(video)}
    if e2ee:
        media["e2ee"] = True
    return media


class ClientState(str, enum.Enum):
    CONNECTING = "connecting"
    JOINED = "joined"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class SignalingClient:
    """One participant's link to a signaling server."""

    def __init__(
        self,
        url: str,
        *,
        session: str | None = None,
        name: str = "",
        password: str | None = None,
        token: str | None = None,
        host_token: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        reconnect: bool = True,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        on_state: Callable[[ClientState], None] | None = None,
        backoff: tuple[float, float] = (0.2, 5.0),
        heartbeat: tuple[float, float] = (2.0, 3.0),
        queue_size: int = 1000,
    ) -> None:
        # the token rides in the URL (server.url); it goes to the server in `join`
        self.url, url_token = split_token(url)
        self.session = session
        self.name = name
        self.password = password
        self.token = token if token is not None else url_token
        self.host_token = host_token
        self.reconnect = reconnect
        self.on_message = on_message
        self.on_state = on_state
        self.backoff = backoff
        self.heartbeat = heartbeat
        self._ssl = ssl
        self.peer_id: str | None = None
        self.resume_secret: str | None = None  # proves our claim to peer_id on a re-join
        self.joined: dict[str, Any] | None = None
        self.media: dict[str, bool] | None = None  # {audio, video, e2ee?} as last announced
        self.state = ClientState.CLOSED
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[dict[str, Any]] | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._closing = False

    def _set_state(self, state: ClientState) -> None:
        self.state = state
        if self.on_state:
            self.on_state(state)

    # -- public -------------------------------------------------------------------------------
    async def connect(self, timeout: float = 10.0) -> dict[str, Any]:
        """Connect and join; return the ``joined`` message.

        Raises :class:`ServerUnreachable`, :class:`JoinRefused` or :class:`Timeout`.
        """
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._closing = False
        self._task = loop.create_task(self._run(deadline=loop.time() + timeout))
        try:
            return await asyncio.wait_for(asyncio.shield(self._first), timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise Timeout(
                f"joining via {self.url} took over {timeout:g} s: is the server overloaded?"
            ) from None
        except BaseException:
            await self.close()
            raise

    async def send(self, message: dict[str, Any]) -> bool:
        """Send one message; False if the link is down (it is dropped, not queued:
        offers and candidates addressed to the old peer ids are void after a rejoin)."""
        ws = self._ws
        if ws is None or self.state is not ClientState.JOINED:
            return False
        try:
            await ws.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed:
            return False
        return True

    async def set_media(self, audio: bool, video: bool, e2ee: bool = False) -> bool:
        """Announce what this participant sends (False: muted / camera off or no device;
        ``e2ee``: its media is end-to-end encrypted); only changes go out. False if the link
        is down: the next (re-)join carries it."""
        media = media_state(audio, video, e2ee)
        if media == self.media:
            return True
        self.media = media
        return await self.send({"type": "media", **media})

    async def recv(self) -> dict[str, Any]:
        """Next server message (when no ``on_message`` callback is set)."""
        return await self._queue.get()

    async def leave(self) -> None:
        """Leave the session and close the connection."""
        await self.send({"type": "leave"})
        await self.close()

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._set_state(ClientState.CLOSED)

    # -- run loop ----------------------------------------------------------------------------
    def _deliver(self, message: dict[str, Any]) -> None:
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:  # a faulty handler must not kill the link
                log.exception("signaling message handler failed on %s", message.get("type"))
            return
        if self._queue.full():  # bounded: the oldest unread event goes
            self._queue.get_nowait()
            log.warning("signaling client queue full: dropped the oldest message")
        self._queue.put_nowait(message)

    async def _run(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff[0]
        while not self._closing:
            first = self._first is not None and not self._first.done()
            self._set_state(ClientState.CONNECTING if first else ClientState.RECONNECTING)
            try:
                await self._session_once()
                delay = self.backoff[0]
            except SignalingError as exc:  # refused: retrying cannot help
                if self._first is not None and not self._first.done():
                    self._first.set_exception(exc)
                else:
                    log.error("re-join refused: %s", exc)
                    self._deliver({"type": "error", "code": getattr(exc, "code", "refused"),
                                   "message": str(exc)})
                self._set_state(ClientState.CLOSED)
                return
            except (OSError, ConnectionClosed, InvalidHandshake, asyncio.TimeoutError) as exc:
                # refused on the first try: nobody listens there, so say so at once
                refused = isinstance(exc, ConnectionRefusedError)
                if first and (refused or not self.reconnect or loop.time() >= deadline):
                    assert self._first is not None
                    self._first.set_exception(ServerUnreachable(
                        f"no signaling server answers at {self.url} ({exc}): start one with "
                        "zero_nb.serve() or `zero-nb serve`, or check the address"
                    ))
                    self._set_state(ClientState.CLOSED)
                    return
                log.debug("signaling link down (%s); retrying in %.1f s", exc, delay)
            except InvalidURI as exc:
                if self._first is not None and not self._first.done():
                    self._first.set_exception(SignalingError(
                        f"{self.url!r} is not a WebSocket URL: use ws://HOST:PORT/ws"))
                self._set_state(ClientState.CLOSED)
                raise SignalingError(str(exc)) from exc
            finally:
                self._ws = None
            if self._closing or not self.reconnect:
                break
            self._set_state(ClientState.RECONNECTING)
            self._deliver({"type": "disconnected"})
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
        self._set_state(ClientState.CLOSED)

    async def _session_once(self) -> None:
        """One connection: join, then deliver messages until it drops."""
        # pass ssl only when set: ssl=None on a wss:// URL would mean "no TLS" and hang
        tls: dict[str, Any] = {"ssl": self._ssl} if self._ssl is not None else {}
        async with connect(
            self.url,
            **tls,
            open_timeout=5,
            close_timeout=2,
            ping_interval=None,  # our own heartbeat: a frozen server is noticed in 5 s, not 7
            max_size=2**22,
        ) as ws:
            beat = asyncio.create_task(until_silent(ws, *self.heartbeat))
            try:
                await self._joined_session(ws)
            finally:
                beat.cancel()

    async def _joined_session(self, ws: ClientConnection) -> None:
        """Join on ``ws``, then deliver messages until it drops."""
        await ws.send(json.dumps(self._join_message()))
        reply = await self._await_joined(ws)
        self._ws = ws
        self.joined = reply
        self.peer_id = reply["peer_id"]
        self.session = reply["session"]
        self.resume_secret = reply.get("resume_secret")
        if self._first is not None and not self._first.done():
            self._first.set_result(reply)
        else:
            self.reconnects += 1
            self._deliver(reply)
        self._set_state(ClientState.JOINED)
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("server sent a non-JSON frame; ignored")
                continue
            if isinstance(message, dict):
                if message.get("type") == "removed":  # our id is void: never re-join
                    self.reconnect = False
                self._deliver(message)

    def _join_message(self) -> dict[str, Any]:
        join: dict[str, Any] = {"type": "join", "name": self.name}
        for key in ("session", "password", "token", "host_token", "media"):
            if getattr(self, key) is not None:
                join[key] = getattr(self, key)
        if self.peer_id is not None:  # a reconnect: ask to keep our id, proving it is ours
            join["resume"] = self.peer_id
            if self.resume_secret is not None:
                join["resume_secret"] = self.resume_secret
        return join

    @staticmethod
    async def _await_joined(ws: ClientConnection) -> dict[str, Any]:
        """The server's answer to our ``join``; an ``error`` is its refusal, raised at once."""
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if not isinstance(reply, dict):
                continue
            if reply.get("type") == "joined":
                return reply
            # join is the only frame sent on this connection so far, so any error answers it
            # (parse errors such as a bad session name carry no 'request' field)
            if reply.get("type") == "error":
                raise join_refused(str(reply.get("code", "?")), str(reply.get("message", "")))
