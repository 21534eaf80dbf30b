"""Newest wins: a worker thread for user code off the media loop, and a one-item mailbox.

While a :class:`LatestWorker`'s job runs, newer inputs replace the one waiting (counted as
dropped), so a slow function lowers the output rate instead of adding latency. Exceptions
are counted and logged once per worker; they never stop it. A :class:`Mailbox` is the same
rule on the engine loop: one slot, the newest value wins.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["LatestWorker", "Mailbox"]

log = logging.getLogger("zero_nb.workers")
T = TypeVar("T")
R = TypeVar("R")

_EMPTY: Any = object()


class Mailbox:
    """One-item mailbox on the engine loop: :meth:`put` replaces what waits, :meth:`get`
    waits for it. :meth:`wake` ends a wait with None (e.g. the feed behind it changed)."""

    def __init__(self) -> None:
        self.value: Any = None
        self.event = asyncio.Event()

    def put(self, value: Any) -> None:
        self.value = value
        self.event.set()

    def wake(self, drop: bool = True) -> None:
        if drop:
            self.value = None
        self.event.set()

    async def get(self) -> Any:
        await self.event.wait()
        self.event.clear()
        value, self.value = self.value, None
        return value


class LatestWorker(Generic[T, R]):
    """Run ``fn`` on the newest submitted item in a daemon thread; results to ``on_result``."""

    def __init__(self, fn: Callable[[T], R], on_result: Callable[[R], None], name: str) -> None:
        self.fn = fn
        self.on_result = on_result
        self.name = name
        self.processed = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._pending: Any = _EMPTY
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"zero_nb-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            if self._pending is not _EMPTY:
                self.dropped += 1
            self._pending = item
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is _EMPTY and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                item, self._pending = self._pending, _EMPTY
            try:
                result = self.fn(item)
            except Exception as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.errors == 1:
                    log.warning("%s raised %s (logged once; the frame passes unchanged, "
                                "errors are counted in stats)", self.name, self.last_error,
                                exc_info=True)
                continue
            self.processed += 1
            self.on_result(result)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
