"""The comm transport's page -> kernel half without a browser: the kernel's CommUplink fed
with real VP8/Opus packets (PyAV encodes them), and the page's flow control
(js/widgets/comm_up.js) in Node with a recording stand-in for WebCodecs' encoder."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from zero_nb.config import load_config
from zero_nb.errors import ConfigError
from zero_nb.kernel_rtc.media.feeds import AudioFeed, VideoFeed
from zero_nb.widgets import comm_up
from zero_nb.widgets.comm_up import CommUplink

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


def vp8_packets(n: int, rgb: tuple[int, int, int] = (255, 0, 0)) -> list[tuple[bool, bytes]]:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 160, 120, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.options = {"deadline": "realtime", "lag-in-frames": "0"}
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = rgb
    out = []
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [(p.is_keyframe, bytes(p)) for p in enc.encode(frame)]
    return out


def opus_packets(n: int) -> list[bytes]:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "mono", "s16"
    t = np.arange(960 * n) / 48000
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    out = []
    for i in range(n):
        frame = av.AudioFrame.from_ndarray(pcm[None, i * 960:(i + 1) * 960], format="s16",
                                           layout="mono")
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in enc.encode(frame)]
    return out


class Uplink:
    """A CommUplink with what it sends recorded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.tracks: list[str] = []
        self.video, self.audio = VideoFeed("v"), AudioFeed("a")
        self.up = CommUplink(lambda c, b: self.sent.append(c), view="v1", video=self.video,
                             audio=self.audio, on_track=self.tracks.append)

    def send(self, seq: int, frames: list[tuple[dict[str, Any], bytes]]) -> None:
        self.up.receive({"type": "m.up", "view": "v1", "seq": seq,
                         "frames": [m for m, _ in frames]}, [memoryview(b) for _, b in frames])

    def ops(self, op: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["op"] == op]

    def until(self, cond: Any) -> None:
        deadline = time.monotonic() + 10
        while not cond():
            assert time.monotonic() < deadline, self.up.stats()
            time.sleep(0.01)


def video(key: bool, data: bytes) -> tuple[dict[str, Any], bytes]:
    return {"kind": "video", "codec": "vp8", "key": key, "ts": 0, "w": 160, "h": 120}, data


def test_uplink_decodes_video_and_audio_into_the_feeds_and_acks() -> None:
    u = Uplink()
    packets = vp8_packets(10)
    assert packets[0][0] and not any(k for k, _ in packets[1:])
    u.send(1, [video(k, p) for k, p in packets[:5]])
    u.send(2, [({"kind": "audio", "codec": "opus", "key": True, "ts": 0, "ch": 1,
                 "rate": 48000}, p) for p in opus_packets(10)] +
           [video(k, p) for k, p in packets[5:]])
    u.until(lambda: u.ops("ack") and u.ops("ack")[-1]["seq"] == 2)
    assert u.video.frame_count == 10 and u.audio.frame_count > 0
    r, g, b = u.video.latest().reshape(-1, 3).mean(0)
    assert r > 200 and g < 50 and b < 50
    assert -12 < u.audio.level_db < 0  # a -6 dBFS sine
    assert sorted(u.tracks) == ["audio", "video"]  # each kind's first frame, once
    assert u.ops("keyframe") == [] and u.up.stats()["errors"] == 0
    assert u.up.subshell is False  # sent from the main thread, as without subshells
    u.up.close()


def test_uplink_asks_for_a_key_frame_before_one_and_after_a_decode_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deltas without their key frame are dropped (a key frame asked for); so is a frame
    that fails to decode, which also asks for one and restarts from the next key frame."""
    monkeypatch.setattr(comm_up, "KEYFRAME_RETRY_S", 0.0)  # every request counted
    u = Uplink()
    packets = vp8_packets(6)
    u.send(1, [video(k, p) for k, p in packets[1:3]])  # deltas first: the key was dropped
    u.until(lambda: u.ops("ack"))
    assert u.video.frame_count == 0 and u.up.dropped == 2 and len(u.ops("keyframe")) == 2
    u.send(2, [video(k, p) for k, p in packets[:2]])
    u.until(lambda: len(u.ops("ack")) == 2)
    assert u.video.frame_count == 2
    u.send(3, [video(True, b"\x00garbage" * 10), video(False, packets[2][1])])
    u.until(lambda: len(u.ops("ack")) == 3)
    assert u.up.errors == 1 and len(u.ops("keyframe")) == 4  # the error, the delta after
    assert u.video.frame_count == 2  # the delta after the error waited for a key frame
    u.send(4, [video(True, vp8_packets(1, (0, 0, 255))[0][1])])
    u.until(lambda: u.video.frame_count == 3)
    assert u.video.latest().reshape(-1, 3).mean(0)[2] > 200
    u.up.close()


def test_uplink_receive_never_blocks_on_a_slow_decoder() -> None:
    """receive() returns at once from another thread and marks it a subshell's."""
    u = Uplink()
    done = threading.Event()

    def comm_thread() -> None:
        u.send(1, [video(k, p) for k, p in vp8_packets(3)])
        done.set()

    threading.Thread(target=comm_thread).start()
    assert done.wait(2)
    u.until(lambda: u.ops("ack"))
    assert u.up.subshell is True
    u.up.close()


def test_widgets_transport_config_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZERO_NB_CONFIG", raising=False)
    assert load_config()["widgets"] == {"transport": "auto", "webrtc_timeout": 5.0}
    assert load_config({"widgets": {"transport": "comm"}})["widgets"]["transport"] == "comm"
    with pytest.raises(ConfigError, match=r"widgets\.transport' must be one of auto, webrtc"):
        load_config({"widgets": {"transport": "udp"}})
    with pytest.raises(ConfigError, match=r"webrtc_timeout' must be > 0"):
        load_config({"widgets": {"webrtc_timeout": 0}})


