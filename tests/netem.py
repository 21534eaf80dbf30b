"""Network fault emulation where packets enter the stack (``tc netem`` is not available here).

Wraps aioice's datagram receive path for host candidates, process-wide, while active:
a share of media packets is dropped, every packet can be delayed, and a blackout drops
everything (connectivity checks included). RTX, NACK, PLI and ICE then react as to real
faults. Test tooling (tests and benchmarks import it from here); aioice is restored when the
``with emulate(...)`` block ends.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aioice.ice

__all__ = ["NetworkEmulator", "emulate"]

_lock = threading.Lock()
_active: NetworkEmulator | None = None


def _is_media(data: bytes | str) -> bool:
    # RTP/RTCP start with version 2 (first byte 128..191); STUN with 0..3; DTLS with 20..63
    return isinstance(data, bytes) and bool(data) and 128 <= data[0] <= 191


class NetworkEmulator:
    """Loss (of media packets), delay (of every packet) and blackouts, on receive."""

    def __init__(self, loss: float = 0.0, delay_ms: float = 0.0, seed: int | None = None) -> None:
        self.loss = loss
        self.delay_ms = delay_ms
        self.blackout_until = 0.0
        self.dropped = 0
        self.passed = 0
        self._random = random.Random(seed)

    def blackout(self, seconds: float) -> None:
        """Drop every packet for ``seconds`` from now."""
        self.blackout_until = time.monotonic() + seconds

    def _decide(self, data: bytes | str) -> str:
        if time.monotonic() < self.blackout_until:
            return "drop"
        if self.loss and _is_media(data) and self._random.random() < self.loss:
            return "drop"
        return "delay" if self.delay_ms else "pass"


def _wrap(stock: Any) -> Any:
    def received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
        emu = _active
        if emu is None:  # a packet that was in flight when the emulation ended
            stock(self, data, addr)
        else:
            _deliver(emu, stock, self, data, addr)
    return received


def _deliver(emu: NetworkEmulator, stock: Any, protocol: Any, data: bytes | str,
             addr: tuple[Any, ...]) -> None:
    verdict = emu._decide(data)
    if verdict == "drop":
        emu.dropped += 1
        return
    emu.passed += 1
    if verdict == "delay":
        asyncio.get_running_loop().call_later(emu.delay_ms / 1000.0, stock, protocol, data,
                                              addr)
    else:
        stock(protocol, data, addr)


@contextmanager
def emulate(loss: float = 0.0, delay_ms: float = 0.0, seed: int | None = None
            ) -> Iterator[NetworkEmulator]:
    """``with emulate(loss=0.05) as net: ...`` — faults on every connection in this process
    until the block ends; then aioice's own receive path is back in place."""
    global _active
    emu = NetworkEmulator(loss, delay_ms, seed)
    protocol = aioice.ice.StunProtocol
    with _lock:
        if _active is not None:
            raise RuntimeError("a network emulation is already active in this process")
        stock = protocol.datagram_received
        protocol.datagram_received = _wrap(stock)  # type: ignore[method-assign]
        _active = emu
    try:
        yield emu
    finally:
        with _lock:
            _active = None
            protocol.datagram_received = stock  # type: ignore[method-assign]
