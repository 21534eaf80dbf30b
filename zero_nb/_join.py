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
from .kernel_rtc.engine import get_engine
from .kernel_rtc.mesh import mesh_only
from .kernel_rtc.room import Room
from .kernel_rtc.topology import RoomHost, Topology
from .signaling.server import ServerHandle

__all__ = ["embedded_server", "join", "join_async"]

log = logging.getLogger("zero_nb")
_embedded: ServerHandle | None = None
_starting: asyncio.Future[ServerHandle] | None = None  # serve() in progress (engine loop)


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


async def _ensure_embedded(url: str, local: tuple[str, int], cfg: dict[str, Any]) -> None:
    """Serve ``url`` from this process if nothing answers there."""
    global _embedded, _starting
    if await _listening(*local):
        return
    if _starting is None or _starting.done():
        log.info("no signaling server at %s: starting one in this process", url)
        # the server gets its own loop thread; serve() blocks until it listens
        _starting = asyncio.ensure_future(asyncio.to_thread(serve, local[0], local[1],
                                                            config=cfg))
    _embedded = await asyncio.shield(_starting)


async def _ajoin(session: str | None, server: Any, kwargs: dict[str, Any],
                 cfg: dict[str, Any], timeout: float) -> Room:
    url = server.url if isinstance(server, ServerHandle) else server
    if url is None:
        url = cfg["signaling"]["server_address"]
        local = _local_address(url)
        if local is not None:
            # before the Room exists: a failed first attempt would close the caller's sources
            # (issue 14 item 8: the retry then sent 0 video frames)
            await _ensure_embedded(url, local, cfg)
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

    ``server``: a ``ws://`` URL or a :func:`serve` handle; None uses config's
    ``signaling.server_address`` and, if that is local and nothing answers, starts a server
    in this process. ``video``/``audio``: sources from :mod:`zero_nb.sources`, True for a
    test pattern / tone, or None to send nothing. ``config``: config.yaml's keys as a dict.
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
