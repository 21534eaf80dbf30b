"""A class through real Janus: encoded students, a teacher kernel, several Janus servers."""

from __future__ import annotations

import contextlib
import time

import pytest

import zero_nb
from tests import class_support, sfu_support
from tests.conftest import MEDIA_CONFIG, UNIT, wait_until

pytestmark = pytest.mark.media

janus = sfu_support.janus
sfu_server = sfu_support.sfu_server


def test_twelve_encoded_students_reach_the_teacher(sfu_server, tmp_path):
    """12 encoded students in one process: the teacher kernel gets every colour; a student
    who leaves is gone from the teacher within 10 s."""
    clips = class_support.student_clips(tmp_path, 12, seconds=2)
    teacher = zero_nb.join("class", sfu_server.url, name="teacher", config=MEDIA_CONFIG)
    students: list = []
    try:
        students = class_support.join_students(sfu_server.url, "class", clips, MEDIA_CONFIG)
        ok = wait_until(
            lambda: all(class_support.streams_ok(teacher, students, 12).values()),
            40 * UNIT, step=0.2)
        assert ok, class_support.streams_ok(teacher, students, 12)
        peers = {p.name: p for p in teacher.peers.values()}
        time.sleep(1.0 * UNIT)
        assert all(peers[s.name].video.fps > 10 for s in students), \
            {n: round(p.video.fps, 1) for n, p in peers.items()}
        leaver = students.pop()
        t0 = time.monotonic()
        leaver.leave()
        assert wait_until(lambda: leaver.peer_id not in teacher.peers, 10 * UNIT)
        assert time.monotonic() - t0 < 10
        assert all(class_support.streams_ok(teacher, students, 12).values())
    finally:
        for room in [*students, teacher]:
            room.leave()


@contextlib.contextmanager
def two_janus(tmp_path):
    with sfu_support.running_janus(tmp_path / "j1", 10 * UNIT, veth="zsfu1") as j1, \
            sfu_support.running_janus(tmp_path / "j2", 10 * UNIT, veth="zsfu2") as j2:
        yield j1, j2


def bot(server, session, rgb=(255, 0, 0)):
    return zero_nb.join(session, server.url, name=session, config=MEDIA_CONFIG,
                        video=zero_nb.sources.solid(rgb, 160, 120, fps=10))


def test_two_janus_share_sessions_and_survive_one_stopping(tmp_path):
    """Sessions land on both Janus; stopping one gives its sessions an error event, and new
    sessions (and a rejoin of a session that was there) go to the other."""
    (tmp_path / "j1").mkdir()
    (tmp_path / "j2").mkdir()
    with two_janus(tmp_path) as (j1, j2):
        from zero_nb.sfu.bridge import JanusBridge
        from zero_nb.signaling.server import serve

        bridge = JanusBridge([j1.url, j2.url])  # what zero_nb.serve builds for a url list
        server = serve("127.0.0.1", 0, hooks=bridge.hooks(), config={
            "signaling": {"heartbeat": {"interval": 1.0, "timeout": 2.0}}})
        rooms = []
        try:
            rooms = [bot(server, f"c{i}") for i in range(4)]
            assert wait_until(lambda: all(
                r.topology._pub_pc is not None and
                r.topology._pub_pc.connectionState == "connected"
                for r in rooms), 20 * UNIT)  # published: a loss now is "SFU lost"
            urls = [r.topology.url for r in rooms]
            assert sorted(urls) == sorted([j1.url, j2.url] * 2)
            on_j1 = [r for r in rooms if r.topology.url == j1.url]
            errors: list[str] = []
            for room in on_j1:
                room.on("error", lambda peer, text: errors.append(text))
            j1.terminate()
            assert wait_until(lambda: len(errors) >= len(on_j1), 10 * UNIT), errors
            assert all("SFU lost" in e for e in errors)
            assert wait_until(lambda: not bridge.backends[0].healthy, 10 * UNIT)
            fresh = bot(server, "c-new", (0, 255, 0))
            rooms.append(fresh)
            assert fresh.topology.url == j2.url and fresh.topology.error is None
            # someone joins a session that was on the stopped Janus: it moves to the other
            again = bot(server, on_j1[0].session)
            rooms.append(again)
            assert again.topology.url == j2.url
            assert wait_until(lambda: again.topology.publisher_id is not None, 10 * UNIT)
            assert again.topology.error is None
        finally:
            for room in rooms:
                room.leave()
            server.stop()


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_encoded_file_through_janus_and_mesh(sfu_server, bg_server, tmp_path, suffix):
    """An encoded H.264 (.mp4) or VP8+Opus (.webm) file reaches a kernel via Janus and in a
    mesh, colour and tone intact."""
    clip = zero_nb.sources.write_test_clip(tmp_path / f"c{suffix}", (0, 0, 255), 2,
                                           tone_hz=440)
    for server in (sfu_server, bg_server):
        video, audio = zero_nb.sources.from_file(clip, loop=True, encoded=True)
        sender = zero_nb.join("enc", server.url, name="s00", video=video, audio=audio,
                              config=MEDIA_CONFIG)
        viewer = zero_nb.join("enc", server.url, name="viewer", config=MEDIA_CONFIG)
        try:
            def arrived(viewer=viewer, sender=sender) -> bool:
                peer = viewer.peers.get(sender.peer_id)
                return peer is not None and class_support.colour_ok(
                    peer.video.latest(), (0, 0, 255)) and peer.audio.level_db > -30
            assert wait_until(arrived, 20 * UNIT), server
        finally:
            sender.leave()
            viewer.leave()


