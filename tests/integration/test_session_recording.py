"""room.record_session: every participant's file on one session clock, a manifest of what
happened, and files that survive kill -9 (real bots on a real server)."""

import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

import zero_nb
from tests.conftest import UNIT, wait_until
from tests.integration.test_mesh import join
from zero_nb import sources

pytestmark = pytest.mark.media

FRAME_MS = 1000 / 30


def _pattern():
    return sources.test_pattern(160, 120, fps=30)


def _lag_ms(session, frame, t):
    """How long before session time ``t`` the frame shown at ``t`` was sent."""
    stamp = sources.read_stamp(frame)
    assert stamp is not None, "no stamp in the recorded frame"
    now_ms = int((session.header["started_unix"] + t) * 1000)
    lag = (now_ms - stamp[1]) % 2**32
    return lag - 2**32 if lag > 2**31 else lag


def _events(session, kind):
    return [e for e in session.event_list if e["event"] == kind]


class Arrivals:
    """When each stamped frame of a feed reached this kernel, on the session clock's
    monotonic time (a listener beside the recorder's)."""

    def __init__(self, feed):
        self.feed, self.seen = feed, []
        self.unsubscribe = feed.subscribe(self._on_frame)

    def _on_frame(self, frame):
        stamp = sources.read_stamp(self.feed.rgb(frame))
        if stamp is not None:
            self.seen.append((time.monotonic(), stamp[0]))

    def held(self, origin):
        """``(start, end, counter)``: from a frame's arrival until a different one's."""
        runs = []
        for m, c in self.seen:
            if runs and runs[-1][2] == c:
                continue
            if runs:
                runs[-1][1] = m - origin
            runs.append([m - origin, float("inf"), c])
        return runs

    def check(self, origin, t, counter, name):
        """The frame shown at ``t`` in the file is one this kernel held within 1.5 frames
        of ``t``: the recorder puts each frame on the file's frame tick (the nearest: half a
        frame either way) and a frame of a burst on the next free tick (up to one frame
        late), so a frame's run in the file can end 1.5 frames after it ended here."""
        slack = 1.5 * FRAME_MS / 1000
        runs = [r for r in self.held(origin) if r[2] == counter]
        assert any(start <= t + slack and end >= t - slack for start, end, _ in runs), \
            (name, t, counter, runs, self.held(origin)[:8])


