"""zero_nb: live video calls inside Jupyter, with every stream as numpy in the kernel."""

from __future__ import annotations

from . import errors, plot, sources
from ._join import join, join_async
from ._version import __version__
from .config import load_config
from .kernel_rtc.room import Room
from .signaling.server import ServerHandle, serve

__all__ = [
    "Room",
    "ServerHandle",
    "__version__",
    "errors",
    "join",
    "join_async",
    "load_config",
    "load_ipython_extension",
    "plot",
    "serve",
    "sources",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%load_ext zero_nb``: register the ``%zero`` line magic (see :mod:`zero_nb.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%unload_ext zero_nb``: remove ``%zero``; the server and room keep running."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)
