"""Kernel engine over real aiortc on loopback: meshes, content, levels, faults, slow readers."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import zero_nb
from tests.conftest import UNIT, close_to, rss_mb, wait_until
from zero_nb import sources
from zero_nb.errors import RoomClosed, Timeout

pytestmark = pytest.mark.media

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def join(server, name, media_config, **kw):
    return zero_nb.join("lab", server.url, name=name, config=media_config["dict"], **kw)


def test_two_bots_see_each_others_colour(bg_server, media_config):
    """Two bots in a mesh each receive the other's solid colour as numpy RGB."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    b = join(bg_server, "b", media_config, video=sources.solid(BLUE))
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        a.wait_for_peers(1, timeout=20 * UNIT)
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
        assert wait_until(lambda: close_to(a.peer("b").video.latest(), BLUE), 10 * UNIT)
        img = b.peer("a").video.latest()
        assert img.shape == (120, 160, 3) and img.dtype == np.uint8
        assert b.peer("a").state == "connected" and b.peer("a").video.frame_count > 0
        assert close_to(a.local.video.latest(), RED)  # the local feed shows what we send
    finally:
        a.leave()
        b.leave()


def test_three_bot_mesh(bg_server, media_config):
    """Three bots form a full mesh: every bot sees both others' colours."""
    colours = {"r": RED, "g": GREEN, "b": BLUE}
    rooms = {n: join(bg_server, n, media_config, video=sources.solid(c))
             for n, c in colours.items()}
    try:
        for name, room in rooms.items():
            room.wait_for_peers(2, timeout=30 * UNIT)
            for other, rgb in colours.items():
                if other != name:
                    assert wait_until(lambda r=room, o=other, c=rgb:
                                      close_to(r.peer(o).video.latest(), c), 10 * UNIT), \
                        f"{name} does not see {other}"
        assert len(bg_server.sessions()["lab"]) == 3
    finally:
        for room in rooms.values():
            room.leave()


def test_tone_level_and_mute(bg_server, media_config):
    """A -6 dBFS tone reads -6 ± 0.5 dBFS at the other end; muted it reads as silence."""
    a = join(bg_server, "a", media_config, audio=sources.tone(440, -6))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        audio = b.peer("a").audio
        assert wait_until(lambda: audio.frame_count > 100, 10 * UNIT)
        time.sleep(0.5)
        recent = audio.levels(seconds=1.0)
        assert abs(float(np.median(recent)) + 6.0) < 0.5, recent[-10:]
        assert audio.samples(0.5).shape[1] == 2
        a.local.audio.mute()
        assert wait_until(lambda: audio.level_db < -60, 5 * UNIT)
        a.local.audio.unmute()
        assert wait_until(lambda: abs(audio.level_db + 6) < 0.5, 5 * UNIT)
    finally:
        a.leave()
        b.leave()


def test_pause_resume_video(bg_server, media_config):
    """pause() sends black without renegotiation; resume() brings the picture back."""
    a = join(bg_server, "a", media_config, video=sources.solid(GREEN))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        assert wait_until(lambda: close_to(feed.latest(), GREEN), 10 * UNIT)
        a.local.video.pause()
        assert wait_until(lambda: close_to(feed.latest(), (0, 0, 0)), 10 * UNIT)
        a.local.video.resume()
        assert wait_until(lambda: close_to(feed.latest(), GREEN), 10 * UNIT)
        assert b.peer("a").restarts == 0
    finally:
        a.leave()
        b.leave()


