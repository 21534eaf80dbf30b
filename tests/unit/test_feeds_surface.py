"""The feeds' public surface (subscribe, rgb, yuv), frames.py conversions, netem restore."""

import aioice.ice
import av
import numpy as np
import pytest

from tests.netem import emulate
from zero_nb.errors import SourceError
from zero_nb.kernel_rtc import frames
from zero_nb.kernel_rtc.media.feeds import AudioFeed, VideoFeed


def yuv_frame(rgb=(200, 40, 40), shape=(48, 64)):
    img = np.zeros((*shape, 3), np.uint8)
    img[:] = rgb
    return frames.rgb_to_yuv(img)


def test_subscribe_and_unsubscribe():
    """Subscribers get every pushed frame until they unsubscribe (twice is harmless)."""
    feed = VideoFeed("t")
    got_a, got_b = [], []
    off_a = feed.subscribe(got_a.append)
    feed.subscribe(got_b.append)
    first = yuv_frame()
    feed._push(first)
    off_a()
    off_a()
    feed._push(yuv_frame())
    assert got_a == [first] and len(got_b) == 2


def test_rgb_and_yuv_own_the_conversion():
    """rgb() shares latest()'s conversion for the newest frame; yuv() is a fresh frame
    (copied, or scaled), for PyAV frames and for arrays of derived feeds."""
    feed = VideoFeed("t")
    frame = yuv_frame()
    feed._push(frame)
    latest = feed.latest()
    assert feed.rgb(frame) is latest and abs(int(latest[0, 0, 0]) - 200) < 8
    copy = feed.yuv(frame)
    assert copy is not frame and copy.format.name == "yuv420p"
    assert np.array_equal(copy.to_ndarray(format="yuv420p"), frame.to_ndarray(format="yuv420p"))
    small = feed.yuv(frame, 32, 24)
    assert (small.width, small.height) == (32, 24)
    arr = np.zeros((24, 32, 3), np.uint8)
    assert feed.rgb(arr) is arr and feed.yuv(arr).format.name == "yuv420p"


def test_map_uses_subscribe():
    """A derived feed follows its source through subscribe()."""
    feed = VideoFeed("t")
    derived = feed.map(lambda img: 255 - img)
    assert derived.worker is not None
    feed._push(yuv_frame((0, 0, 0)))
    assert derived.wait(1, timeout=5)
    assert derived.latest().min() > 240
    derived.worker.stop()


def test_as_rgb_normalises_and_rejects():
    """Gray, RGBA, floats and odd sizes are normalised; None and other shapes raise."""
    assert frames.as_rgb(np.zeros((5, 7), np.uint8)).shape == (4, 6, 3)
    assert frames.as_rgb(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 3)
    assert frames.as_rgb(np.ones((4, 4, 3)))[0, 0, 0] == 255
    for bad in (None, np.zeros(4), np.zeros((4, 4, 5)), np.array([["a"]])):
        with pytest.raises(SourceError):
            frames.as_rgb(bad)


def test_s16_frame_round_trip():
    """Float samples pack to s16 stereo (mono duplicated) and read back."""
    mono = np.full(960, 0.5, np.float32)
    frame = frames.s16_frame(mono)
    assert frame.format.name == "s16" and frame.samples == 960 and frame.sample_rate == 48000
    back = AudioFeed.to_float(frame)
    assert back.shape == (960, 2) and np.allclose(back, 0.5, atol=1e-3)
    with pytest.raises(SourceError):
        frames.s16_frame(np.zeros((960, 3)))


def test_restamper_video_and_audio():
    """Video pts follow the wall clock at 90 kHz; audio pts count samples."""
    clock = frames.Restamper()
    a, b = clock(yuv_frame()), clock(yuv_frame())
    assert a.pts == 0 and b.pts >= 0 and a.time_base.denominator == frames.VIDEO_CLOCK
    audio = frames.Restamper()
    pts = [audio(frames.s16_frame(np.zeros(960, np.float32))).pts for _ in range(3)]
    assert pts == [0, 960, 1920]
    assert isinstance(b, av.VideoFrame)


def test_netem_restores_aioice_on_exit():
    """emulate() patches aioice only inside its block, also when the block raises."""
    stock = aioice.ice.StunProtocol.datagram_received
    with pytest.raises(KeyError), emulate(loss=0.5):
        assert aioice.ice.StunProtocol.datagram_received is not stock
        raise KeyError
    assert aioice.ice.StunProtocol.datagram_received is stock
    with emulate(), pytest.raises(RuntimeError, match="already active"), emulate():
        pass
    assert aioice.ice.StunProtocol.datagram_received is stock
