"""Browser test helpers: Chromium flags, a known-colour clip, polling, the page wrapper.

Chromium comes from `apt-get install chromium` and Playwright from `pip install playwright`
(never `playwright install`: we launch /usr/bin/chromium). Every test here opens WebRTC media
and so runs only inside the loopback-only network namespace (see tests/conftest.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import UNIT

CHROMIUM = os.environ.get("ZERO_NB_CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def screenshot_path(name: str) -> Path:
    """Where a test saves its screenshot: ``docs/`` when ``ZERO_NB_DOCS_SCREENSHOTS=1`` (to
    refresh the pictures README shows), else a scratch directory, so runs leave the checkout
    clean."""
    if os.environ.get("ZERO_NB_DOCS_SCREENSHOTS") == "1":
        return DOCS / name
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "zero_nb_screenshots"
    scratch.mkdir(exist_ok=True)
    return scratch / name

INSTALL_HINT = (
    "browser tests need Chromium and Playwright's Python package: "
    "`apt-get install -y chromium` and `pip install playwright` "
    "(do not run `playwright install`; the tests launch {path}, or set ZERO_NB_CHROMIUM)"
)

# Playwright passes its own --disable-features list and Chromium keeps only the last such flag:
# repeat Playwright's (no startup network chatter) and add ours (real host IPs, not mDNS names).
DISABLED_FEATURES = [
    "WebRtcHideLocalIpsWithMdns",
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "DialMediaRouteProvider",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "Translate",
]

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
]

# BT.601 limited-range YCbCr of pure red: Chrome's fake capture turns it back into ~(248, 1, 4)
RED_YUV = (81, 90, 240)


def write_y4m(path: Path, yuv: tuple[int, int, int] = RED_YUV, width: int = 160,
              height: int = 120, fps: int = 30, frames: int = 15) -> Path:
    """A tiny solid-colour 4:2:0 clip for --use-file-for-fake-video-capture (Chrome loops it)."""
    y, u, v = yuv
    plane = np.full(width * height, y, np.uint8).tobytes()
    chroma = np.full((width // 2) * (height // 2), u, np.uint8).tobytes()
    chroma_v = np.full((width // 2) * (height // 2), v, np.uint8).tobytes()
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + plane + chroma + chroma_v)
    return path


def wait_until(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``cond`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last: {value!r}")
        time.sleep(step)


# JS run in the page: per remote peer name -> state and decoded video frames / audio samples
PEER_STATS_JS = """async () => {
  const out = {};
  for (const peer of window.zeroNb.peers.values()) {
    const s = await peer.stats();
    out[peer.name] = { id: peer.id, state: peer.state,
      frames: s && s.video.framesDecoded ? s.video.framesDecoded : 0,
      samples: s && s.audio.samples ? s.audio.samples : 0 };
  }
  return out;
}"""


class Page:
    """One call page plus helpers that read the session object (``window.zeroNb``)."""

    def __init__(self, page: Any, server: Any) -> None:
        """``server``: a server handle (links carry its token) or a bare ``http://`` base."""
        self.page = page
        self.server = None if isinstance(server, str) else server
        self.base_url = server if isinstance(server, str) else \
            f"http://127.0.0.1:{server.port}"
        self.console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def url(self, **query: str) -> str:
        """The page link with ``query`` (and the server's token, from its handle)."""
        from urllib.parse import urlencode

        if self.server is not None:
            return str(self.server.link(**query))
        return f"{self.base_url}/?{urlencode(query)}"

    def open(self, **query: str) -> Page:
        self.page.goto(self.url(**query))
        self.page.wait_for_function("() => window.zeroNb !== undefined", timeout=10_000 * UNIT)
        return self

    def snapshot(self) -> dict[str, Any]:
        return self.page.evaluate("() => window.zeroNb.snapshot()")

    def peer_stats(self) -> dict[str, dict[str, Any]]:
        return self.page.evaluate(PEER_STATS_JS)

    def wait_state(self, state: str, timeout: float = 10 * UNIT) -> dict[str, Any]:
        return wait_until(lambda: (s := self.snapshot())["state"] == state and s, timeout,
                          f"page state {state!r} (now {self.snapshot()['state']!r})")

    def decoded_fps(self, seconds: float = 2.0) -> dict[str, float]:
        """Per remote peer name: video frames decoded per second over ``seconds`` (getStats
        framesDecoded, as the gallery's tiles decode them)."""
        t0, first = time.monotonic(), self.peer_stats()
        time.sleep(seconds)
        t1, last = time.monotonic(), self.peer_stats()
        return {name: (last[name]["frames"] - first[name]["frames"]) / (t1 - t0)
                for name in last if name in first}

    def wait_decoding(self, names: list[str], timeout: float = 20 * UNIT) -> dict[str, Any]:
        """Until every named peer's video is connected and framesDecoded keeps advancing."""

        def decoding(min_frames: dict[str, int]) -> Any:
            stats = self.peer_stats()
            ok = all(n in stats and stats[n]["state"] == "connected"
                     and stats[n]["frames"] > min_frames.get(n, 0) for n in names)
            return stats if ok else False

        first = wait_until(lambda: decoding({}), timeout,
                           f"{self.snapshot()['peers']} to decode video from {names}")
        return wait_until(lambda: decoding({n: first[n]["frames"] for n in names}),
                          5 * UNIT, f"framesDecoded from {names} to advance")