def test_peer_leaving_and_events(bg_server, media_config):
    """A peer that leaves disappears from room.peers and fires peer-left; chat arrives."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    events = []
    a.on("peer-joined", lambda p: events.append(("joined", p.name)))
    a.on("peer-left", lambda p: events.append(("left", p.name)))
    a.on("message", lambda m: events.append(("message", m["data"])))
    b = join(bg_server, "b", media_config, video=sources.solid(BLUE))
    a.wait_for_peers(1, timeout=20 * UNIT)
    b.send({"text": "hello"})
    assert wait_until(lambda: ("message", {"text": "hello"}) in events, 5 * UNIT)
    assert a.messages[-1]["name"] == "b"
    b.leave()
    assert wait_until(lambda: not a.peers, 5 * UNIT)
    assert wait_until(lambda: ("left", "b") in events, 5 * UNIT)
    assert events[0] == ("joined", "b")
    with pytest.raises(RoomClosed):
        b.send("after leave")
    a.leave()


def test_killed_bot_reported_within_seconds(bg_server, media_config):
    """A bot process killed with SIGKILL is reported as peer-left within 5 s."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    proc = subprocess.Popen(
        [sys.executable, "-m", "zero_nb", "bot", "lab", "--server", bg_server.url,
         "--name", "victim", "--color", "0,255,0", "--config", media_config["path"]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        a.wait_for_peers(1, timeout=30 * UNIT)
        assert wait_until(lambda: close_to(a.peer("victim").video.latest(), GREEN), 10 * UNIT)
        proc.kill()
        start = time.monotonic()
        assert wait_until(lambda: not a.peers, 10 * UNIT)
        assert time.monotonic() - start < 5.0 * UNIT
    finally:
        proc.kill()
        proc.wait()
        a.leave()


def test_slow_consumer_keeps_memory_flat(bg_server, media_config):
    """Reading a 30 fps 640x480 stream at 2 fps keeps memory flat and frames fresh."""
    a = join(bg_server, "a", media_config, video=sources.test_pattern(640, 480, 30))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        time.sleep(2)
        before = rss_mb()
        ages = []
        for _ in range(16):  # 8 s at 2 fps
            img = feed.latest()
            stamp = sources.read_stamp(img)
            if stamp is not None:
                ages.append((time.time() * 1000 - stamp[1]) % 2**32)
            time.sleep(0.5)
        grown = rss_mb() - before
        assert grown < 40, f"RSS grew {grown:.0f} MB while reading slowly"
        assert ages and float(np.median(ages)) < 500, ages
        assert feed.fps > 15
    finally:
        a.leave()
        b.leave()


def test_busy_user_thread_does_not_stop_media(bg_server, media_config):
    """While the caller's thread spins in pure Python for 3 s, frames keep arriving."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    b = join(bg_server, "b", media_config)
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        start = feed.frame_count
        end = time.monotonic() + 3
        x = 0
        while time.monotonic() < end:  # a busy cell holding the GIL as much as it can
            x += 1
        got = feed.frame_count - start
        assert got > 30, f"only {got} frames in 3 s while the user thread was busy"
    finally:
        a.leave()
        b.leave()


def test_leave_leaves_no_threads_or_peers(bg_server, media_config):
    """After leave(), no peer connections, sources or room threads remain."""
    before = {t.name for t in threading.enumerate()}
    a = join(bg_server, "a", media_config, video=sources.solid(RED), audio=sources.tone(440, -20))
    b = join(bg_server, "b", media_config, video=sources.solid(BLUE))
    b.wait_for_peers(1, timeout=20 * UNIT)
    a.leave()
    b.leave()
    assert a.closed and not a.peers and not b.peers
    assert wait_until(lambda: bg_server.sessions() == {}, 5 * UNIT)
    assert wait_until(lambda: not [t for t in threading.enumerate()
                                   if t.name.startswith(("zero_nb-ev", "zero_nb-src"))
                                   and t.name not in before], 10 * UNIT)


def test_wait_for_peers_times_out_clearly(bg_server, media_config):
    """wait_for_peers raises Timeout with a message when nobody sends media."""
    a = join(bg_server, "a", media_config)
    try:
        with pytest.raises(Timeout, match="0 of 1 peers"):
            a.wait_for_peers(1, timeout=1)
    finally:
        a.leave()


def test_signaling_restart_keeps_media_flowing(media_config):
    """The server restarts mid-call: media never stops, both rooms re-join with their ids."""
    first = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
        "heartbeat": {"interval": 1.0, "timeout": 2.0}}})
    port = first.port
    a = zero_nb.join("lab", first.url, name="a", video=sources.solid(RED),
                     config=media_config["dict"])
    b = zero_nb.join("lab", first.url, name="b", config=media_config["dict"])
    second = None
    try:
        b.wait_for_peers(1, timeout=20 * UNIT)
        feed = b.peer("a").video
        ids = {a.peer_id, b.peer_id}
        first.stop()
        before = feed.frame_count
        time.sleep(2)
        assert feed.frame_count - before > 30  # media flows while signaling is down
        second = zero_nb.serve("127.0.0.1", port)
        assert wait_until(lambda: {p["peer_id"] for p in second.sessions().get("lab", [])}
                          == ids, 15 * UNIT)
        time.sleep(1)
        assert b.peer("a").state == "connected" and b.peer("a").restarts == 0
        assert close_to(feed.latest(), RED) and feed.fps > 15
    finally:
        a.leave()
        b.leave()
        if second is not None:
            second.stop()
