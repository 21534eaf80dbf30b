"""Failing sources and filters over real aiortc peers: reported, counted, healed."""

import threading
import time

import numpy as np
import pytest

from tests.conftest import UNIT, close_to, wait_until
from tests.integration.test_mesh import GREEN, RED, join
from zero_nb import sources

pytestmark = pytest.mark.media

BLACK = (0, 0, 0)


class Errors:
    """Collects ``room.on("error")`` calls and when they came."""

    def __init__(self, room):
        self.calls = []
        self.event = threading.Event()
        room.on("error", self._on)

    def _on(self, peer, text):
        self.calls.append((time.monotonic(), peer, text))
        self.event.set()

    def wait(self, since, timeout):
        assert self.event.wait(timeout), "no error event"
        self.event.clear()
        at, peer, text = self.calls[-1]
        return at - since, peer, text


def red_frame():
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = RED
    return img


def test_zero_argument_callable_delivers_frames(bg_server, media_config):
    """``video=lambda: frame`` and ``from_frames(lambda: frame)`` reach the peer."""
    img = red_frame()
    a = join(bg_server, "a", media_config, video=lambda: img)
    b = join(bg_server, "b", media_config, video=sources.from_frames(lambda: img, fps=15))
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        a.wait_for_peers(1, timeout=20 * UNIT)
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
        assert wait_until(lambda: close_to(a.peer("b").video.latest(), RED), 10 * UNIT)
        assert a.stats()[b.peer_id]["out"]["video"]["source_errors"] == 0
    finally:
        a.leave()
        b.leave()


def test_raising_source_reported_within_2s_and_recovers(bg_server, media_config):
    """A source that starts raising: error event (peer None, the exception's text) within
    2 s, black at the receiver, counted in stats; frames resume when it stops raising."""
    img, state = red_frame(), {"fail": False}

    def camera(index):
        if state["fail"]:
            raise OSError("camera unplugged")
        return img

    a = join(bg_server, "a", media_config, video=camera)
    b = join(bg_server, "b", media_config)
    errors = Errors(a)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        assert wait_until(lambda: close_to(feed.latest(), RED), 10 * UNIT)
        start = time.monotonic()
        state["fail"] = True
        delay, peer, text = errors.wait(start, 5 * UNIT)
        assert delay < 2.0 * UNIT and peer is None and "camera unplugged" in text
        assert wait_until(lambda: close_to(feed.latest(), BLACK), 5 * UNIT)
        assert a.stats()[b.peer_id]["out"]["video"]["source_errors"] > 0
        state["fail"] = False
        assert wait_until(lambda: close_to(feed.latest(), RED), 5 * UNIT)
    finally:
        a.leave()
        b.leave()


def test_raising_filter_reported_and_recovers(bg_server, media_config):
    """A filter that starts raising is reported within 2 s and skipped; its output comes
    back at the receiver when it stops raising."""
    state = {"fail": False}

    def paint_green(img):
        if state["fail"]:
            raise ValueError("model not loaded")
        out = np.empty_like(img)
        out[:] = GREEN
        return out

    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    b = join(bg_server, "b", media_config)
    errors = Errors(a)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        a.local.video.add_filter(paint_green)
        assert wait_until(lambda: close_to(feed.latest(), GREEN), 10 * UNIT)
        start = time.monotonic()
        state["fail"] = True
        delay, peer, text = errors.wait(start, 5 * UNIT)
        assert delay < 2.0 * UNIT and peer is None and "model not loaded" in text
        assert wait_until(lambda: close_to(feed.latest(), RED), 5 * UNIT)  # skipped
        state["fail"] = False
        assert wait_until(lambda: close_to(feed.latest(), GREEN), 5 * UNIT)
        assert a.stats()[b.peer_id]["out"]["video"]["filter_errors"] > 0
    finally:
        a.leave()
        b.leave()


def test_raising_audio_source_reported_and_recovers(bg_server, media_config):
    """An audio source that raises: error event, silence at the receiver, then the tone."""
    state = {"fail": False}
    tone = sources.tone(440, -6)

    def mic(index):
        if state["fail"]:
            raise RuntimeError("microphone gone")
        return tone._make(index)

    a = join(bg_server, "a", media_config, audio=sources.AudioSource(mic, label="mic"))
    b = join(bg_server, "b", media_config)
    errors = Errors(a)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        audio = b.peer("a").audio
        assert wait_until(lambda: abs(audio.level_db + 6) < 1, 10 * UNIT)
        start = time.monotonic()
        state["fail"] = True
        delay, peer, text = errors.wait(start, 5 * UNIT)
        assert delay < 2.0 * UNIT and peer is None and "microphone gone" in text
        assert wait_until(lambda: audio.level_db < -60, 5 * UNIT)
        assert a.stats()[b.peer_id]["out"]["audio"]["source_errors"] > 0
        state["fail"] = False
        assert wait_until(lambda: abs(audio.level_db + 6) < 1, 5 * UNIT)
    finally:
        a.leave()
        b.leave()
