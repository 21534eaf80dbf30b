"""The signaling server's I/O: WebSocket at ``/ws`` and tiny HTTP, driving :mod:`.core`.

:class:`SignalingServer` is the async server for programs; :func:`serve` starts one in a
background thread for notebooks and returns a :class:`ServerHandle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import logging
import ssl
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._loop import LoopThread
from ..config import load_config
from ..errors import ConfigError
from .core import CLOSE_POLICY, Action, Close, Limits, Send, SessionHooks, SignalingCore
from .heartbeat import until_silent
from .static import http_reply

__all__ = ["ServerHandle", "SignalingServer", "serve"]

log = logging.getLogger("zero_nb.signaling")

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ssl_context(tls: Mapping[str, Any]) -> ssl.SSLContext | None:
    cert, key = tls.get("cert"), tls.get("key")
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("signaling.tls needs both 'cert' and 'key' (PEM file paths)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"signaling.tls: cannot load cert {cert!r} / key {key!r}: {exc}") from exc
    return ctx


class _Link:
    """One WebSocket connection: an outgoing queue drained by a writer task."""

    __slots__ = ("closing", "queue", "writer", "ws")

    def __init__(self, ws: ServerConnection, depth: int) -> None:
        self.ws = ws
        self.closing = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(depth)
        self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while (text := await self.queue.get()) is not None:
                await self.ws.send(text)


class SignalingServer:
    """Protocol v1 server. ``async with SignalingServer(config) as s:`` or start()/stop()."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        config: Mapping[str, Any] | str | None = None,
        hooks: SessionHooks | None = None,
    ) -> None:
        self.config = load_config(config)
        sig = self.config["signaling"]
        self.host = host if host is not None else sig["host"]
        self.port = port if port is not None else sig["port"]
        self.limits = Limits(**sig["limits"])
        if hooks is None and self.config["sfu"]["enabled"]:
            raise ConfigError("sfu.enabled: start the server with zero_nb.serve() or "
                              "`zero-nb serve`, which connect it to Janus")
        self.hooks = hooks or SessionHooks()
        resume_key = sig["auth"]["resume_key"]
        self.core = SignalingCore(self.limits, token=sig["auth"]["token"], hooks=self.hooks,
                                  resume_key=resume_key.encode() if resume_key else None,
                                  host_token=sig["auth"]["host_token"])
        self._ssl = _ssl_context(sig["tls"])
        self._links: dict[int, _Link] = {}
        self._server: Server | None = None
        if not _is_loopback(self.host) and not sig["auth"]["token"]:
            log.warning(
                "binding %s, reachable from other machines, without signaling.auth.token: "
                "anyone who reaches this port can join sessions that have no password. "
                "Set a token or give each session a password.", self.host,
            )

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to, e.g. ``ws://127.0.0.1:8765/ws``."""
        scheme = "wss" if self._ssl else "ws"
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}/ws"

    async def start(self) -> SignalingServer:
        self._server = await ws_serve(
            self._handle,
            self.host,
            self.port,
            ssl=self._ssl,
            process_request=self._process_request,
            # frames far over the limit are abuse: websockets closes with 1009 before
            # buffering them; moderately oversize ones get a 'too-large' error from the core
            max_size=4 * self.limits.max_message_bytes,
            ping_interval=None,  # our own heartbeat (_heartbeat): it announces at once
            close_timeout=2,
            max_queue=32,
            logger=logging.getLogger("zero_nb.signaling.ws"),
        )
        if self.port == 0:
            self.port = next(iter(self._server.sockets)).getsockname()[1]
        log.info("signaling server listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.hooks.close is not None:  # e.g. the SFU bridge: destroy rooms, close Janus
            await self.hooks.close()

    async def __aenter__(self) -> SignalingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def sessions(self) -> dict[str, list[dict[str, Any]]]:
        """Session id -> peers (``{peer_id, name, media?}``). Call on the server's loop."""
        return self.core.registry.snapshot()

    def create_session(self, session_id: str, password: str | None = None) -> None:
        """Open a session that persists when empty (for ``allow_create: false`` servers)."""
        from .protocol import SESSION_ID_RE

        if not SESSION_ID_RE.fullmatch(session_id):
            raise ConfigError("a session id is 1-128 characters of A-Z a-z 0-9 . _ -")
        self.core.registry.create(session_id, password)

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    # -- I/O ---------------------------------------------------------------------------------
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        reply = http_reply(request.path)
        if reply is None:
            if self.core.connection_count >= self.limits.max_connections:
                return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                    "server at its connection limit: try again later\n")
            return None
        status = http.HTTPStatus(reply.status)
        headers = Headers([("Content-Type", reply.content_type),
                           ("Content-Length", str(len(reply.body))),
                           ("Cache-Control", "no-cache")])
        return Response(reply.status, status.phrase, headers, reply.body)

    async def _handle(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        conn_id = self.core.open()
        link = self._links[conn_id] = _Link(ws, self.limits.send_queue)
        beat = asyncio.create_task(self._heartbeat(conn_id, ws))
        try:
            async for raw in ws:
                self._dispatch(self.core.receive(conn_id, raw, loop.time()))
        except ConnectionClosed:
            pass
        finally:
            beat.cancel()
            self._links.pop(conn_id, None)
            self._dispatch(self.core.close(conn_id))
            link.writer.cancel()

    async def _heartbeat(self, conn_id: int, ws: ServerConnection) -> None:
        """With no pong within the heartbeat's ``timeout`` the peer is gone: its session hears
        ``peer-left`` at once and the TCP connection is aborted (heartbeat.py)."""
        beat = self.config["signaling"]["heartbeat"]
        timeout = float(beat["timeout"])
        if not await until_silent(ws, float(beat["interval"]), timeout):
            return
        log.info("no pong from %s within %g s: dropping it", ws.remote_address, timeout)
        self._links.pop(conn_id, None)
        self._dispatch(self.core.close(conn_id))

    def _dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            link = self._links.get(action.conn)
            if link is None:
                continue
            if isinstance(action, Send):
                text = action.text or json.dumps(action.message, separators=(",", ":"))
                try:
                    link.queue.put_nowait(text)
                except asyncio.QueueFull:
                    # a reader that cannot keep up must not grow our memory
                    self._close(link, CLOSE_POLICY, "too slow: outgoing queue full")
            elif isinstance(action, Close):
                self._close(link, action.code, action.reason)

    def _close(self, link: _Link, code: int, reason: str) -> None:
        if link.closing:  # once is enough: further frames must not spawn more closes
            return
        link.closing = True
        log.warning("closing connection from %s: %s", link.ws.remote_address, reason)
        asyncio.get_running_loop().create_task(link.ws.close(code, reason))


class ServerHandle:
    """A :class:`SignalingServer` running in a background thread (see :func:`serve`)."""

    def __init__(self, server: SignalingServer, thread: LoopThread) -> None:
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return int(self._server.port)

    @property
    def server(self) -> SignalingServer:
        return self._server

    @property
    def running(self) -> bool:
        return self._thread.alive and self._server._server is not None

    def sessions(self) -> dict[str, list[dict[str, Any]]]:
        """Session id -> list of peers ``{peer_id, name, media?}`` (a snapshot)."""
        async def snap() -> dict[str, list[dict[str, Any]]]:
            return self._server.sessions()

        return self._thread.run(snap(), 5.0, "reading the server's sessions")

    def create_session(self, session_id: str, password: str | None = None) -> None:
        """Open a session that persists when empty (for ``allow_create: false`` servers)."""
        async def create() -> None:
            self._server.create_session(session_id, password)

        self._thread.run(create(), 5.0, "creating a session")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and its thread; connected clients see the connection close."""
        if not self._thread.alive:
            return
        with contextlib.suppress(Exception):
            self._thread.run(self._server.stop(), timeout, "stopping the signaling server")
        self._thread.stop(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<zero_nb server {self.url} {state}>"


def serve(
    host: str | None = None,
    port: int | None = None,
    *,
    config: Mapping[str, Any] | str | None = None,
    hooks: SessionHooks | None = None,
) -> ServerHandle:
    """Start a signaling server in a background thread and return at once.

    ``port=0`` picks a free port (read it from ``.url``). Defaults come from config.yaml
    (``signaling.host``/``signaling.port``: 127.0.0.1:8765).
    """
    server = SignalingServer(host, port, config=config, hooks=hooks)
    thread = LoopThread("zero_nb-signaling")
    try:
        thread.run(server.start(), 10.0, "starting the signaling server")
    except OSError as exc:
        thread.stop()
        raise ConfigError(
            f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}; "
            "choose another port (port=0 picks a free one)"
        ) from exc
    except BaseException:
        thread.stop()
        raise
    return ServerHandle(server, thread)
