"""Media under injected network faults: loss, delay, blackout; the low-latency path's recovery."""

import time

import numpy as np
import pytest

from tests.conftest import UNIT
from tests.integration.test_mesh import RED, close_to, join, wait_until
from zero_nb import sources
from zero_nb.kernel_rtc import lowlatency
from zero_nb.kernel_rtc.netem import emulate

pytestmark = pytest.mark.media


def audio_delay_ms(feed, seconds=2.0):
    """Median age of recently arrived tone-step onsets is hard in-process; use frame spacing:
    the feed's newest arrival vs now tells how stale the audio is."""
    return (time.time() - feed.last_time) * 1000


def test_low_latency_installed_by_default(bg_server, media_config):
    """With default config every receiver uses the low-latency buffers; frames go out fast."""
    assert lowlatency.AVAILABLE, lowlatency.UNAVAILABLE_REASON
    a = join(bg_server, "a", media_config, video=sources.solid(RED), audio=sources.tone(440, -6))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        time.sleep(1)
        vin = b.stats()[a.peer_id]["in"]["video"]
        assert vin["frames_fast"] > 10
        off = join(bg_server, "c", {"dict": {**media_config["dict"], "webrtc": {
            **media_config["dict"]["webrtc"], "low_latency": False}}})
        try:
            off.wait_for_peers(1, timeout=20 * UNIT)
            pc = off.peer("a").pc
            assert all(not lowlatency.counters(t.receiver)["low_latency"]
                       for t in pc.getTransceivers())
        finally:
            off.leave()
    finally:
        a.leave()
        b.leave()


def test_five_percent_loss_keeps_decoding_and_audio_recovers(bg_server, media_config):
    """Under 5% loss video keeps decoding, lost audio is concealed, and audio stays fresh."""
    with emulate(loss=0.05, seed=7) as net:
        a = join(bg_server, "a", media_config, video=sources.test_pattern(160, 120, 30),
                 audio=sources.tone(440, -6))
        b = join(bg_server, "b", media_config)
        try:
            b.wait_for_peers(1, timeout=30 * UNIT)
            peer = b.peer("a")
            start = peer.video.frame_count
            time.sleep(5)
            assert net.dropped > 20
            assert peer.video.frame_count - start > 60  # > 12 fps through 5% loss
            ain = b.stats()[a.peer_id]["in"]["audio"]
            assert ain["concealed"] > 0 and ain["packets_lost"] > 0
            ages = []
            for _ in range(20):
                ages.append((time.time() - peer.audio.last_time) * 1000)
                time.sleep(0.05)
            assert np.median(ages) < 60, ages  # audio keeps arriving, never backs up
            stamp = sources.read_stamp(peer.video.latest())
            assert stamp is not None
        finally:
            a.leave()
            b.leave()


def test_delay_then_blackout_recover(bg_server, media_config):
    """100 ms delay slows nothing down for good; after a 5 s blackout media resumes."""
    with emulate() as net:
        a = join(bg_server, "a", media_config, video=sources.solid(RED),
                 audio=sources.tone(440, -6))
        b = join(bg_server, "b", media_config)
        try:
            b.wait_for_peers(1, timeout=30 * UNIT)
            feed = b.peer("a").video
            net.delay_ms = 100
            time.sleep(2)
            assert feed.fps > 15
            net.delay_ms = 0
            net.blackout(5)
            time.sleep(2)
            during = feed.frame_count
            time.sleep(1)
            assert feed.frame_count - during < 3  # nothing passes during the blackout
            assert wait_until(lambda: feed.frame_count > during + 30, 20 * UNIT)
            assert close_to(feed.latest(), RED)
            assert b.peer("a").state == "connected"
        finally:
            a.leave()
            b.leave()
