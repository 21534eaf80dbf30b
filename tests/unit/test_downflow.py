"""The kernel -> page comm's batching and flow control (zero_nb.kernel_rtc.downflow): pure."""

from __future__ import annotations

from zero_nb.kernel_rtc.downflow import KEY_RETRY_S, DownFlow, Frame
from zero_nb.kernel_rtc.downlink import vp8_key, vp8_size


def video(slot: int, key: bool, size: int = 1000, ts: int = 0) -> Frame:
    return Frame(slot, "video", "vp8", key, ts, bytes(size), 640, 480)


def audio(slot: int, ts: int = 0) -> Frame:
    return Frame(slot, "audio", "opus", True, ts, bytes(80))


def test_one_message_carries_every_slot_in_order():
    """Frames of all slots pending at a send go out as one m.down, buffers in header order."""
    flow = DownFlow()
    for slot in range(30):
        flow.push(video(slot, True, size=slot + 1))
        flow.push(audio(slot))
    content, buffers = flow.take(0.0)
    assert content["type"] == "m.down" and content["seq"] == 1
    assert len(content["frames"]) == 60 == len(buffers)
    for head, data in zip(content["frames"], buffers, strict=True):
        if head["kind"] == "video":
            assert len(data) == head["slot"] + 1 and (head["w"], head["h"]) == (640, 480)
    assert flow.take(0.0) is None  # nothing pending: no message


def test_deltas_before_the_first_key_frame_are_dropped_and_a_key_asked_for():
    """A slot starts at a key frame: deltas before it are dropped, the source is asked once
    per KEY_RETRY_S, and nothing is asked once the key arrived."""
    flow = DownFlow()
    flow.push(video(0, False))
    assert flow.take(0.0) is None
    assert flow.wanted_keys(0.0) == [0]
    assert flow.wanted_keys(0.1) == []
    assert flow.wanted_keys(KEY_RETRY_S + 0.2) == [0]
    flow.push(video(0, True))
    flow.push(video(0, False))
    content, _ = flow.take(1.0)
    assert [f["key"] for f in content["frames"]] == [True, False]
    assert flow.wanted_keys(5.0) == []


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_full_window_holds_frames_then_drops_the_chain_and_restarts_from_a_key():
    """With max_messages unacked nothing is sent; frames wait up to max_hold, then the
    slot's deltas drop and it waits for a key; after the ack the key (not the stale deltas)
    goes out."""
    clock = Clock()
    flow = DownFlow(max_messages=1, max_hold=0.15, max_age=10.0, clock=clock)
    flow.push(video(0, True))
    assert flow.take(0.0) is not None
    assert flow.backed_up(0.0)
    flow.push(video(0, False))
    assert flow.take(0.1) is None and flow.dropped() == {0: 0}  # held, not dropped yet
    flow.ack(1)
    content, _ = flow.take(0.12)  # in time: the chain goes on
    assert [f["key"] for f in content["frames"]] == [False]
    clock.t = 0.2
    flow.push(video(0, False))
    assert flow.take(0.3) is None
    assert flow.take(0.4) is None and flow.dropped()[0] == 1  # held past max_hold
    flow.push(video(0, False))  # still no key: dropped at once
    assert flow.dropped()[0] == 2
    assert flow.wanted_keys(0.4) == [0]
    clock.t = 0.5
    flow.push(video(0, True))
    flow.push(video(0, False))
    assert flow.take(0.7) is None
    assert flow.dropped()[0] == 3  # the key's delta; the key is kept
    flow.ack(2)
    content, _ = flow.take(0.8)
    assert [f["key"] for f in content["frames"]] == [True]
    assert content["seq"] == 3


def test_the_window_follows_the_ack_round_trip():
    """Acks slower than target_rtt halve the window (once per round trip), fast ones grow
    it back by one up to max_messages."""
    clock = Clock()
    flow = DownFlow(max_messages=8, target_rtt=0.25, clock=clock)

    def send_and_ack(rtt: float) -> None:
        flow.push(audio(0))
        flow.take(clock.t)
        clock.t += rtt
        flow.ack(flow.seq)

    send_and_ack(0.5)
    assert flow.window == 4
    send_and_ack(0.5)
    assert flow.window == 2
    send_and_ack(0.01)
    send_and_ack(0.01)
    assert flow.window == 4
    for _ in range(10):
        send_and_ack(0.01)
    assert flow.window == 8


def test_the_bytes_window_counts_message_overhead():
    """Bytes in flight include what a Jupyter message adds, and bound the window too."""
    flow = DownFlow(max_messages=100, max_inflight=5000)
    flow.push(video(0, True, size=4500))
    flow.take(0.0)
    assert flow.inflight_bytes() > 5000 and flow.backed_up(0.0)
    flow.ack(1)
    assert flow.inflight_bytes() == 0


def test_an_old_unacked_message_drops_every_held_delta():
    """An unacked message older than max_age (the page or its tunnel stalled) drops held
    deltas at once: latency stays bounded however few bytes were in flight."""
    flow = DownFlow(max_messages=100, max_age=0.4, max_hold=10.0)
    flow.push(video(0, True))
    flow.take(0.0)
    flow.push(video(0, False))
    assert flow.take(0.3) is not None  # 0.3 s: still fine
    flow.push(video(0, False))
    assert flow.take(0.5) is None and flow.dropped()[0] == 1
    flow.ack(2)
    assert not flow.backed_up(0.5)


def test_audio_keeps_only_its_newest_packets_while_backed_up():
    """Memory stays bounded while the comm is stuck: audio keeps its newest few packets."""
    flow = DownFlow(max_messages=1)
    flow.push(audio(0))
    flow.take(0.0)
    for i in range(500):
        flow.push(audio(0, ts=i))
        flow.take(1.0 + i * 0.02)
    flow.ack(1)
    content, _ = flow.take(20.0)
    assert [f["ts"] for f in content["frames"]] == list(range(495, 500))


def test_pending_bytes_bound_restarts_the_slot():
    """A chain of deltas larger than max_pending is dropped (the next key restarts it)."""
    flow = DownFlow(max_pending=10_000)
    flow.push(video(0, True, size=4000))
    for _ in range(3):
        flow.push(video(0, False, size=4000))
    assert flow.take(0.0) is None and flow.wanted_keys(0.0) == [0]


def test_page_keyframe_request_and_forget():
    """The page's keyframe op drops the slot's pending chain and asks the source; a slot
    that shows something else forgets its state."""
    flow = DownFlow()
    flow.push(video(3, True))
    flow.key_wanted(3)
    assert flow.take(0.0) is None and flow.wanted_keys(0.0) == [3]
    flow.forget(3)
    assert flow.wanted_keys(1.0) == []


def test_vp8_header_parsing():
    """Key frame bit and the size in a VP8 key frame header (RFC 6386 9.1)."""
    key = bytes([0x50, 0x2A, 0x00, 0x9D, 0x01, 0x2A]) + (640).to_bytes(2, "little") + \
        (480).to_bytes(2, "little")
    assert vp8_key(key) and vp8_size(key) == (640, 480)
    assert not vp8_key(b"\x31\x00\x00") and vp8_size(b"\x31" + bytes(12)) == (0, 0)
