"""Same-machine sessions with the default config, and a clear error when ICE has nothing."""

import copy
import threading

import pytest

import zero_nb
from tests.conftest import UNIT, close_to, wait_until
from tests.integration.test_mesh import BLUE, RED
from zero_nb import sources
from zero_nb.config import DEFAULTS
from zero_nb.errors import Timeout

pytestmark = pytest.mark.media


def test_default_config_connects_on_a_loopback_only_machine(bg_server):
    """Two participants with the default config (no host_addresses) connect when loopback
    is the machine's only interface (this test's namespace)."""
    config = copy.deepcopy(DEFAULTS)
    assert config["webrtc"]["host_addresses"] is None
    a = zero_nb.join("lab", bg_server.url, name="a", config=config, video=sources.solid(RED))
    b = zero_nb.join("lab", bg_server.url, name="b", config=config, video=sources.solid(BLUE))
    try:
        assert a.ice_problem is None
        b.wait_for_peers(1, timeout=20 * UNIT)
        a.wait_for_peers(1, timeout=20 * UNIT)
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
        assert wait_until(lambda: close_to(a.peer("b").video.latest(), BLUE), 10 * UNIT)
    finally:
        a.leave()
        b.leave()


def test_nothing_to_try_is_reported_naming_the_setting(bg_server):
    """host_addresses this machine does not have: the error event and the Timeout say ICE
    has nothing to try and name webrtc.host_addresses."""
    config = copy.deepcopy(DEFAULTS)
    config["webrtc"]["host_addresses"] = ["10.255.255.1"]
    errors, seen = [], threading.Event()
    a = zero_nb.join("lab", bg_server.url, name="a", config=config, video=sources.solid(RED))

    def on_error(peer, text):
        errors.append((peer, text))
        seen.set()

    a.on("error", on_error)
    b = zero_nb.join("lab", bg_server.url, name="b", config=config)
    try:
        assert seen.wait(10 * UNIT), "no error event"
        peer, text = errors[0]
        assert peer is not None and peer.name == "b"
        assert "nothing to try" in text and "webrtc.host_addresses" in text
        assert "10.255.255.1" in text
        with pytest.raises(Timeout, match=r"webrtc\.host_addresses"):
            a.wait_for_peers(1, timeout=2 * UNIT)
    finally:
        a.leave()
        b.leave()
