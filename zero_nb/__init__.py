"""zero_nb: live video calls inside Jupyter, with every stream as numpy in the kernel."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._serve import serve
from ._version import __version__
from .config import load_config
from .signaling.server import ServerHandle

if TYPE_CHECKING:
    from . import analysis, plot, session, sources, widgets
    from ._join import join, join_async
    from .kernel_rtc.room import Room

# The media stack (aiortc, PyAV) loads on first use: `zero-nb serve` and `serve()` stay light.
_LAZY = {"join": "._join", "join_async": "._join", "Room": ".kernel_rtc.room",
         "sources": ".sources", "plot": ".plot", "analysis": ".analysis",
         "session": ".session",
         "widgets": ".widgets"}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'zero_nb' has no attribute {name!r}")
    module = importlib.import_module(target, __name__)
    value = module if target == f".{name}" else getattr(module, name)
    globals()[name] = value
    return value

__all__ = [
    "Room",
    "ServerHandle",
    "__version__",
    "analysis",
    "errors",
    "join",
    "join_async",
    "load_config",
    "load_ipython_extension",
    "plot",
    "serve",
    "session",
    "sources",
    "unload_ipython_extension",
    "widgets",
]


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%load_ext zero_nb``: register the ``%zero`` line magic (see :mod:`zero_nb.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """``%unload_ext zero_nb``: remove ``%zero``; the server and room keep running."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)