def test_bot_from_the_shell_sends_an_encoded_file(sfu_server, tmp_path, media_config):
    """`zero-nb bot SESSION --file PATH --encoded` joins and its file arrives unchanged."""
    import subprocess
    import sys

    clip = zero_nb.sources.write_test_clip(tmp_path / "bot.webm", (255, 255, 0), 2)
    viewer = zero_nb.join("shell", sfu_server.url, name="viewer", config=MEDIA_CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zero_nb", "bot", "shell", "--server", sfu_server.url,
         "--name", "s00", "--file", str(clip), "--encoded", "--config", media_config["path"]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def arrived() -> bool:
            peers = [p for p in viewer.peers.values() if p.name == "s00"]
            return bool(peers) and class_support.colour_ok(peers[0].video.latest(),
                                                           (255, 255, 0))
        assert wait_until(arrived, 30 * UNIT)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10 * UNIT)[0]
        viewer.leave()
    assert "joined shell as s00" in out, out


def test_a_hung_janus_gets_no_new_sessions_until_it_answers(tmp_path):
    """A Janus that stops answering (SIGSTOP) is marked down within seconds and new sessions
    go to the other; once it answers again it takes sessions again."""
    import signal

    (tmp_path / "j1").mkdir()
    (tmp_path / "j2").mkdir()
    with two_janus(tmp_path) as (j1, j2):
        from zero_nb.sfu.bridge import JanusBridge
        from zero_nb.signaling.server import serve

        bridge = JanusBridge([j1.url, j2.url])
        server = serve("127.0.0.1", 0, hooks=bridge.hooks())
        rooms = []
        try:
            rooms.append(bot(server, "h0"))
            assert wait_until(lambda: all(b._janus is not None for b in bridge.backends),
                              5 * UNIT)
            j1.send_signal(signal.SIGSTOP)
            try:
                assert wait_until(lambda: not bridge.backends[0].healthy, 15 * UNIT)
                sessions = [f"h{i}" for i in range(1, 4)]
                rooms += [bot(server, s) for s in sessions]
                assert all(r.topology.url == j2.url for r in rooms[1:])
            finally:
                j1.send_signal(signal.SIGCONT)
            assert wait_until(lambda: bridge.backends[0].healthy, 15 * UNIT)
            rooms.append(bot(server, "h4"))
            assert rooms[-1].topology.url == j1.url  # the least loaded again
        finally:
            for room in rooms:
                room.leave()
            server.stop()
