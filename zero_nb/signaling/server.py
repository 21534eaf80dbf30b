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
import secrets
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._loop import LoopThread
from ..config import load_config
from ..errors import ConfigError
from . import links, runtime
from .core import CLOSE_POLICY, Action, Close, Limits, Send, SessionHooks, SignalingCore
from .heartbeat import until_silent
from .protocol import ErrorCode, error
from .static import http_reply
from .tokens import page_link, with_token

__all__ = ["NO_TOKEN", "ServerHandle", "SignalingServer", "serve"]

log = logging.getLogger("zero_nb.signaling")

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}

NO_TOKEN = "none"  # signaling.auth.token: none -- the explicit opt-out

# a server restarted on an address it held in this process keeps its token, so clients
# (whose URLs carry it) re-join and resume their peer ids
_tokens: dict[tuple[str, int], str] = {}


def _choose_token(host: str, port: int, configured: str | None) -> str | None:
    """The configured token, ``None`` for the opt-out, else the address's previous or a new one."""
    if configured == NO_TOKEN:
        return None
    if configured:
        return configured
    if port:
        if (host, port) in _tokens:
            return _tokens[(host, port)]
        found = runtime.find(port)  # this user's server that was killed on this address
        if found is not None and not found.alive and found.token:
            return found.token
    return secrets.token_urlsafe(24)


def _same_host(origin: str, host: str | None) -> bool:
    """The page at ``origin`` was served by this server as ``Host`` names it (a proxy that
    keeps Host keeps this true)."""
    if host is None:
        return False
    page, served = urlsplit(origin), urlsplit(f"//{host}")
    default = {"http": 80, "https": 443}.get(page.scheme)
    try:
        return (page.hostname is not None and page.hostname == served.hostname
                and (page.port or default) == (served.port or default))
    except ValueError:  # a malformed port
        return False


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
        self.token = _choose_token(self.host, self.port, sig["auth"]["token"])
        self.core = SignalingCore(self.limits, token=self.token, hooks=self.hooks,
                                  resume_key=resume_key.encode() if resume_key else None,
                                  host_token=sig["auth"]["host_token"])
        self.allowed_origins: list[str] = [str(o).rstrip("/") for o in sig["allowed_origins"]]
        self._ssl = _ssl_context(sig["tls"])
        self._links: dict[int, _Link] = {}
        self._server: Server | None = None
        self._announced: list[Any] = []  # runtime files naming this server (runtime.py)
        self._warn_about_openness()

    def _warn_about_openness(self) -> None:
        where = f"{self.host}:{self.port or 'PORT'}"
        if self.token is None:
            who = (f"anyone on the network who reaches {where}" if not _is_loopback(self.host)
                   else f"every user of this machine (anyone who can reach {where})")
            log.warning("signaling.auth.token is 'none': %s can join sessions that have no "
                        "password. Remove the opt-out to require the server's token.", who)
        if "*" in self.allowed_origins:
            log.warning("signaling.allowed_origins has '*': web pages from any site the user "
                        "opens may connect%s", "" if self.token is None else
                        " (they still need the token)")

    @property
    def address(self) -> str:
        """The WebSocket URL without the token, e.g. ``ws://127.0.0.1:8765/ws``."""
        scheme = "wss" if self._ssl else "ws"
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}/ws"

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to, with the token: ``ws://127.0.0.1:8765/ws?token=...``."""
        return with_token(self.address, self.token)

    @property
    def page_url(self) -> str:
        """The web page's link with the token, e.g. ``http://127.0.0.1:8765/?token=...``."""
        return self.link()

    def link(self, session: str | None = None, *, base: str | None = None,
             **query: str) -> str:
        """The shareable page link (token included): ``?session=...`` and any page option
        (``name``, ``autojoin``, ...); ``base`` replaces this server's address, e.g. with a
        jupyter-server-proxy URL ``https://hub/user/me/proxy/8765/``."""
        if session is not None:
            query = {"session": session, **query}
        return page_link(self.address, self.token, base, **query)

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
        if self.token is not None:
            _tokens[(self.host, self.port)] = self.token
        self.announce_as(self.port)
        log.info("signaling server listening on %s", self.address)
        return self

    def announce_as(self, port: int) -> None:
        """Tell this user's other processes that this server serves the address of ``port``
        (its own, or one it stands in for): a 0600 file in the Jupyter runtime dir."""
        try:
            self._announced.append(runtime.announce(port, self.url, self.token))
        except (OSError, RuntimeError) as exc:  # e.g. a read-only home: only discovery fails
            log.warning("cannot write this server's runtime file (%s): other processes of "
                        "this user will not find it; pass them server.url", exc)

    async def stop(self) -> None:
        for path in self._announced:
            runtime.withdraw(path)
        self._announced.clear()
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

    def _origin_refusal(self, request: Request | None) -> str | None:
        """Why a browser page may not connect, or None. Requests without ``Origin`` (bots,
        kernels) are judged by the token alone."""
        origin = request.headers.get("Origin") if request is not None else None
        if origin is None:
            return None
        origin = origin.rstrip("/")
        if origin in self.allowed_origins or "*" in self.allowed_origins \
                or _same_host(origin, request.headers.get("Host") if request else None):
            return None
        return (f"a page from {origin} may not join this server: add {origin!r} to "
                "signaling.allowed_origins in the server's config if you trust that site")

    async def _refuse(self, ws: ServerConnection, why: str) -> None:
        """Refuse before anything is read: an ``error`` the page can show, then close."""
        log.warning("refused a WebSocket from %s: %s", ws.remote_address, why)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(error(ErrorCode.FORBIDDEN_ORIGIN, why, request="join")))
            await ws.close(CLOSE_POLICY, "origin not allowed: see signaling.allowed_origins")

    async def _handle(self, ws: ServerConnection) -> None:
        if (why := self._origin_refusal(ws.request)) is not None:
            await self._refuse(ws, why)
            return
        loop = asyncio.get_running_loop()
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request is not None else {}
        conn_id = self.core.open(token=query.get("token", [None])[0])
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
        """The WebSocket URL with the token: pass it to :func:`zero_nb.join`."""
        return self._server.url

    @property
    def address(self) -> str:
        """The WebSocket URL without the token."""
        return self._server.address

    @property
    def token(self) -> str | None:
        return self._server.token

    @property
    def page_url(self) -> str:
        """The web page's link with the token: the one thing to share."""
        return self._server.page_url

    def link(self, session: str | None = None, *, base: str | None = None,
             **query: str) -> str:
        """The shareable page link for ``session`` (see :meth:`SignalingServer.link`)."""
        return self._server.link(session, base=base, **query)

    @property
    def port(self) -> int:
        return int(self._server.port)

    @property
    def proxy_url(self) -> str | None:
        """The call page through the Jupyter server running this kernel (JupyterHub, Binder,
        ``ssh -L``): ``<jupyter>/proxy/PORT/?token=...``, for guests who reach only that
        server; None outside Jupyter, without jupyter-server-proxy, or when this server does
        not listen on 127.0.0.1 (where the proxy forwards)."""
        if self._server.host not in ("127.0.0.1", "localhost", "0.0.0.0", "::", ""):
            return None
        return links.proxy_url(self.port, token=self._server.core.token)

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
        return f"<zero_nb server {self.address} {state}>"  # no token: reprs end up in outputs


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
