"""Threads meeting in the engine: each test forces the interleaving a user can hit (a cell's
thread against the engine loop or the widget comm's thread) and checks the outcome."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import UNIT
from zero_nb._loop import LoopThread
from zero_nb.kernel_rtc.media.feeds import AudioFeed, VideoFeed
from zero_nb.kernel_rtc.media.local import LocalMedia
from zero_nb.kernel_rtc.media.recorder import FeedRecorder
from zero_nb.kernel_rtc.media.sources import VideoSource, solid
from zero_nb.kernel_rtc.net.peer import RemotePeer
from zero_nb.kernel_rtc.room import Room


@pytest.fixture
def busy_switching():
    """Threads switch every microsecond, so a non-atomic iteration meets a mutation."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _room() -> Room:
    room = Room("s", "ws://127.0.0.1:9/ws", name="me", config=None)
    room._early = None  # as if joined: signals apply at once
    return room


def _churn(room: Room, stop: threading.Event) -> None:
    """What the engine loop does to the roster while peers come and go."""
    i = 0
    while not stop.is_set():
        room._peers[f"x{i}"] = RemotePeer(room.host, f"x{i}", f"x{i}")
        room._peers.pop(f"x{i - 50}", None)
        i += 1


def test_reading_the_roster_while_peers_come_and_go(busy_switching):
    """peer() and wait_for_peers() from a cell never meet 'dictionary changed size'."""
    room = _room()
    for i in range(200):
        room._peers[f"p{i}"] = RemotePeer(room.host, f"p{i}", f"p{i}")
    stop = threading.Event()
    churn = threading.Thread(target=_churn, args=(room, stop), daemon=True)
    churn.start()
    try:
        deadline = time.monotonic() + 2 * UNIT
        while time.monotonic() < deadline:
            with pytest.raises(KeyError):
                room.peer("nobody")
            with pytest.raises(Exception, match="peers sent media"):
                room.wait_for_peers(1000, timeout=0)
    finally:
        stop.set()
        churn.join()
        room._events.shutdown(wait=False)


def test_iterating_messages_while_messages_arrive(busy_switching):
    """room.messages is a snapshot: a cell iterates it while the loop appends."""
    room = _room()
    for i in range(100):
        room._on_signal({"type": "message", "from": "p", "data": i})
    stop = threading.Event()

    def arrive() -> None:
        while not stop.is_set():
            room._on_signal({"type": "message", "from": "p", "data": "more"})

    sender = threading.Thread(target=arrive, daemon=True)
    sender.start()
    try:
        for _ in range(20):
            for entry in room.messages:
                assert "data" in entry
    finally:
        stop.set()
        sender.join()
        room._events.shutdown(wait=False)


def test_recorder_stop_returns_when_its_encoder_died_with_a_full_queue(tmp_path):
    """stop() (and a with block's exit) returns, and says the file failed, when the encoder
    thread died while the queue was full."""
    from zero_nb.errors import MediaError

    feed = VideoFeed("v")
    recorder = FeedRecorder(tmp_path / "v.mp4", video=feed, size=(32, 32), queue_size=2)
    listener = recorder._hook(feed)
    listener(object())  # not a frame: the encoder thread raises and ends
    recorder._thread.join(10 * UNIT)
    assert not recorder._thread.is_alive()
    listener(object())
    listener(object())  # the queue is full now, nobody drains it
    done = threading.Event()
    failure: list[BaseException] = []

    def stop() -> None:
        try:
            recorder.stop(timeout=2 * UNIT)
        except BaseException as exc:
            failure.append(exc)
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    assert done.wait(10 * UNIT), "stop() hung"
    assert failure and isinstance(failure[0], MediaError)
    assert "v.mp4" in str(failure[0])


class _SlowPause(VideoSource):
    """A source whose pause() waits for the test: holds set_source mid-way."""

    def __init__(self) -> None:
        super().__init__(lambda i: np.zeros((16, 16, 3), np.uint8), 5)
        self.entered = threading.Event()
        self.go = threading.Event()

    def pause(self) -> None:
        self.entered.set()
        assert self.go.wait(10 * UNIT)
        super().pause()


def test_unmute_during_a_source_change_leaves_the_new_source_live():
    """The widget unmutes (its comm thread) while the loop switches source for a muted
    participant: the new source ends up live and `muted` says False."""
    loop = LoopThread("race-loop")
    try:
        async def make() -> LocalMedia:
            return LocalMedia("video", solid((1, 2, 3), 16, 16, 5))

        media = loop.run(make(), 5 * UNIT, "making local media")
        media.muted = True
        new = _SlowPause()

        async def switch() -> None:
            media.set_source(new)

        switching = loop.submit(switch())
        assert new.entered.wait(10 * UNIT)
        unmute = threading.Thread(target=setattr, args=(media, "muted", False), daemon=True)
        unmute.start()
        unmute.join(0.2 * UNIT)  # with ordering, it waits for the switch: no harm either way
        new.go.set()
        switching.result(10 * UNIT)
        unmute.join(10 * UNIT)
        assert not unmute.is_alive()
        assert media.muted is False and not new.paused and media.sending
        loop.run(_close(media), 5 * UNIT, "closing")
    finally:
        loop.stop(5 * UNIT)


async def _close(media: LocalMedia) -> None:
    media.close()


def test_timeline_and_a_joining_peer_start_one_worker(monkeypatch):
    """timeline() from a cell while a peer joins (engine loop) starts one VAD worker."""
    from zero_nb.kernel_rtc.speech import tracker as tracker_mod

    real = tracker_mod.threading.Thread
    made: list[Any] = []
    both = threading.Barrier(2)

    def thread(*args: Any, **kwargs: Any) -> Any:
        # hold the first creator until a second arrives (or it is clear none will)
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait(1.0 * UNIT)
        made.append(real(*args, **kwargs))
        return made[-1]

    class Host:
        peer_id, name, closed = "me", "me", False

        def __init__(self) -> None:
            self.feed = AudioFeed("me")

        def local_feed(self, kind: str) -> Any:
            return self.feed

        def emit(self, *args: Any) -> None: ...

        def add_peer_hook(self, hook: Any) -> Any:
            return lambda: None

    host = Host()
    tracker = tracker_mod.SpeechTracker(host)
    if not tracker.available:
        pytest.skip("needs the [analysis] extra (webrtcvad)")
    monkeypatch.setattr(tracker_mod.threading, "Thread", thread)
    from types import SimpleNamespace

    peer = SimpleNamespace(peer_id="p1", name="p1", audio=AudioFeed("p1"))
    # a cell asks for the timeline while the engine loop attaches a peer that just joined
    callers = [real(target=tracker.timeline), real(target=tracker.attach, args=(peer,))]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10 * UNIT)
    host.closed = True
    assert len(made) == 1


def test_tone_levels_agree_on_the_meter(tmp_path):
    """tone(f, -20) and a test clip's tone both read -20 dBFS on the feeds' meter."""
    from zero_nb.kernel_rtc.media.encoded import write_test_clip
    from zero_nb.kernel_rtc.media.sources import tone

    source = tone(440.0, -20.0)
    assert AudioFeed.level_of(AudioFeed.to_float(source._frame(3))) == pytest.approx(-20, abs=0.2)
    clip = write_test_clip(tmp_path / "t.webm", seconds=1.0, tone_hz=440.0)
    with av.open(str(clip)) as container:
        levels = [AudioFeed.level_of(AudioFeed.to_float(f))
                  for f in container.decode(audio=0)][5:-5]  # codec start-up and tail
    assert float(np.median(levels)) == pytest.approx(-20, abs=0.5)
