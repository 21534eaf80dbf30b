"""Voice activity, turn-taking figures and the face filter, without sockets."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from zero_nb.analysis import RATE, _gate, _scale, _voice, speech_like
from zero_nb.kernel_rtc.media.feeds import AudioFeed
from zero_nb.kernel_rtc.speech.turns import clip, overlaps, silences, turns
from zero_nb.kernel_rtc.speech.vad import Change, Segmenter, VadSettings, VoiceDetector

pytest.importorskip("webrtcvad")

SCRIPT = [(0.5, 2.0), (2.8, 3.6), (5.0, 7.5), (8.2, 8.6)]
T0 = 1_796_000_000.0  # a wall-clock origin of today (float precision as in use)


def noise(seconds: float, level_db: float, seed: int = 0) -> np.ndarray:
    """White noise at ``level_db`` dBFS as the feeds measure it (AES17)."""
    x = np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    return (x * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2)) / np.sqrt(2)).astype(np.float32)


def bursts(script, seconds: float, level_db: float = -20.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (_scale(140, level_db) * _gate(t, script) * _voice(t, 140)).astype(np.float32)


def segments_of(signal: np.ndarray, settings: VadSettings | None = None, block: int = 960
                ) -> list[tuple[float, float]]:
    """Run the detector over ``signal`` in 20 ms blocks stamped from T0; (start, end) pairs."""
    det = VoiceDetector(settings)
    changes: list[Change] = []
    for i in range(0, len(signal), block):
        chunk = signal[i:i + block]
        changes += det.push(np.stack([chunk, chunk], axis=1), RATE, T0 + (i + len(chunk)) / RATE)
    changes += det.segmenter.close()
    assert [c.speaking for c in changes] == [True, False] * (len(changes) // 2)
    return [(a.time - T0, b.time - T0) for a, b in zip(changes[::2], changes[1::2], strict=True)]


def assert_matches(found, script, tol=0.1):
    assert len(found) == len(script), found
    for (s, e), (fs, fe) in zip(script, found, strict=True):
        assert abs(fs - s) <= tol and abs(fe - e) <= tol, (found, script)


def test_speech_like_level():
    """speech_like() reads the requested dBFS on the feeds' meter."""
    assert AudioFeed.level_of(speech_like(2.0, level_db=-26)) == pytest.approx(-26, abs=0.2)


@pytest.mark.parametrize("aggressiveness", [0, 1, 2, 3])
def test_bursts_in_silence_match_within_100ms(aggressiveness):
    """Speech-like bursts between digital silence: segments match each burst within 100 ms."""
    found = segments_of(bursts(SCRIPT, 9.5), VadSettings(aggressiveness=aggressiveness))
    assert_matches(found, SCRIPT)


def test_bursts_over_noise_match_within_100ms():
    """The same bursts over steady -50 dBFS noise (and a quiet -35 dBFS talker) still match."""
    for level in (-20.0, -35.0):
        found = segments_of(bursts(SCRIPT, 9.5, level) + noise(9.5, -50.0))
        assert_matches(found, SCRIPT)


def test_steady_noise_is_not_speech():
    """30 s of white noise at -50 dBFS (also -40) yields no speech segment at all."""
    for level, seed in ((-50.0, 1), (-40.0, 2)):
        assert segments_of(noise(30.0, level, seed)) == []
    assert segments_of(np.zeros(RATE * 5, np.float32)) == []


def test_other_rates_and_block_sizes():
    """44.1 kHz input is resampled; blocks of any size are cut into VAD frames."""
    sig = bursts(SCRIPT[:2], 4.0)
    assert_matches(segments_of(sig, block=333), SCRIPT[:2])
    x = np.interp(np.arange(int(4.0 * 44100)) * RATE / 44100, np.arange(len(sig)), sig)
    det = VoiceDetector()
    changes = []
    for i in range(0, len(x), 882):
        changes += det.push(x[i:i + 882], 44100, T0 + (i + 882) / 44100)
    starts = [c.time - T0 for c in changes if c.speaking]
    assert len(starts) == 2 and abs(starts[0] - 0.5) <= 0.1 and abs(starts[1] - 2.8) <= 0.1


