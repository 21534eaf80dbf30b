"""``zero_nb.join``: the one call that puts this process into a session."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._serve import serve
from .config import load_config
from .errors import ConfigError
from .kernel_rtc.engine import get_engine
from .kernel_rtc.net.mesh import mesh_only
from .kernel_rtc.net.topology import RoomHost, Topology
from .kernel_rtc.room import Room
from .signaling import runtime
from .signaling.server import ServerHandle

__all__ = ["embedded_server", "join", "join_async"]

log = logging.getLogger("zero_nb")
_embedded: ServerHandle | None = None
_starting: asyncio.Future[ServerHandle | None] | None = None  # serve() in progress (engine loop)


def embedded_server() -> ServerHandle | None:
    """The server this process started for itself, if any."""
    return _embedded


def choose_topology(host: RoomHost, joined: dict[str, Any]) -> Topology:
    """The topology the server's ``joined`` asks for: Janus when it names an SFU, else a mesh."""
    if joined.get("sfu"):
        from .sfu.kernel import Sfu

        return Sfu(host, joined["sfu"])
    return mesh_only(host, joined)


def _show_as_widget() -> None:
    """In a Jupyter kernel a Room displays as the Conference: load the widgets once."""
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        pass
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    try:
        from . import widgets  # noqa: F401  # registers Room.display_factory
    except ImportError:  # anywidget missing: the room stays a bot with a plain repr
        log.debug("zero_nb.widgets unavailable", exc_info=True)


def _local_address(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return (host, parts.port or 8765) if local else None


async def _listening(host: str, port: int) -> bool:
    """True unless connecting to ``host:port`` is refused (nothing listens there)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except ConnectionRefusedError:
        return False
    except (OSError, asyncio.TimeoutError):
        return True  # something else is wrong: let the join report it
    writer.close()
    return True


async def _mine(port: int) -> str | None:
    """The URL (token included) of this user's server announced for ``port``, if it answers."""
    found = runtime.find(port)
    if found is None or not found.alive:
        return None
    local = _local_address(found.url)
    if local is not None and not await _listening(*local):
        return None
    return found.url


def _start_private(local: tuple[str, int], cfg: dict[str, Any], taken: bool
                   ) -> ServerHandle | None:
    """Start this process's server on ``local``, or, when another user's server holds that
    address, on a free port announced under the address's port (so this user's other
    processes land on it too). None: another process bound the address first."""
    host, port = local
    if not taken:
        try:
            return serve(host, port, config=cfg)
        except ConfigError:
            log.debug("could not bind %s:%d", host, port, exc_info=True)
            return None
    handle = serve(host, 0, config=cfg)
    handle.server.announce_as(port)
    log.warning(
        "%s:%d is taken by a signaling server this user did not start (another user's, or "
        "one whose runtime file is not in %s): joined a private server at %s instead. "
        "To join that one, pass its URL with its token (server='ws://...?token=...'); to "
        "use another address, set signaling.server_address.",
        host, port, runtime.runtime_dir(), handle.address)
    return handle


async def _announced(port: int, timeout: float) -> str | None:
    """Poll for this user's announcement of ``port`` (a process that just bound it writes
    its file right after)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (mine := await _mine(port)) is None and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return mine


async def _ensure_embedded(url: str, local: tuple[str, int], cfg: dict[str, Any]) -> str:
    """The URL (with its token) of this user's server for the local address ``url`` names,
    started in this process if this user has none there. Never another user's server: its
    token is in a file only its owner can read."""
    global _embedded, _starting
    for lost_race in (False, True):
        if (mine := await _mine(local[1])) is not None:
            return mine
        if _starting is None or _starting.done():
            taken = lost_race or await _listening(*local)
            if not taken:
                log.info("no signaling server at %s: starting one in this process", url)
            # the server gets its own loop thread; serve() blocks until it listens
            _starting = asyncio.ensure_future(asyncio.to_thread(_start_private, local, cfg,
                                                                taken))
        handle = await asyncio.shield(_starting)
        if handle is not None:
            _embedded = handle
            return handle.url
        if (mine := await _announced(local[1], 5.0)) is not None:
            return mine
    raise ConfigError(f"cannot start a signaling server for {url}: set "
                      "signaling.server_address to a free local address")


async def _ajoin(session: str | None, server: Any, kwargs: dict[str, Any],
                 cfg: dict[str, Any], timeout: float) -> Room:
    url = server.url if isinstance(server, ServerHandle) else server
    if url is None:
        url = cfg["signaling"]["server_address"]
        local = _local_address(url)
        if local is not None and "token=" not in url:
            # before the Room exists: a failed first attempt would close the caller's sources,
            # and the retry would then send no video at all
            url = await _ensure_embedded(url, local, cfg)
    room = Room(session, url, config=cfg, topologies=choose_topology, **kwargs)
    return await room._ajoin(timeout)


def join(
    session: str | None = None,
    server: str | ServerHandle | None = None,
    *,
    name: str = "",
    password: str | None = None,
    token: str | None = None,
    host_token: str | None = None,
    video: Any = None,
    audio: Any = None,
    config: Mapping[str, Any] | str | None = None,
    timeout: float = 20.0,
    e2ee: str | None = None,
) -> Room:
    """Join ``session`` (None: a new one) and return the :class:`Room` once joined.

    ``server``: a ``ws://`` URL (its ``?token=`` is the server's access token) or a
    :func:`serve` handle; None uses config's ``signaling.server_address`` and, if that is
    local, joins this user's server there (found in a 0600 file in the Jupyter runtime
    dir) or starts one in this process -- on a free port if another user's holds the
    address (a warning says so). ``video``/``audio``: sources from :mod:`zero_nb.sources`,
    True for a test pattern / tone, or None to send nothing. ``config``: config.yaml's keys
    as a dict.
    ``e2ee``: a passphrase shared out of band: media is end-to-end encrypted (docs/e2ee.md).
    ``host_token``: the server's ``signaling.auth.host_token``: join as a host of the session.
    """
    _show_as_widget()
    cfg = load_config(config)
    kwargs = dict(name=name, password=password, token=token, video=video, audio=audio,
                  e2ee=e2ee, host_token=host_token)
    engine = get_engine()
    return engine.run(_ajoin(session, server, kwargs, cfg, timeout), timeout + 5.0,
                      f"joining session {session!r}")


async def join_async(
    session: str | None = None,
    server: str | ServerHandle | None = None,
    **kwargs: Any,
) -> Room:
    """Async :func:`join`, awaitable from any event loop (the room lives on the engine's)."""
    _show_as_widget()
    cfg = load_config(kwargs.pop("config", None))
    timeout = kwargs.pop("timeout", 20.0)
    engine = get_engine()
    return await asyncio.wrap_future(engine.submit(_ajoin(session, server, kwargs, cfg,
                                                          timeout)))
