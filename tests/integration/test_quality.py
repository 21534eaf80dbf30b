"""Quality caps on a kernel publisher, measured at a real receiver over loopback."""

from __future__ import annotations

import time

import pytest

from tests.conftest import UNIT, busy_video, wait_until
from tests.integration.test_mesh import join
from tests.stats_support import sent_video_bytes

pytestmark = pytest.mark.media


def _kbps(sender, receiver, seconds: float = 2.0) -> float:
    first = sent_video_bytes(sender, receiver.peer_id)
    time.sleep(seconds)
    return (sent_video_bytes(sender, receiver.peer_id) - first) * 8 / seconds / 1000


@pytest.fixture
def pair(bg_server, media_config):
    a = join(bg_server, "a", media_config, video=busy_video())
    b = join(bg_server, "b", media_config, video=None)
    b.wait_for_peers(1, timeout=20 * UNIT)
    yield a, b
    a.leave()
    b.leave()


def test_bitrate_cap_below_aiortc_floor_is_met(pair):
    """max_kbps=150 (aiortc's VP8 floor is 250): the receiver measures <= 180 kbps within 5 s,
    and lifting the cap lets the rate climb back over it."""
    a, b = pair
    assert _kbps(a, b) > 200  # moving 640x480 runs well above the cap
    a.local.video.set_quality(max_kbps=150)
    deadline = time.monotonic() + 5 * UNIT + 2
    rates = []
    while time.monotonic() < deadline:
        rates.append(_kbps(a, b, 1.5))
        if rates[-1] <= 180:
            break
    assert rates[-1] <= 180, f"received kbps after the cap: {rates}"
    out = a.stats()[b.peer_id]["out"]["video"]
    assert out["target_kbps"] is not None and out["target_kbps"] <= 150  # visible in stats
    assert b.peer("a").video.fps > 10  # capped, not frozen
    a.local.video.set_quality()
    assert wait_until(lambda: _kbps(a, b, 1.0) > 200, 10 * UNIT)


def test_size_and_fps_caps_reach_the_receiver(pair):
    """width/height caps give 320x240 frames at the receiver; fps=10 gives ~10 fps."""
    a, b = pair
    feed = b.peer("a").video
    assert wait_until(lambda: feed.latest() is not None and feed.latest().shape[1] == 640,
                      10 * UNIT)
    a.local.video.set_quality(width=320, height=240, fps=10)
    assert wait_until(lambda: feed.latest().shape == (240, 320, 3), 5 * UNIT)
    time.sleep(2)  # let the fps window forget the 30 fps frames
    assert wait_until(lambda: 7 <= feed.fps <= 13, 5 * UNIT), feed.fps
    a.local.video.set_quality()
    assert wait_until(lambda: feed.latest().shape == (480, 640, 3), 5 * UNIT)


def test_mesh_has_no_layers_and_says_so(pair):
    """Layers exist only in SFU sessions: a mesh explains, it does not hang."""
    a, _ = pair
    with pytest.raises(Exception, match="SFU"):
        a.peer("b").set_layer("low")


def test_set_quality_rejects_nonsense(pair):
    a, _ = pair
    with pytest.raises(ValueError, match="positive"):
        a.local.video.set_quality(max_kbps=-1)
    with pytest.raises(ValueError, match=r"local\.video"):
        a.local.audio.set_quality(max_kbps=100)




def test_loss_lowers_the_target_and_it_comes_back(pair):
    """aiortc's REMB ignores loss; with the loss-based rule, 15 % loss lowers the sender's
    target bitrate (stats target_kbps), and it climbs again once the loss stops."""
    from tests.netem import emulate

    a, b = pair

    def target() -> float:
        return a.stats()[b.peer_id]["out"]["video"]["target_kbps"] or 0.0

    assert wait_until(lambda: target() > 0, 10 * UNIT)
    with emulate(loss=0.15, seed=1):
        start = target()
        assert wait_until(lambda: target() < 0.75 * start, 15 * UNIT), (start, target())
        low = target()
    assert wait_until(lambda: target() > 1.2 * low, 20 * UNIT), (low, target())


def test_stats_say_when_the_network_limits_the_sender(pair):
    """Under 15 % loss the loss rule holds the target under the 400 kbps cap:
    quality_limitation says "bandwidth"; once the loss stops it climbs back to the cap and
    says "none" (the user's own cap is no network limit)."""
    from tests.netem import emulate

    a, b = pair
    a.local.video.set_quality(max_kbps=400)

    def out() -> dict:
        return a.stats()[b.peer_id]["out"]["video"]

    # one stats call a second: the sent rate is measured between calls
    assert wait_until(lambda: out()["quality_limitation"] == "none", 10 * UNIT, step=1.0)
    with emulate(loss=0.15, seed=1):
        assert wait_until(lambda: out()["quality_limitation"] == "bandwidth", 15 * UNIT,
                          step=1.0), out()
        low = out()["target_kbps"]
        assert low < 400
    assert wait_until(lambda: (o := out())["quality_limitation"] == "none" and
                      o["target_kbps"] == 400, 20 * UNIT, step=1.0), out()


def test_conference_data_saver_reaches_the_kernel_publisher(bg_server, media_config):
    """The Conference page's data-saver choice (its ``media`` message) caps the kernel's
    publisher at DATA_SAVER, and switching it off restores the caps from before."""
    from zero_nb.kernel_rtc.media.quality import DATA_SAVER
    from zero_nb.widgets import Conference

    room = join(bg_server, "nb", media_config, video=None)
    widget = Conference(room)
    try:
        room.local.video.set_quality(max_kbps=100)
        media = {"type": "media", "view": "v", "camera": True, "mic": True, "sharing": False,
                 "resolution": "VGA"}
        widget._on_command({**media, "data_saver": True})
        assert room.local.video.quality.as_dict() == {
            "max_kbps": 100, "width": DATA_SAVER["width"], "height": DATA_SAVER["height"],
            "fps": None}
        assert widget.media["data_saver"] is True
        widget._on_command({**media, "data_saver": False})
        assert room.local.video.quality.as_dict() == {"max_kbps": 100, "width": None,
                                                       "height": None, "fps": None}
    finally:
        widget.close()
        room.leave()