def test_session_on_one_clock_with_a_late_joiner(bg_server, media_config, tmp_path):
    """Three bots, one joining late, one chatting and muting: at several session times the
    frame every file shows is the one the kernel held then (within one frame), and the
    manifest lists the joins, the chat and the mute at their times."""
    rec = join(bg_server, "rec", media_config, video=_pattern(), audio=sources.tone(440, -12))
    a = join(bg_server, "a", media_config, video=_pattern(), audio=sources.tone(660, -12))
    late = None
    arrivals = {}
    try:
        rec.wait_for_peers(1, timeout=20 * UNIT)
        assert wait_until(lambda: rec.peer("a").video.frame_count > 10, 20 * UNIT)
        arrivals = {"rec": Arrivals(rec.local.video.feed), "a": Arrivals(rec.peer("a").video)}
        out = tmp_path / "session"
        with rec.record_session(out) as recording:
            assert wait_until(lambda: recording.now() > 1.5, 10 * UNIT)
            late_asked = recording.now()
            late = join(bg_server, "late", media_config, video=_pattern())
            assert wait_until(lambda: "late" in {p.name for p in rec.peers.values()}, 10 * UNIT)
            arrivals["late"] = Arrivals(rec.peer("late").video)
            assert wait_until(lambda: rec.peer("late").video.frame_count > 30, 20 * UNIT)
            a.send("hello all")
            a.local.audio.muted = True
            assert wait_until(lambda: rec.peer("a").media.audio is False, 10 * UNIT)
            started = recording.now()
            assert wait_until(lambda: recording.now() > started + 2.5, 10 * UNIT)
            assert wait_until(lambda: any(
                e["event"] == "chat" for e in zero_nb.session.load(out).event_list), 5 * UNIT)
        session = zero_nb.session.load(out)
    finally:
        for watch in arrivals.values():
            watch.unsubscribe()
        for room in (rec, a, late):
            if room is not None:
                room.leave()

    names = {p.name: p for p in session.participants.values()}
    assert set(names) == {"rec", "a", "late"} and names["rec"].kind == "kernel"
    joins = {e["participant"]: e["t"] for e in _events(session, "join")}
    assert joins[names["late"].id] >= late_asked > joins[names["a"].id]
    chat = _events(session, "chat")
    assert [c["data"] for c in chat] == ["hello all"] and chat[0]["name"] == "a"
    mutes = _events(session, "mute")
    assert [m["participant"] for m in mutes] == [names["a"].id]
    assert chat[0]["t"] <= mutes[0]["t"] + 1.0 and session.ended is not None

    origin = session.header["monotonic_origin"]
    late_start = names["late"].segments[0].offset
    lags = {name: [] for name in names}
    # from when our own listener on the late joiner's feed saw frames too
    first = max(w.seen[0][0] - origin for w in arrivals.values()) + FRAME_MS / 1000
    assert first < session.ended - 1.0
    for t in np.linspace(first, session.ended - 0.3, 10):
        for name in names:
            frame = session.frame_at(name, t)
            assert frame is not None, (name, t)
            counter = sources.read_stamp(frame)[0]
            arrivals[name].check(origin, t, counter, name)
            lags[name].append(_lag_ms(session, frame, t))
    # the same session time is the same instant in every file; what each file shows then
    # left its sender earlier by the network and jitter-buffer delay (none for our own)
    print("send-to-record delay ms:", {n: [round(x) for x in v] for n, v in lags.items()})
    for name, values in lags.items():
        assert min(values) >= -5 and float(np.median(values)) < 1000, (name, values)
    audio = session.audio("rec", late_start, late_start + 1.0)
    assert audio.shape == (48000,) and float(np.abs(audio).max()) > 0.05


CRASH_SCRIPT = """
import json, sys, time
import zero_nb
from zero_nb import sources
url, config, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
room = zero_nb.join("lab", url, name="rec", config=config,
                    video=sources.test_pattern(160, 120, fps=30))
room.record_session(out)
print("recording", flush=True)
while True:
    time.sleep(1)
"""


def test_kill_9_leaves_playable_files_and_a_manifest(bg_server, media_config, tmp_path):
    """kill -9 of a recording process: each file decodes to within 2 s of the kill, and
    the manifest loads with every participant."""
    out = tmp_path / "session"
    a = join(bg_server, "a", media_config, video=_pattern())
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, bg_server.url, json.dumps(media_config["dict"]),
         str(out)], stdout=subprocess.PIPE, env=dict(os.environ))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"recording"

        def remote_file_grows():
            try:
                session = zero_nb.session.load(out)
                seg = session.participant("a").segments[0]
            except (zero_nb.errors.RecordingError, FileNotFoundError):
                return False
            return time.time() - session.header["started_unix"] > seg.offset + 4 and \
                seg.path.stat().st_size > 20_000
        assert wait_until(remote_file_grows, 40 * UNIT, step=0.2)
        proc.send_signal(signal.SIGKILL)
        killed = time.time()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        a.leave()
    session = zero_nb.session.load(out)
    assert session.ended is None and {p.name for p in session.participants.values()} == \
        {"rec", "a"}
    t_kill = killed - session.header["started_unix"]
    for who in session.participants.values():
        seg = who.segments[0]
        with av.open(str(seg.path)) as container:
            last = max(f.time for f in container.decode(video=0) if f.time is not None)
        assert seg.offset + last >= t_kill - 2.0, (who.name, seg.offset + last, t_kill)
        frame = session.frame_at(who.id, t_kill - 2.0)
        assert frame is not None and sources.read_stamp(frame) is not None
