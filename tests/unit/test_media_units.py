"""Sources, feeds and ICE configuration, without a network."""

import asyncio
import time

import av
import numpy as np
import pytest

from zero_nb import sources
from zero_nb.config import load_config
from zero_nb.errors import ConfigError, SourceError
from zero_nb.kernel_rtc.media.feeds import AudioFeed, VideoFeed
from zero_nb.kernel_rtc.net import ice
from zero_nb.kernel_rtc.net.ice import host_addresses, rtc_configuration


def test_stamp_round_trip():
    """A test-pattern frame carries its counter and send time, read back exactly."""
    src = sources.test_pattern(160, 120, 30)
    img = src._make(1234)
    counter, sent_ms = sources.read_stamp(img)
    assert counter == 1234
    assert abs((time.time() * 1000 - sent_ms) % 2**32) < 1000


def test_no_stamp_on_plain_frames():
    """A frame without a stamp reads as None, not garbage."""
    assert sources.read_stamp(np.full((120, 160, 3), 128, np.uint8)) is None


def test_tone_level_is_aes17():
    """A -6 dBFS tone measures -6 dBFS (full-scale sine = 0 dBFS)."""
    src = sources.tone(1000, -6)
    block = np.concatenate([src._make(i) for i in range(10)])
    assert AudioFeed.level_of(block[:, None]) == pytest.approx(-6.0, abs=0.05)


def test_audio_frame_to_float_stereo():
    """An interleaved s16 stereo frame becomes (960, 2) float32 in [-1, 1]."""
    src = sources.tone(440, -6)
    frame = src._frame(0)
    data = AudioFeed.to_float(frame)
    assert data.shape == (960, 2) and data.dtype == np.float32
    assert np.allclose(data[:, 0], data[:, 1]) and np.abs(data).max() <= 1.0


def test_mute_sends_silence():
    """A muted source produces silence and unmute restores the tone."""
    src = sources.tone(440, -6)
    src.mute()
    assert np.all(AudioFeed.to_float(src._frame(0)) == 0)
    src.unmute()
    assert AudioFeed.level_of(AudioFeed.to_float(src._frame(0))) > -7


def test_bad_sources_raise_clear_errors():
    """Odd sizes, unknown presets, wrong shapes and missing files raise SourceError."""
    with pytest.raises(SourceError, match="even"):
        sources.test_pattern(161, 120)
    with pytest.raises(SourceError, match="VGA"):
        sources.test_pattern("8K")
    with pytest.raises(SourceError, match="RGB"):
        sources.from_frames(lambda i: np.zeros((4,), np.uint8))._frame(0)
    with pytest.raises(SourceError, match="cannot open"):
        sources.from_file("/nonexistent.mp4")


def test_from_frames_iterable_ends():
    """An iterable source ends when its iterable does."""
    src = sources.from_frames([np.zeros((16, 16, 3), np.uint8)] * 2, fps=100)

    async def drain():
        track = src.track()
        got = 0
        try:
            while True:
                await track.recv()
                got += 1
        except Exception:
            return got

    assert asyncio.run(drain()) == 2


def test_video_feed_newest_wins_and_lazy():
    """A feed keeps only the newest frame, converts it once, and counts skipped frames."""
    feed = VideoFeed("t")
    assert feed.latest() is None
    frames = [av.VideoFrame.from_ndarray(np.full((16, 16, 3), v, np.uint8), format="rgb24")
              for v in (10, 20, 30)]
    it = feed.frames(timeout=1)
    feed._push(frames[0])
    assert next(it)[0, 0, 0] == 10
    feed._push(frames[1])
    feed._push(frames[2])
    assert next(it)[0, 0, 0] == 30 and feed.dropped == 1
    assert feed.latest() is feed.latest()  # converted once, shared
    assert feed.frame_count == 3 and feed.shape == (16, 16, 3)


def test_audio_feed_history_bounded():
    """Audio history keeps the configured span and no more."""
    feed = AudioFeed("t", history_s=1.0, samples_s=0.5)
    src = sources.tone(440, -20)
    for i in range(200):
        feed._push(src._frame(i), now=i * 0.02)
    assert len(feed.levels()) == 50
    assert feed.samples(10).shape == (25 * 960, 2)
    assert feed.level_db == pytest.approx(-20, abs=0.1)


def test_rtc_configuration_never_none():
    """The aiortc configuration always carries a list of ICE servers (no implicit STUN)."""
    cfg = rtc_configuration(load_config()["webrtc"])
    assert cfg.iceServers == []


def test_relay_without_turn_is_an_error():
    """ice_transport_policy relay without a TURN server is a ConfigError saying what to add."""
    webrtc = load_config({"webrtc": {"ice_transport_policy": "relay"}})["webrtc"]
    with pytest.raises(ConfigError, match="TURN"):
        rtc_configuration(webrtc)


def test_host_addresses_allow_list():
    """Inside host_addresses([...]) aioice gathers exactly the allowed local addresses."""
    import aioice.ice

    with host_addresses(["127.0.0.1", "192.0.2.55"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    stock = ice._stock_get_host_addresses(use_ipv4=True, use_ipv6=False)
    # no allow-list: aioice's own discovery, or loopback alone when that finds nothing
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == \
        (stock or ["127.0.0.1"])


def test_loopback_offered_only_when_nothing_else(monkeypatch):
    """With no other address, the default gathering offers one loopback address."""
    monkeypatch.setattr(ice, "_stock_get_host_addresses", lambda use_ipv4, use_ipv6: [])
    monkeypatch.setattr(ice, "local_addresses", lambda: {"127.0.0.1", "::1"})
    assert ice._filtered_get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    assert ice._filtered_get_host_addresses(use_ipv4=False, use_ipv6=True) == ["::1"]
    assert ice.ice_problem({"host_addresses": None}) is None
    monkeypatch.setattr(ice, "_stock_get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["192.0.2.7"])
    assert ice._filtered_get_host_addresses(use_ipv4=True, use_ipv6=True) == ["192.0.2.7"]


def test_ice_problem_names_the_setting():
    """host_addresses the machine lacks: ICE has nothing to try, and the text says what to
    change; a TURN server or a present address is something to try."""
    text = ice.ice_problem({"host_addresses": ["192.0.2.55"], "ice_servers": []})
    assert text and "nothing to try" in text and "webrtc.host_addresses" in text
    assert "192.0.2.55" in text
    assert ice.ice_problem({"host_addresses": ["127.0.0.1"], "ice_servers": []}) is None
    assert ice.ice_problem({"host_addresses": [], "ice_servers": [
        {"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "p"}]}) is None
