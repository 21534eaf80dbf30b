"""Shared test helpers: one scalable time unit, a real server on 127.0.0.1, the namespace guard."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import hypothesis  # noqa: F401  # imported up front: see the note below
import pytest

# CPython 3.11's AST validator keeps its recursion depth per interpreter, not per thread
# (python/cpython#106905): a module compiled while a media thread parses source too (3.11's
# tracebacks parse the failing line, e.g. when aiortc tasks die after a peer leaves) fails
# with "AST constructor recursion depth mismatch". Hypothesis imports lazily (its pytest
# plugin in the terminal summary; st.from_regex its regex module, through pytest's assertion
# rewriting): import them now, before any engine thread runs.


def pytest_collection_finish(session: pytest.Session) -> None:
    # after hypothesis' initialization ends (its pytest_sessionstart; during it, this warns)
    import hypothesis.strategies._internal.regex  # noqa: F401  # st.from_regex: lazily


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


@pytest.fixture
def bg_server():
    """A real signaling server in a background thread (as a notebook would run it)."""
    import zero_nb

    handle = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
        "heartbeat": {"interval": 1.0, "timeout": 2.0}}})
    yield handle
    handle.stop()


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
