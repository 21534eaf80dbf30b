"""Media under injected network faults: loss, delay, blackout; the low-latency path's recovery."""

import time

import numpy as np
import pytest

from tests.conftest import UNIT, close_to, wait_until
from tests.integration.test_mesh import RED, join
from tests.netem import emulate
from zero_nb import sources
from zero_nb.kernel_rtc.net import lowlatency

pytestmark = pytest.mark.media


def step_tone(level_db=-10.0):
    """A tone that is on during even half-seconds of wall time: onsets at known instants."""
    amp = sources.level_to_amplitude(level_db)
    t = np.arange(960) / 48000

    def make(i):
        on = int(time.time() * 2) % 2 == 0
        return (amp * np.sin(2 * np.pi * 440 * t) * on).astype(np.float32)

    return sources.AudioSource(make, label="steps")


def onset_delays_ms(feed, since):
    """Delay from each half-second tone onset to its arrival in the feed."""
    times, levels = feed.level_history()
    delays, prev = [], -120.0
    for t, lv in zip(times, levels, strict=True):
        if t >= since and prev < -40 <= lv:
            delays.append((t - int(t * 2) / 2) * 1000)
        prev = lv
    return delays


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


def test_audio_latency_comes_back_down_after_loss(bg_server, media_config):
    """After 4 s of 5% loss, tone onsets arrive within 100 ms again (stock stays ~300 ms)."""
    with emulate(loss=0.05, seed=3) as net:
        a = join(bg_server, "a", media_config, audio=step_tone())
        b = join(bg_server, "b", media_config)
        try:
            b.wait_for_peers(1, timeout=30 * UNIT)
            feed = b.peer("a").audio
            time.sleep(4)
            assert net.dropped > 5
            net.loss = 0.0
            since = time.time() + 0.5
            time.sleep(5)
            delays = onset_delays_ms(feed, since)
            assert len(delays) >= 3, delays  # one onset per second
            assert np.median(delays) < 100, delays
        finally:
            a.leave()
            b.leave()


def test_delay_then_blackout_recover(bg_server, media_config):
    """100 ms delay slows nothing down for good; after a 10 s blackout media resumes."""
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
            net.blackout(10)
            time.sleep(3)
            during = feed.frame_count
            time.sleep(4)
            assert feed.frame_count - during < 3  # nothing passes during the blackout
            assert feed.fps < 1  # and the feed reports the gap
            assert wait_until(lambda: feed.frame_count > during + 30, 20 * UNIT)
            assert close_to(feed.latest(), RED)
            assert b.peer("a").state == "connected"
        finally:
            a.leave()
            b.leave()