FLOW_JS = """
const [root] = process.argv.slice(1);
const encoded = [];
globalThis.VideoEncoder = class {
  constructor(init) { this.init = init; this.state = "configured"; this.encodeQueueSize = 0; }
  configure() {}
  encode(frame, opts) {
    encoded.push(opts.keyFrame);
    const data = new Uint8Array(opts.keyFrame ? 40000 : 20000);
    this.init.output({ type: opts.keyFrame ? "key" : "delta", byteLength: data.length,
      timestamp: 0, copyTo: (dst) => new Uint8Array(dst).set(data) });
  }
  close() { this.state = "closed"; }
};
const { CommUplink, MAX_IN_FLIGHT } = await import(root + "/js/widgets/comm_up.js");
const sent = [];
const up = new CommUplink({ send: (c, _cb, bufs) => sent.push([c, bufs.length]) }, "v1");
clearInterval(up.timer);  // flushed by hand below
const frame = () => ({ displayWidth: 640, displayHeight: 480, closed: false,
  close() { this.closed = true; } });
const frames = [];
const step = () => { const f = frame(); frames.push(f); up.encodeVideo(f); up.flush(); };
for (let i = 0; i < 20; i++) step();           // nothing acked: past MAX_IN_FLIGHT it drops
const inflightAtDrop = up.inflightBytes;
const droppedBefore = up.counts.dropped;
up.handle({ op: "ack", seq: up.seq });          // the kernel caught up
step(); step();
up.handle({ op: "keyframe" }); step();
console.log(JSON.stringify({ encoded, droppedBefore, inflightAtDrop, max: MAX_IN_FLIGHT,
  inflightAfter: up.inflightBytes, allClosed: frames.every((f) => f.closed),
  seqs: sent.map(([c]) => c.seq), kinds: sent.map(([c]) => c.frames[0].kind) }));
up.close();
"""


def test_page_bounds_bytes_in_flight_and_restarts_from_a_key_frame() -> None:
    """Unacked bytes past MAX_IN_FLIGHT: frames drop before encoding; after the ack the
    next frame is a key frame; a kernel key-frame request gets one; every frame is closed."""
    if NODE is None:
        pytest.skip("node is not installed")
    out = json.loads(subprocess.run([NODE, "--input-type=module", "-e", FLOW_JS, str(ROOT)],
                                    capture_output=True, text=True, check=True).stdout)
    sent_while_blocked = len(out["encoded"]) - 3
    assert out["encoded"][0] is True and not any(out["encoded"][1:sent_while_blocked])
    assert out["inflightAtDrop"] <= out["max"] + 40000  # one frame past the bound at most
    assert out["droppedBefore"] == 20 - sent_while_blocked > 0
    assert out["encoded"][-3:] == [True, False, True]
    assert out["allClosed"] and out["seqs"] == list(range(1, len(out["seqs"]) + 1))


WINDOW_JS = """
const [root] = process.argv.slice(1);
let now = 0;
globalThis.performance = { now: () => now };
const { CommUplink, MAX_WINDOW, TARGET_RTT_MS } = await import(root + "/js/widgets/comm_up.js");
const sent = [];
const sizes = [];
const up = new CommUplink({ send: (c) => { sent.push(c.seq); sizes.push(c.frames.length); } },
  "v1");
clearInterval(up.timer);  // flushed by hand below
const audio = () => up.pending.push({ data: new ArrayBuffer(80), meta: { kind: "audio" } });
const tick = () => { now += 20; audio(); up.flush(); };
const ackAll = () => up.handle({ op: "ack", seq: up.seq });
const start = up.window;
// a fast kernel: every message acked 5 ms after it went
for (let i = 0; i < 20; i++) { tick(); now += 5; ackAll(); }
const fast = up.window;
// a slow tunnel: acks take 1 s; the page may only have `window` messages out
const before = sent.length;
const windows = [];
for (let i = 0; i < 200; i++) {   // 4 s of 20 ms ticks
  tick();
  if (i % 50 === 49) { ackAll(); windows.push(up.window); }
}
console.log(JSON.stringify({ start, fast, max: MAX_WINDOW, target: TARGET_RTT_MS, windows,
  slowSent: sent.length - before, slowSizes: sizes.slice(before),
  seqs: sent.every((s, i) => s === i + 1) }));
up.close();
"""


def test_page_window_follows_the_ack_time() -> None:
    """Fast acks grow the message window to MAX_WINDOW; acks slower than TARGET_RTT_MS halve
    it down to one message in flight, so a slow tunnel gets a few full messages a second
    instead of 50 (each costs the kernel->page direction an ack and two status messages);
    what waits goes in the next message."""
    if NODE is None:
        pytest.skip("node is not installed")
    out = json.loads(subprocess.run([NODE, "--input-type=module", "-e", WINDOW_JS, str(ROOT)],
                                    capture_output=True, text=True, check=True).stdout)
    assert out["start"] < out["fast"] == out["max"]
    assert out["windows"][-1] == 1 and out["windows"] == sorted(out["windows"], reverse=True)
    # 200 ticks in 4 s: the window halves on each 1 s ack (8 + 4 + 2 + 1 messages), and
    # what waited while it was full goes in one message
    assert out["slowSent"] <= 2 * out["max"], out
    assert max(out["slowSizes"]) >= 40 and out["seqs"], out
