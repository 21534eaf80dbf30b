"""zero_nb: live video calls inside Jupyter, with every stream as numpy in the kernel."""

from __future__ import annotations

from . import errors, sources
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
    "serve",
    "sources",
]
