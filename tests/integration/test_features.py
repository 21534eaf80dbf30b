"""Filters, derived feeds, stats, recording, chat and TURN relay on real aiortc peers."""

import shutil
import subprocess
import time

import av
import numpy as np
import pytest

import zero_nb
from tests.conftest import UNIT, close_to, wait_until
from tests.integration.test_mesh import BLUE, RED, join
from zero_nb import sources
from zero_nb.kernel_rtc.net import ice

pytestmark = pytest.mark.media


@pytest.fixture
def pair(bg_server, media_config):
    a = join(bg_server, "a", media_config, video=sources.solid(RED),
             audio=sources.tone(440, -6))
    b = join(bg_server, "b", media_config, video=sources.solid(BLUE))
    b.wait_for_peers(1, timeout=20 * UNIT)
    a.wait_for_peers(1, timeout=20 * UNIT)
    yield a, b
    a.leave()
    b.leave()


def test_filter_seen_by_others_and_raising_filter_reported(pair):
    """An inverting filter's output reaches the peer; a raising filter is skipped and counted."""
    a, b = pair

    def boom(img):
        raise ValueError("boom")

    a.local.video.add_filter(lambda img: 255 - img)
    a.local.video.add_filter(boom)
    feed = b.peer("a").video
    assert wait_until(lambda: close_to(feed.latest(), (0, 255, 255)), 10 * UNIT)
    out = a.stats()[b.peer_id]["out"]["video"]
    assert out["filter_errors"] > 0
    a.local.video.remove_filter()
    assert wait_until(lambda: close_to(feed.latest(), RED), 10 * UNIT)


def test_filter_may_change_size(pair):
    """A filter that halves the picture is sent at the new size."""
    a, b = pair
    a.local.video.add_filter(lambda img: img[::2, ::2])
    feed = b.peer("a").video
    assert wait_until(lambda: feed.shape == (60, 80, 3), 10 * UNIT)


def test_slow_filter_lowers_fps_not_latency(bg_server, media_config):
    """A 100 ms filter lowers the output to ~10 fps while latency stays bounded."""
    a = join(bg_server, "a", media_config, video=sources.test_pattern(160, 120, 30))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)

        def slow(img):
            time.sleep(0.1)
            return img

        a.local.video.add_filter(slow)
        feed = b.peer("a").video
        time.sleep(3)
        ages = []
        for _ in range(20):
            stamp = sources.read_stamp(feed.latest())
            if stamp:
                ages.append((time.time() * 1000 - stamp[1]) % 2**32)
            time.sleep(0.1)
        assert 4 < feed.fps < 14, feed.fps
        assert ages and np.median(ages) < 400, ages
        assert a.local.video.filter_dropped > 10
    finally:
        a.leave()
        b.leave()


def test_derived_feed_map(pair):
    """feed.map(fn) gives a new feed with fn applied to each frame."""
    _, b = pair
    gray = b.peer("a").video.map(lambda img: img.mean(axis=2).astype(np.uint8))
    assert wait_until(lambda: gray.latest() is not None, 5 * UNIT)
    img = gray.latest()
    assert img.shape == (120, 160, 3) and abs(float(img.mean()) - 85) < 10


def test_audio_filter_changes_level(pair):
    """An audio filter halving the amplitude lowers the far-end level by 6 dB."""
    a, b = pair
    audio = b.peer("a").audio
    assert wait_until(lambda: abs(audio.level_db + 6) < 0.5, 5 * UNIT)
    a.local.audio.add_filter(lambda block: block * 0.5)
    assert wait_until(lambda: abs(audio.level_db + 12) < 0.7, 5 * UNIT)


def test_stats_plausible(pair):
    """stats(): fps near the source's, packets counted, bitrate and RTT present; flat records."""
    a, b = pair
    time.sleep(2)
    s = b.stats()[a.peer_id]
    assert s["state"] == "connected" and s["duration_s"] > 0
    vin = s["in"]["video"]
    assert 20 < vin["fps"] < 40 and vin["frames"] > 30 and vin["packets"] > 30
    assert vin["bitrate_kbps"] and vin["bitrate_kbps"] > 0
    assert s["in"]["audio"]["level_db"] == pytest.approx(-6, abs=1)
    time.sleep(1.5)
    flat = b.stats(flat=True)
    assert len(flat) == 4 and {r["direction"] for r in flat} == {"in", "out"}
    assert any(r["rtt_ms"] is not None for r in flat)


def test_recording_reopens_with_content(pair, tmp_path):
    """room.record() writes one mp4 per participant; reopened, the frames have the colour."""
    a, b = pair
    with b.record(tmp_path / "call.mp4") as rec:
        time.sleep(3)
    files = {p.name: p for p in rec.files}
    remote = next(p for n, p in files.items() if a.peer_id in n)
    with av.open(str(remote)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) > 30 and close_to(frames[-1], RED, tol=30)
    video, audio = sources.from_file(remote)
    assert video is not None and audio is not None


def test_chat_to_one_peer(bg_server, media_config):
    """room.send(to=...) reaches only that peer; broadcast reaches all; history is kept."""
    rooms = [join(bg_server, n, media_config) for n in ("a", "b", "c")]
    a, b, c = rooms
    try:
        assert wait_until(lambda: len(a.peers) == 2, 5 * UNIT)
        a.send("just b", to=b.peer_id)
        a.send({"all": 1})
        assert wait_until(lambda: len(b.messages) == 2 and len(c.messages) == 1, 5 * UNIT)
        assert [m["data"] for m in b.messages] == ["just b", {"all": 1}]
        assert c.messages[0]["data"] == {"all": 1} and c.messages[0]["name"] == "a"
    finally:
        for room in rooms:
            room.leave()


@pytest.fixture
def turn_server():
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is missing: apt-get install coturn (scripts/test.sh does this)")
    proc = subprocess.Popen(
        [binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         "--listening-port=3478", "--min-port=49160", "--max-port=49300", "--lt-cred-mech",
         "--user=u:p", "--realm=test", "--no-tls", "--no-dtls", "--no-cli",
         "--allow-loopback-peers", "--log-file=stdout"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    yield "turn:127.0.0.1:3478"
    proc.terminate()
    proc.wait(5)


@pytest.mark.skipif(ice.RTCIceTransportPolicy is None, reason="aiortc < 1.16: no relay")
def test_call_through_turn_relay(bg_server, turn_server):
    """With ice_transport_policy relay, two bots connect through coturn and exchange frames."""
    cfg = {"webrtc": {"ice_transport_policy": "relay", "host_addresses": ["127.0.0.1"],
                      "ice_servers": [{"urls": turn_server, "username": "u",
                                       "credential": "p"}]}}
    a = zero_nb.join("turn", bg_server.url, name="a", video=sources.solid(RED), config=cfg)
    b = zero_nb.join("turn", bg_server.url, name="b", config=cfg)
    try:
        b.wait_for_peers(1, timeout=30 * UNIT)
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
        pc = b.peer("a").pc
        pair_ = pc.getTransceivers()[0].receiver.transport.transport._connection._nominated
        assert any(p.local_candidate.type == "relay" for p in pair_.values())
    finally:
        a.leave()
        b.leave()
