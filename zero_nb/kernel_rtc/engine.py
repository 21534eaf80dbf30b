"""The media engine: one asyncio loop in a daemon thread, shared by every room in the process.

aiortc on the kernel's own loop stops while a cell runs ``time.sleep`` and then delivers a
burst of stale frames; on its own loop in a thread it is unaffected. The engine starts
lazily, and closes every room at interpreter exit so no thread or task leaks.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from .._loop import LoopThread

__all__ = ["Engine", "Leaves", "get_engine"]

log = logging.getLogger("zero_nb.engine")
T = TypeVar("T")

_lock = threading.Lock()
_engine: Engine | None = None


class Leaves(Protocol):
    """What the engine closes at shutdown (a room): it knows no more of it than this."""

    def leave(self, timeout: float = 10.0) -> None: ...


class Engine:
    """The loop thread plus the rooms living on it."""

    def __init__(self) -> None:
        self.thread = LoopThread("zero_nb-media")
        self.rooms: weakref.WeakSet[Leaves] = weakref.WeakSet()

    @property
    def loop(self):  # type: ignore[no-untyped-def]
        return self.thread.loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None, what: str) -> T:
        """Run ``coro`` on the engine loop and wait (raises :class:`zero_nb.errors.Timeout`)."""
        return self.thread.run(coro, timeout, what)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self.thread.submit(coro)

    def in_loop(self) -> bool:
        return self.thread.in_loop()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Leave every room and stop the loop thread."""
        for room in list(self.rooms):
            try:
                room.leave(timeout=timeout)
            except Exception:  # best effort at exit
                log.debug("leaving %r at shutdown failed", room, exc_info=True)
        self.thread.stop(timeout)


def get_engine() -> Engine:
    """The process-wide engine, started on first use."""
    global _engine
    with _lock:
        if _engine is None or not _engine.thread.alive:
            _engine = Engine()
        return _engine


@atexit.register
def _shutdown_at_exit() -> None:
    global _engine
    with _lock:
        engine, _engine = _engine, None
    if engine is not None and engine.thread.alive:
        engine.shutdown(timeout=3.0)
