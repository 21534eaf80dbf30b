"""Signaling: protocol v1 (pure), session registry (pure), server and client (I/O)."""

from .client import ClientState, SignalingClient
from .core import Limits, SignalingCore
from .protocol import PROTOCOL_VERSION, ErrorCode
from .server import ServerHandle, SignalingServer, serve

__all__ = [
    "PROTOCOL_VERSION",
    "ClientState",
    "ErrorCode",
    "Limits",
    "ServerHandle",
    "SignalingClient",
    "SignalingCore",
    "SignalingServer",
    "serve",
]
