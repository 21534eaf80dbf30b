"""One WebSocket heartbeat for both ends of the signaling link.

websockets' own keepalive, on a missed pong, first waits ``close_timeout`` for a closing
handshake that a frozen peer never answers (7 s to notice instead of 5). So both the server
(a frozen participant) and the client (a frozen server) ping themselves and, with no pong in
time, abort the TCP connection at once.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

__all__ = ["until_silent"]


async def _round_trip(ws: Connection) -> float:
    """Send a ping and return the latency once its pong arrives."""
    return await (await ws.ping())


async def until_silent(ws: Connection, interval: float, timeout: float) -> bool:
    """Ping ``ws`` every ``interval`` s until a pong takes over ``timeout`` s: then abort
    the connection and return True. False when the connection closes by itself first."""
    latency = 0.0
    try:
        while True:
            await asyncio.sleep(max(0.0, interval - latency))
            # one deadline for sending the ping (that may block too) and its pong
            latency = await asyncio.wait_for(_round_trip(ws), timeout)
    except ConnectionClosed:
        return False
    except asyncio.TimeoutError:
        ws.transport.abort()
        return True