def test_jittery_arrivals_keep_times():
    """Blocks stamped with +-15 ms arrival jitter and a latency that grows by 100 ms midway:
    segments still match the bursts (plus latency) within 100 ms."""
    sig = bursts(SCRIPT, 9.5)
    rng = np.random.default_rng(3)
    det = VoiceDetector()
    changes: list[Change] = []
    for i in range(0, len(sig), 960):
        latency = 0.05 + (0.1 if i > 4 * RATE else 0.0) + rng.uniform(-0.015, 0.015)
        changes += det.push(sig[i:i + 960], RATE, T0 + (i + 960) / RATE + latency)
    changes += det.segmenter.close()
    found = [(a.time - T0 - 0.05, b.time - T0 - 0.05)
             for a, b in zip(changes[::2], changes[1::2], strict=True)]
    assert_matches(found[:2], SCRIPT[:2])
    assert_matches([(a - 0.1, b - 0.1) for a, b in found[2:]], SCRIPT[2:])


def seg_run(decisions: str, settings: VadSettings) -> list[Change]:
    """Feed a string of 1/0 decisions (20 ms frames) to a Segmenter."""
    seg = Segmenter(settings)
    out: list[Change] = []
    for i, d in enumerate(decisions):
        out += seg.push(i * 0.02, d == "1", -20.0)
    return out + seg.close()


def test_segmenter_hangover_and_min_length():
    """Pauses shorter than the hangover do not split; blips under min_segment_s never count."""
    s = VadSettings(hangover_s=0.2, min_segment_s=0.1)
    one = "1" * 10 + "0" * 5 + "1" * 10 + "0" * 20  # 100 ms pause < 200 ms hangover
    assert seg_run(one, s) == [Change(True, 0.0), Change(False, 0.5)]
    two = "1" * 10 + "0" * 12 + "1" * 10 + "0" * 20  # 240 ms pause > hangover
    assert [c.speaking for c in seg_run(two, s)] == [True, False, True, False]
    blips = "1000000000001100000000000111100"  # 20, 40, 80 ms of voice: all under 100 ms
    assert seg_run(blips, s) == []


def test_segmenter_expires_a_stalled_stream():
    """A stream that stops delivering ends its segment hangover_s after the last voice."""
    seg = Segmenter(VadSettings(hangover_s=0.3, min_segment_s=0.04))
    seg.push(0.0, True)
    assert seg.push(0.02, True) == [Change(True, 0.0)] and seg.speaking
    assert seg.expire(0.2) == []
    assert seg.expire(0.4) == [Change(False, 0.04)] and not seg.speaking


def test_settings_are_checked():
    """Bad settings raise ValueError naming the allowed values."""
    with pytest.raises(ValueError, match=r"0\.\.3"):
        VadSettings(aggressiveness=5)
    with pytest.raises(ValueError, match="10, 20 or 30"):
        VadSettings(frame_ms=25)


def test_missing_extra_names_it(monkeypatch):
    """Without webrtcvad, the error says to install zero_nb[analysis]."""
    from zero_nb.errors import MissingExtra
    from zero_nb.kernel_rtc.speech.tracker import SpeechTracker

    monkeypatch.setitem(sys.modules, "webrtcvad", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"zero_nb\[analysis\]"):
        VoiceDetector()

    class Room:
        hooks: list = []
        add_peer_hook = hooks.append

    tracker = SpeechTracker(Room())
    assert not tracker.available and Room.hooks == []
    with pytest.raises(ImportError, match=r"pip install 'zero_nb\[analysis\]'"):
        tracker.timeline()


def seg(who, start, end):
    return {"peer_id": who, "name": who.upper(), "start": start, "end": end}


CONVERSATION = [seg("a", 0, 2), seg("b", 2.5, 4), seg("a", 3.5, 5), seg("a", 5.3, 6),
                seg("c", 7, 8), seg("b", 7.5, 7.8)]


def test_turns_figures():
    """Speaker changes, overlaps, gaps, pauses and shares of a hand-made conversation."""
    t = turns(CONVERSATION)
    assert [r["name"] for r in t["turns"]] == ["A", "B", "A", "C", "B"]
    assert t["speaker_changes"] == 4
    assert [(o["start"], o["end"], o["names"]) for o in t["overlaps"]] == [
        (3.5, 4, ["A", "B"]), (7.5, 7.8, ["B", "C"])]
    assert t["overlap_s"] == pytest.approx(0.8)
    assert [(g["start"], g["end"], g["before"], g["after"]) for g in t["gaps"]] == [
        (2, 2.5, "A", "B"), (6, 7, "A", "C")]
    assert [(p["start"], p["end"]) for p in t["pauses"]] == [(5, 5.3)]
    rows = {r["name"]: r for r in t["participants"]}
    assert rows["A"]["speaking_s"] == pytest.approx(4.2) and rows["A"]["turns"] == 2
    assert rows["B"]["segments"] == 2 and rows["C"]["turns"] == 1
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["A"]["share"] == pytest.approx(4.2 / 7.0)
    assert t["duration"] == 8 and t["speaking_s"] == pytest.approx(7.0)


