"""Shared test helpers: one scalable time unit, a real server on 127.0.0.1, the namespace guard."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

import pytest

# CPython 3.11's AST state is per interpreter, not per thread (python/cpython#106905): two
# threads in the AST code at once fail with "AST constructor recursion depth mismatch". The
# main thread parses whenever pytest's assertion rewriting compiles a module imported late
# (hypothesis imports lazily during tests), and 3.11's tracebacks parse the failing line to
# place their carets -- in engine threads too, when aiortc tasks die and asyncio logs them.
# Tests then failed at random (twice in full runs). Off the main thread, tracebacks go
# without the fine carets, so only the main thread ever parses.


def _carets_on_main_thread_only() -> None:
    import threading
    import traceback

    anchors = getattr(traceback, "_extract_caret_anchors_from_line_segment", None)
    if anchors is None or sys.version_info >= (3, 12):
        return

    def main_thread_anchors(segment: str) -> object:
        return anchors(segment) if threading.current_thread() is threading.main_thread() else None

    traceback._extract_caret_anchors_from_line_segment = main_thread_anchors  # type: ignore


_carets_on_main_thread_only()


# Servers announce themselves in the Jupyter runtime dir (zero_nb/signaling/runtime.py): a
# scratch one per run keeps the user's own dir clean and runs independent of each other.
os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="zero_nb-runtime-")

# Every timeout in the suite is a multiple of UNIT; raise it on a slow machine.
UNIT = float(os.environ.get("ZERO_NB_TEST_UNIT", "1.0"))


def only_loopback() -> bool:
    """True inside a private network namespace whose only interface is ``lo``."""
    # /sys/class/net is not remounted by `unshare -n`: ask the kernel for this namespace's list
    return [name for _, name in socket.if_nameindex()] == ["lo"]


NAMESPACE_HINT = (
    "media tests must run in a private network namespace with only loopback: "
    "run README's test command (scripts/test.sh), or as root "
    "`unshare -n sh -c 'ip link set lo up && python -m pytest ...'`"
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("media") and not only_loopback():
        pytest.fail(NAMESPACE_HINT, pytrace=False)


@pytest.fixture
def unit() -> float:
    return UNIT


@pytest.fixture
async def server():
    """A real signaling server on 127.0.0.1 with a free port, on the test's loop."""
    from zero_nb.signaling.server import SignalingServer

    async with SignalingServer("127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


MEDIA_CONFIG = {"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}


@pytest.fixture
def media_config(tmp_path):
    """Config for media tests: loopback host candidates only, no ICE servers; also as a file."""
    import yaml

    path = tmp_path / "media.yaml"
    path.write_text(yaml.safe_dump(MEDIA_CONFIG))
    return {"dict": MEDIA_CONFIG, "path": str(path)}


def serving():
    """A real signaling server in a background thread (as a notebook would run it)."""
    import zero_nb

    handle = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
        "heartbeat": {"interval": 1.0, "timeout": 2.0}}})
    yield handle
    handle.stop()


bg_server = pytest.fixture(serving, name="bg_server")


def busy_video(width: int = 640, height: int = 480, fps: float = 30):
    """Video that fills any VP8 target a test sets yet fits under a 150 kbit/s cap: a seeded
    random 8x8-block texture panning 3 pixels a frame (full noise would not: ~8 Mbit/s at any
    cap). Rate-control tests need it because VP8 sends an easy picture (test_pattern's exact
    bars, with the temporal denoiser off) at well under its target, and REMB grants at most
    1.5x what arrives: the target then never climbs back to a cap the picture does not need."""
    import numpy as np

    from zero_nb import sources

    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8) \
        .repeat(8, axis=0).repeat(8, axis=1)
    return sources.from_frames(lambda i: np.roll(texture, 3 * i, axis=1), fps)


def close_to(img, rgb, tol=25) -> bool:
    """The frame's mean colour is within ``tol`` of ``rgb`` on every channel."""
    import numpy as np

    return img is not None and bool(
        np.all(np.abs(img.reshape(-1, 3).mean(axis=0) - np.array(rgb)) < tol))


def wait_until(cond, timeout: float, step: float = 0.05) -> bool:
    """Poll ``cond`` until it is true or ``timeout`` seconds pass; return its last value."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
