"""Shared test helpers: one scalable time unit, a real server on 127.0.0.1, the namespace guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every timeout in the suite is a multiple of UNIT; raise it on a slow machine.
UNIT = float(os.environ.get("ZERO_NB_TEST_UNIT", "1.0"))


def only_loopback() -> bool:
    """True inside a private network namespace whose only interface is ``lo``."""
    try:
        return sorted(os.listdir("/sys/class/net")) == ["lo"]
    except OSError:
        return False


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