def test_turns_of_nothing_and_three_way_overlap():
    """No segments: zeros; three speakers at once: one overlap naming all three."""
    empty = turns([])
    assert empty["speaker_changes"] == 0 and empty["participants"] == []
    over = overlaps([seg("a", 0, 3), seg("b", 1, 2.5), seg("c", 2, 4)])
    assert [(o["start"], o["end"], o["names"]) for o in over] == [(1, 3, ["A", "B", "C"])]
    assert silences([seg("a", 0, 1)]) == ([], [])


def test_clip_to_a_window():
    """clip() cuts segments to a window and drops the ones outside."""
    cut = clip(CONVERSATION, 5.5, 7.6)
    assert [(g["name"], g["start"], g["end"]) for g in cut] == [
        ("A", 5.5, 6), ("C", 7, 7.6), ("B", 7.5, 7.6)]


def test_face_detector_on_the_clip():
    """The Haar filter finds the astronaut's face in >= 90 % of clip frames, draws a box,
    and finds nothing on a plain background."""
    pytest.importorskip("cv2")
    pytest.importorskip("skimage")
    from zero_nb.analysis import FaceDetector, face_frames

    frame = face_frames(320, 240, 15)
    det = FaceDetector()
    for i in range(0, 150, 3):
        img = frame(i)
        out = det(img)
        assert out.shape == img.shape
    assert det.detection_rate >= 0.9, det
    assert det.mean_ms > 0 and len(det.history()[0]) == det.frames
    green = (out[..., 1] == 255) & (out[..., 0] == 0) & (out[..., 2] == 0)
    assert green.sum() > 100  # the box
    assert det.detect(np.full((240, 320, 3), 90, np.uint8)) == []


class _Room:
    """The little of a room host that SpeechTracker uses: hooks, events, identity."""

    peer_id = "me"
    name = "me"
    closed = False

    def __init__(self) -> None:
        self.hooks: list = []
        self.events: list = []

    def add_peer_hook(self, hook) -> None:
        self.hooks.append(hook)

    def local_feed(self, kind):
        return None

    def emit(self, event, *args) -> None:
        self.events.append((event, *args))


def test_tracker_follows_a_feed_on_its_thread():
    """Real-time audio pushed into an AudioFeed: the tracker (worker thread) sets
    feed.speaking, emits speaking True/False and records one segment, closed when the
    feed ends mid-speech."""
    import time
    from types import SimpleNamespace

    import av

    from zero_nb.kernel_rtc.speech.tracker import SpeechTracker

    room = _Room()
    tracker = SpeechTracker(room)
    peer = SimpleNamespace(peer_id="p1", name="anna", audio=AudioFeed("anna"))
    room.hooks[0](peer)
    sig = bursts([(0.1, 0.5), (0.9, 2.0)], 1.4)
    seen_speaking = False
    assert tracker.states() == {"p1": False}
    start = time.time()
    for i in range(0, len(sig), 960):
        pcm = (np.repeat(sig[i:i + 960], 2) * 32767).astype("<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = RATE
        time.sleep(max(0.0, start + i / RATE - time.time()))  # the media clock
        peer.audio._push(frame)
        seen_speaking |= peer.audio.speaking
    peer.audio._end()  # the peer leaves while speaking
    deadline = time.monotonic() + 5
    while len(room.events) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(e[1].name, e[2]) for e in room.events] == [
        ("anna", True), ("anna", False), ("anna", True), ("anna", False)]
    assert seen_speaking and not peer.audio.speaking
    rows = tracker.timeline()
    assert [r["name"] for r in rows] == ["anna", "anna"]
    assert abs(rows[0]["start"] - start - 0.1) < 0.1 and abs(rows[0]["end"] - start - 0.5) < 0.1
    assert abs(rows[1]["start"] - start - 0.9) < 0.1 and tracker.active_speaker() is None
    assert tracker.turns()["speaker_changes"] == 0 and tracker.dropped == 0
