"""Browser fixtures: Debian's Chromium driven by Playwright, fake camera/mic, a known clip.

Chromium comes from `apt-get install chromium` and Playwright from `pip install playwright`
(never `playwright install`: we launch /usr/bin/chromium). Every test here opens WebRTC media
and so runs only inside the loopback-only network namespace (see tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import zero_nb
from tests.browser.helpers import CHROMIUM, FLAGS, INSTALL_HINT, Page, write_y4m


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory: ``browser(clip=path_or_None, cameras=1)`` -> a fresh Chromium context (own
    profile). ``cameras=N`` without a clip: Chromium's N fake cameras ``fake_device_0`` (I420),
    ``fake_device_1`` (Y16, a depth format: not encoded), ``fake_device_2`` (MJPEG), next to its
    three fake microphones; ``viewport`` and other options go to Playwright (an
    ``executable_path`` there replaces /usr/bin/chromium: tests/browser/remote.py's wrapper)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(INSTALL_HINT.format(path=CHROMIUM), pytrace=False)
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(INSTALL_HINT.format(path=CHROMIUM) + f": {CHROMIUM} not found",
                    pytrace=False)
    manager = sync_playwright()
    pw = manager.start()
    contexts: list[Any] = []

    def launch(clip: Path | None = None, cameras: int = 1, viewport: Any = None,
               **options: Any) -> Any:
        args = [f"{f},device-count={cameras}" if f.startswith("--use-fake-device") else f
                for f in FLAGS]
        if clip is not None:
            args.append(f"--use-file-for-fake-video-capture={clip}")
        options.setdefault("executable_path", CHROMIUM)
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / f"profile{len(contexts)}"),
            headless=True, args=args, viewport=viewport or {"width": 640, "height": 480},
            **options)
        contexts.append(context)
        return context

    try:
        yield launch
    finally:
        for context in contexts:
            context.close()
        pw.stop()


@pytest.fixture
def red_clip(tmp_path: Path) -> Path:
    return write_y4m(tmp_path / "red.y4m")


@pytest.fixture
def call_page(browser: Callable[..., Any], bg_server: Any, red_clip: Path
              ) -> Callable[..., Page]:
    """Factory: a new page on the server's web client (all pages share one browser)."""
    state: dict[str, Any] = {}

    def new_page(server: Any = None) -> Page:
        if "context" not in state:
            state["context"] = browser(red_clip)
            pages = state["context"].pages
            page = pages[0] if pages else state["context"].new_page()
        else:
            page = state["context"].new_page()
        return Page(page, server or bg_server)

    return new_page


@pytest.fixture
def bots(bg_server: Any, media_config: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Factory: ``bots(session, name, **join_kwargs)`` -> a Room left at teardown."""
    rooms: list[Any] = []

    def join(session: str, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", media_config["dict"])
        room = zero_nb.join(session, bg_server.url, name=name, **kwargs)
        rooms.append(room)
        return room

    yield join
    for room in rooms:
        room.leave()
