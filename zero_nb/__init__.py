"""zero_nb: live video calls inside Jupyter, with every stream as numpy in the kernel."""

from __future__ import annotations

from . import errors
from ._version import __version__
from .config import load_config
from .signaling.server import ServerHandle, serve

__all__ = [
    "ServerHandle",
    "__version__",
    "errors",
    "load_config",
    "serve",
]
