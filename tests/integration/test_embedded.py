"""``zero_nb.join()`` with no server: the embedded server carries media like an explicit one."""

import socket
import time

import pytest

import zero_nb
from tests.conftest import MEDIA_CONFIG, UNIT, close_to, wait_until
from zero_nb import sources

pytestmark = pytest.mark.media

RED, BLUE = (255, 0, 0), (0, 0, 255)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_join_without_server_starts_one_and_carries_media():
    """Two join() calls with no server reach each other through the embedded one, both ways."""
    address = f"ws://127.0.0.1:{free_port()}/ws"
    config = {**MEDIA_CONFIG, "signaling": {"server_address": address}}
    a = zero_nb.join("lab", name="a", video=sources.solid(RED), audio=sources.tone(440, -10),
                     config=config)
    b = zero_nb.join("lab", name="b", video=sources.solid(BLUE), audio=sources.tone(660, -10),
                     config=config)
    embedded = zero_nb._join.embedded_server()
    try:
        assert embedded is not None and embedded.address == address
        a.wait_for_peers(1, timeout=20 * UNIT)
        b.wait_for_peers(1, timeout=20 * UNIT)
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
        assert wait_until(lambda: close_to(a.peer("b").video.latest(), BLUE), 10 * UNIT)
        assert wait_until(lambda: b.peer("a").audio.level_db > -20, 10 * UNIT)
        assert wait_until(lambda: a.peer("b").audio.level_db > -20, 10 * UNIT)
        time.sleep(1)
        for room, other in ((a, b), (b, a)):
            out = room.stats()[other.peer_id]["out"]
            assert out["video"]["frames"] > 10 and out["audio"]["packets"] > 10, out
    finally:
        a.leave()
        b.leave()
        if embedded is not None:
            embedded.stop()
