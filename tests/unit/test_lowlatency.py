"""Unit tests for zero_nb.kernel_rtc.net.lowlatency on synthetic (but real-payload) RTP."""

from __future__ import annotations

import fractions
import logging
import random
from collections.abc import Iterable, Sequence

import av
import numpy as np
import pytest
from aiortc.codecs import h264_depayload
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from zero_nb.kernel_rtc.net import lowlatency
from zero_nb.kernel_rtc.net.lowlatency import (
    LowLatencyAudioBuffer,
    LowLatencyVideoBuffer,
    counters,
    install,
)

VP8_PT, H264_PT, OPUS_PT, PCMU_PT = 97, 99, 111, 0
SEQ0 = 65_500  # every stream crosses the 16-bit sequence wrap
TS0 = 0xFFFF_FFFF - 20_000  # ... and the 32-bit timestamp wrap


def _codec(pt: int) -> str | None:
    return {VP8_PT: "VP8", H264_PT: "H264", OPUS_PT: "opus", PCMU_PT: "PCMU"}.get(pt)


def _packet(pt: int, seq: int, ts: int, payload: bytes, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(
        payload_type=pt,
        marker=int(marker),
        sequence_number=seq & 0xFFFF,
        timestamp=ts & 0xFFFF_FFFF,
        ssrc=1234,
        payload=payload,
    )
    packet._data = data  # type: ignore[attr-defined]  # what the receiver's depayload sets
    return packet


@pytest.fixture(scope="module")
def vp8_frames() -> list[tuple[list[bytes], int]]:
    """Real VP8 frames (payloads with descriptors, RTP timestamp): 1 to ~30 packets each."""
    encoder = Vp8Encoder()
    encoder.target_bitrate = 1_500_000
    rng = np.random.default_rng(7)
    frames = []
    for i in range(30):
        if i % 3:
            image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        else:
            image = np.full((240, 320, 3), (i * 7) % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = i, fractions.Fraction(1, 30)
        frames.append(encoder.encode(frame))
    return frames


def vp8_stream(
    frames: Sequence[tuple[list[bytes], int]], repeat: int = 1, marker: bool = True
) -> list[RtpPacket]:
    """Packetize frames (repeated with fresh timestamps) as RTP, in sending order."""
    packets: list[RtpPacket] = []
    for r in range(repeat):
        for payloads, ts in frames:
            for j, payload in enumerate(payloads):
                last = marker and j == len(payloads) - 1
                packets.append(
                    _packet(
                        VP8_PT,
                        SEQ0 + len(packets),
                        TS0 + r * 90_000 + ts,
                        payload,
                        last,
                        vp8_depayload(payload),
                    )
                )
    return packets


def feed(buffer: object, packets: Iterable[RtpPacket]) -> list[tuple[int, JitterFrame]]:
    """Feed packets, return (arrival index, frame) for every released frame."""
    out = []
    for index, packet in enumerate(packets):
        _, frame = buffer.add(packet)  # type: ignore[attr-defined]
        if frame is not None:
            out.append((index, frame))
    return out


def truth(packets: Sequence[RtpPacket]) -> dict[int, bytes]:
    """Complete frame bytes per timestamp: depayloaded data joined in sequence order."""
    frames: dict[int, bytes] = {}
    for packet in packets:
        data = packet._data  # type: ignore[attr-defined]
        frames[packet.timestamp] = frames.get(packet.timestamp, b"") + data
    return frames


def video_buffer(capacity: int = 512, gap_deadline_ms: float | None = 100.0
                 ) -> LowLatencyVideoBuffer:
    return LowLatencyVideoBuffer(capacity=capacity, codec_name=_codec,
                                 gap_deadline_ms=gap_deadline_ms)


def fast_rule_only(capacity: int = 512) -> LowLatencyVideoBuffer:
    """The marker rule alone, loss-tail deadline off: frames wait for any retransmission,
    however late (the deadline has its own tests below)."""
    return video_buffer(capacity, gap_deadline_ms=None)


def stock_video(capacity: int = 512) -> JitterBuffer:
    return JitterBuffer(capacity=capacity, is_video=True)


# ---------------------------------------------------------------- video


def test_in_order_frames_released_on_marker_packet(vp8_frames):
    """In order, each frame is released by the fast rule at its marker packet, one packet
    earlier than stock, byte-identical to stock."""
    packets = vp8_stream(vp8_frames)
    buffer = video_buffer()
    released = feed(buffer, packets)
    marker_index = [i for i, p in enumerate(packets) if p.marker]
    assert [i for i, _ in released] == marker_index
    stock = feed(stock_video(), packets)
    assert len(stock) == len(released) - 1  # stock never releases the last frame
    for (i, ours), (j, theirs) in zip(released, stock, strict=False):
        assert (ours.data, ours.timestamp) == (theirs.data, theirs.timestamp)
        assert j == i + 1
    assert buffer.frames_fast == len(vp8_frames) and buffer.frames_fallback == 0


def test_reordered_within_frame_released_when_complete(vp8_frames):
    """Packets reordered inside a frame: released when its last missing packet arrives."""
    packets = vp8_stream(vp8_frames[:3])  # 1 + 33 + 15 packets
    order = list(range(len(packets)))
    order[10], order[33] = order[33], order[10]  # marker packet of the 33-packet frame early
    released = feed(video_buffer(), [packets[i] for i in order])
    assert [i for i, _ in released] == [0, 33, 48]
    assert [f.data for _, f in released] == list(truth(packets).values())


def test_loss_then_retransmission_releases_on_arrival(vp8_frames):
    """A lost packet retransmitted later: its frame is released as soon as it arrives."""
    packets = vp8_stream(vp8_frames[:6])
    lost = 10  # inside frame 1 (packets 1..33)
    arrival = [p for i, p in enumerate(packets) if i != lost]
    arrival.insert(40, packets[lost])  # retransmission
    buffer = video_buffer()
    released = feed(buffer, arrival)
    assert released[1][0] == 40  # frame 1 released on the retransmitted packet
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.frames_fast == 6


def test_stream_starting_mid_frame_falls_back_to_stock(vp8_frames):
    """A stream joined mid-frame: that partial head is never released by the fast rule;
    it follows stock exactly, and the next frames are fast."""
    packets = vp8_stream(vp8_frames[:4])[5:]  # starts inside the 33-packet frame
    buffer = video_buffer()
    released = feed(buffer, packets)
    stock = feed(stock_video(), packets)
    assert (released[0][0], released[0][1].data) == (stock[0][0], stock[0][1].data)
    assert buffer.frames_fallback == 1 and buffer.frames_fast == 2
    assert [f.data for _, f in released[1:]] == list(truth(packets).values())[1:]


def test_missing_marker_bit_falls_back_to_next_timestamp(vp8_frames):
    """Without marker bits frames are released when the next timestamp arrives, like stock."""
    packets = vp8_stream(vp8_frames[:8], marker=False)
    buffer = video_buffer()
    released = feed(buffer, packets)
    stock = feed(stock_video(), packets)
    assert [(i, f.data, f.timestamp) for i, f in released] == [
        (i, f.data, f.timestamp) for i, f in stock
    ]
    assert buffer.frames_fast == 0 and buffer.frames_fallback == 7


def test_frame_without_marker_bit_released_on_next_timestamp(vp8_frames):
    """One frame whose marker bit is missing falls back: released whole when the next
    timestamp arrives, never merged with or cut by the next frame."""
    packets = vp8_stream(vp8_frames[:5])  # 1 + 33 + 15 + 1 + 12 packets
    packets[33].marker = 0  # end of frame 1
    # frame 2 complete except its first packet, which comes last
    arrival = packets[:34] + packets[35:49] + [packets[34]] + packets[49:]
    buffer = video_buffer()
    released = feed(buffer, arrival)
    assert [i for i, _ in released] == [0, 48, 49, 50, 61]
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert (buffer.frames_fast, buffer.frames_fallback) == (4, 1)


def test_lost_marker_packet_never_releases_partial(vp8_frames):
    """While a frame's marker packet is missing nothing partial is released; when it
    arrives the whole frame is released, then the frames queued behind it."""
    packets = vp8_stream(vp8_frames[:5], repeat=2)
    marker = next(i for i, p in enumerate(packets) if p.marker and i > 1)  # end of frame 1
    first_pass = [p for i, p in enumerate(packets[:64]) if i != marker]
    released = feed(fast_rule_only(), first_pass)
    assert [f.timestamp for _, f in released] == [packets[0].timestamp]  # frame 0 only
    buffer = fast_rule_only()
    released = feed(buffer, [*first_pass, packets[marker], *packets[64:]])
    assert released[1][0] == len(first_pass)  # whole frame 1 on the late marker packet
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.frames_fast == 10


def test_duplicates_release_each_frame_once(vp8_frames):
    """Duplicated packets (before and after release) never release a frame twice."""
    packets = vp8_stream(vp8_frames[:10])
    arrival = []
    for i, packet in enumerate(packets):
        arrival.append(packet)
        if i % 4 == 0:
            arrival.append(packet)  # immediate duplicate
        if i >= 5:
            arrival.append(packets[i - 5])  # late duplicate
    buffer = video_buffer()
    released = feed(buffer, arrival)
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.late_dropped > 0


def test_padding_after_marker_is_dropped_not_stalling(vp8_frames):
    """An empty padding packet with the released frame's timestamp is dropped in place."""
    packets = vp8_stream(vp8_frames[:3])
    pad = _packet(VP8_PT, 0, packets[0].timestamp, b"", False, b"")
    arrival = [packets[0], pad]
    for packet in packets[1:]:
        arrival.append(packet)
        packet.sequence_number = (packet.sequence_number + 1) & 0xFFFF
    pad.sequence_number = (SEQ0 + 1) & 0xFFFF
    buffer = video_buffer()
    released = feed(buffer, arrival)
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.frames_fast == 3 and buffer.late_dropped == 1


def test_unknown_codec_behaves_exactly_like_stock(vp8_frames):
    """With no codec mapping (payload type unknown) the buffer is stock aiortc."""
    packets = vp8_stream(vp8_frames)
    ours = feed(LowLatencyVideoBuffer(), packets)
    stock = feed(stock_video(), packets)
    assert [(i, f.data) for i, f in ours] == [(i, f.data) for i, f in stock]


def _shuffle(packets: list[RtpPacket], rng: random.Random, loss: float, retransmit: bool):
    """Locally reordered arrival; `loss` of packets arrive 10-40 later or never; the
    first packet arrives first (so no stream starts mid-frame)."""
    keyed: list[tuple[float, RtpPacket]] = [(-1, packets[0])]
    for i, packet in enumerate(packets[1:], start=1):
        if rng.random() < loss:
            if not retransmit:
                continue
            keyed.append((i + rng.randint(10, 40), packet))
        else:
            keyed.append((i + rng.uniform(0, 4), packet))
    return [p for _, p in sorted(keyed, key=lambda kv: kv[0])]


@pytest.mark.parametrize("seed", range(12))
def test_shuffled_with_retransmitted_loss_property(vp8_frames, seed):
    """Shuffle + 5% loss recovered by retransmission: every frame released once, complete,
    byte-identical to stock, in order, and never later (by packet index) than stock."""
    packets = vp8_stream(vp8_frames, repeat=3)
    arrival = _shuffle(packets, random.Random(seed), 0.05, retransmit=True)
    expected = truth(packets)
    buffer = fast_rule_only()
    ours = feed(buffer, arrival)
    stock = feed(stock_video(), arrival)
    our_index = {f.timestamp: i for i, f in ours}
    assert len(our_index) == len(ours)  # no frame released twice
    for _, frame in ours:
        assert frame.data == expected[frame.timestamp]  # never partial
    assert [f.timestamp for _, f in ours] == list(expected)[: len(ours)]  # in order
    for index, frame in stock:
        assert frame.data == expected[frame.timestamp]
        assert our_index[frame.timestamp] <= index
    assert buffer.frames_fast > buffer.frames_fallback


@pytest.mark.parametrize("capacity", [64, 512])
@pytest.mark.parametrize("seed", range(6))
def test_permanent_loss_fast_frames_never_partial(vp8_frames, seed, capacity):
    """5% permanent loss (buffer overflows, stock discards): fast-released frames are
    always complete and no timestamp is released twice."""
    packets = vp8_stream(vp8_frames, repeat=4)
    arrival = _shuffle(packets, random.Random(seed), 0.05, retransmit=False)
    expected = truth(packets)
    buffer = video_buffer(capacity)
    released = []
    for packet in arrival:
        before = buffer.frames_fast
        _, frame = buffer.add(packet)
        if frame is not None:
            released.append(frame.timestamp)
            if buffer.frames_fast > before:
                assert frame.data == expected[frame.timestamp]
    assert len(set(released)) == len(released)
    assert buffer.frames_fast > 0


def _h264_stream(frames: int, marker: bool = True) -> list[RtpPacket]:
    """H264 access units: single NAL SPS+PPS+IDR / FU-A slices, marker on the last."""
    packets: list[RtpPacket] = []
    for f in range(frames):
        if f % 5 == 0:
            nals = [b"\x67" + bytes([f, 1, 2]), b"\x68" + bytes([f, 3]), b"\x65" + bytes(900)]
        else:
            body = bytes([f]) * 2500
            nals = [  # FU-A: start, middle, end fragments of one slice
                b"\x7c\x81" + body[:1000],
                b"\x7c\x01" + body[1000:2000],
                b"\x7c\x41" + body[2000:],
            ]
        for j, payload in enumerate(nals):
            last = marker and j == len(nals) - 1
            packets.append(
                _packet(
                    H264_PT,
                    SEQ0 + len(packets),
                    TS0 + f * 3000,
                    payload,
                    last,
                    h264_depayload(payload),
                )
            )
    return packets


def test_h264_chain_rule():
    """H264: the first access unit follows stock; each one after a marker-ended frame is
    released on its own marker; a frame lost in the middle restarts via stock."""
    packets = _h264_stream(12)
    buffer = video_buffer()
    released = feed(buffer, packets)
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.frames_fallback == 1 and buffer.frames_fast == 11
    markers = [i for i, p in enumerate(packets) if p.marker]
    assert [i for i, _ in released] == [3, *markers[1:]]

    packets = _h264_stream(40)
    expected = truth(packets)
    buffer = fast_rule_only(capacity=16)  # small: the stall ends by overflow quickly
    fast_after_loss = 0
    for index, packet in enumerate(packets):
        if index == 7:
            continue  # lost for good, middle of frame 2
        before = buffer.frames_fast
        _, frame = buffer.add(packet)
        if buffer.frames_fast > before:
            assert frame is not None and frame.data == expected[frame.timestamp]
            fast_after_loss += index > 7
    assert buffer.frames_fallback == 2  # start-up, and the restart after the overflow
    assert fast_after_loss > 20


def test_h264_without_marker_bits_is_stock():
    """H264 without marker bits never uses the fast rule."""
    packets = _h264_stream(6, marker=False)
    buffer = video_buffer()
    released = feed(buffer, packets)
    assert [(i, f.data) for i, f in released] == [
        (i, f.data) for i, f in feed(stock_video(), packets)
    ]
    assert buffer.frames_fast == 0


# ---------------------------------------------------------------- video loss tail


def feed_pli(buffer: object, packets: Iterable[RtpPacket]
             ) -> tuple[list[tuple[int, JitterFrame]], list[int]]:
    """Like :func:`feed`, plus the arrival indexes at which a PLI was asked for."""
    out, plis = [], []
    for index, packet in enumerate(packets):
        pli, frame = buffer.add(packet)  # type: ignore[attr-defined]
        if frame is not None:
            out.append((index, frame))
        if pli:
            plis.append(index)
    return out, plis


def restamped(packets: Sequence[RtpPacket], seq: int, ts: int) -> list[RtpPacket]:
    """Copies of ``packets`` continuing at sequence number ``seq``, timestamps + ``ts``."""
    return [_packet(p.payload_type, seq + i, p.timestamp + ts, p.payload, bool(p.marker),
                    p._data) for i, p in enumerate(packets)]  # type: ignore[attr-defined]


def test_keyframe_detection():
    """Key frame starts: VP8 P bit after any descriptor; H264 SPS/IDR, STAP-A, FU-A."""
    vp8 = lowlatency._vp8_keyframe_start
    assert vp8(b"\x10\x9c") and not vp8(b"\x10\x9d")  # no extension: P=0 vs P=1
    assert vp8(b"\x90\x80\x81\x02\x9c") and not vp8(b"\x90\x80\x81\x02\x9d")  # 15-bit id
    assert vp8(b"\x90\xe0\x05\x01\x20\x9c")  # 7-bit picture id, TL0PICIDX, TID
    assert not vp8(b"\x00\x9c") and not vp8(b"\x90") and not vp8(b"")  # not a frame start
    h264 = lowlatency._h264_keyframe_start
    assert h264(b"\x67\x42") and h264(b"\x65\x88") and not h264(b"\x61\x88")
    assert h264(b"\x7c\x85\x00") and not h264(b"\x7c\x05\x00") and not h264(b"\x7c\x81")
    assert h264(b"\x18\x00\x02\x09\xf0\x00\x02\x67\x42")  # STAP-A: AUD, then SPS
    assert not h264(b"\x18\x00\x02\x09\xf0") and not h264(b"")


def test_complete_keyframe_behind_gap_released_at_once(vp8_frames):
    """A packet lost for good: the next key frame is released as soon as it is complete,
    long before the deadline; the frames between are dropped, never released partial."""
    packets = vp8_stream(vp8_frames[:5], repeat=2)  # each repeat starts with a key frame
    lost = 10  # inside frame 1
    arrival = [p for i, p in enumerate(packets) if i != lost]
    second = (packets[0].timestamp + 90_000) & 0xFFFF_FFFF
    key = next(i for i, p in enumerate(arrival) if p.timestamp == second)
    arrival.insert(key + 1, packets[lost])  # its retransmission, too late: dropped
    buffer = video_buffer(gap_deadline_ms=10_000)
    released, plis = feed_pli(buffer, arrival)
    assert [i for i, _ in released][:2] == [0, key]
    expected = truth(packets)
    assert [f.timestamp for _, f in released] == [packets[0].timestamp, *list(expected)[5:]]
    assert all(f.data == expected[f.timestamp] for _, f in released)
    assert buffer.frames_skipped == 4 and buffer.gaps_skipped == 0 and not plis
    assert buffer.late_dropped == 1


def test_deadline_drops_frames_behind_gap_and_asks_for_a_keyframe(vp8_frames):
    """No key frame behind the gap: once the newest packet is the deadline (100 ms of RTP
    time) past the last released frame, the frames behind the gap are dropped, a PLI goes
    out (again once per deadline), and the key frame that answers it is released whole."""
    packets = vp8_stream(vp8_frames[:12])  # one key frame, then deltas at 3000 ticks
    lost = 10
    arrival = [p for i, p in enumerate(packets) if i != lost]
    buffer = video_buffer()
    released, plis = feed_pli(buffer, arrival)
    assert [f.timestamp for _, f in released] == [packets[0].timestamp]
    due = [i for i, p in enumerate(arrival)
           if (p.timestamp - packets[0].timestamp) & 0xFFFF_FFFF >= 9000]
    assert plis[0] == due[0] and buffer.gaps_skipped == 1
    assert len(plis) == 3  # re-asked once per 100 ms: at ts 9000, 18000 and 27000
    answer = restamped(vp8_stream(vp8_frames[:3]), SEQ0 + len(packets), 40_000)
    more, plis = feed_pli(buffer, answer)
    assert [i for i, _ in more] == [0, 33, 48]  # the key frame, then deltas, on markers
    assert [f.data for _, f in more] == list(truth(answer).values())
    assert buffer.frames_skipped == 11 and not plis


def test_retransmission_before_deadline_still_wins(vp8_frames):
    """A gap repaired before the deadline delays its frame only: nothing is skipped."""
    packets = vp8_stream(vp8_frames[:12])
    lost = 40  # frame 2 (packets 34..48)
    arrival = [p for i, p in enumerate(packets) if i != lost]
    arrival.insert(49, packets[lost])  # frame 3 arrived meanwhile: 67 ms < 100 ms
    buffer = video_buffer()
    released, plis = feed_pli(buffer, arrival)
    assert [f.data for _, f in released] == list(truth(packets).values())
    assert buffer.frames_skipped == 0 and buffer.gaps_skipped == 0 and not plis


def test_h264_gap_skipped_to_next_idr():
    """H264: an access unit lost for good is skipped to the next complete IDR; the chain
    rule then resumes (fast releases on markers)."""
    packets = _h264_stream(12)  # IDR every 5th access unit
    arrival = [p for i, p in enumerate(packets) if i != 7]  # middle of access unit 2
    buffer = video_buffer(gap_deadline_ms=10_000)
    released, _ = feed_pli(buffer, arrival)
    expected = truth(packets)
    stamps = list(expected)
    assert [f.timestamp for _, f in released] == [*stamps[:2], *stamps[5:]]
    assert all(f.data == expected[f.timestamp] for _, f in released)
    assert buffer.frames_skipped == 3 and buffer.frames_fallback == 1


# ---------------------------------------------------------------- audio


@pytest.fixture(scope="module")
def opus_payloads() -> list[bytes]:
    """Real 20 ms Opus packets of a 440 Hz tone."""
    encoder = OpusEncoder()
    payloads: list[bytes] = []
    for i in range(40):
        t = np.arange(960) + i * 960
        tone = (np.sin(2 * np.pi * 440 * t / 48000) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.stack([tone, tone]).T.reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, i * 960
        frame.time_base = fractions.Fraction(1, 48000)
        payloads += encoder.encode(frame)[0]
    return payloads


def opus_stream(payloads: Sequence[bytes]) -> list[RtpPacket]:
    return [_packet(OPUS_PT, SEQ0 + i, TS0 + 960 * i, p, i == 0, p) for i, p in enumerate(payloads)]


def audio_buffer() -> LowLatencyAudioBuffer:
    return LowLatencyAudioBuffer(codec_name=_codec)


def _decode(frames: Iterable[bytes]) -> np.ndarray:
    decoder = OpusDecoder()
    decoded = [f for d in frames for f in decoder.decode(JitterFrame(d, 0))]
    pcm = [f.to_ndarray() for f in decoded if isinstance(f, av.AudioFrame)]
    return np.concatenate(pcm, axis=1)


def test_audio_in_order_released_immediately(opus_payloads):
    """In-order audio: every packet is released on arrival, unchanged, depth stays 0."""
    packets = opus_stream(opus_payloads)
    buffer = audio_buffer()
    for packet in packets:
        _, frame = buffer.add(packet)
        assert frame is not None and frame.data == packet._data  # type: ignore[attr-defined]
        assert frame.timestamp == packet.timestamp and buffer.depth == 0


def test_audio_single_loss_skipped_after_bound(opus_payloads):
    """One lost packet is skipped after 3 packets, counted, and the backlog is released
    at once as one repacketized Opus frame that decodes to the same PCM; depth returns to 0."""
    packets = opus_stream(opus_payloads)
    buffer = audio_buffer()
    out = [buffer.add(p)[1] for p in packets[:10]]
    assert all(f is not None for f in out)
    assert buffer.add(packets[11])[1] is None and buffer.depth == 1  # 10 is lost
    assert buffer.add(packets[12])[1] is None and buffer.depth == 2
    _, merged = buffer.add(packets[13])
    assert merged is not None and merged.timestamp == packets[11].timestamp
    assert buffer.depth == 0 and buffer.concealed == 1 and buffer.coalesced == 3
    np.testing.assert_array_equal(_decode([merged.data]), _decode(opus_payloads[11:14]))
    for packet in packets[14:]:
        assert buffer.add(packet)[1] is not None and buffer.depth == 0


def test_audio_reorder_within_bound_is_not_concealed(opus_payloads):
    """A packet arriving one slot late is waited for; both are released together."""
    packets = opus_stream(opus_payloads[:6])
    buffer = audio_buffer()
    assert buffer.add(packets[0])[1] is not None
    assert buffer.add(packets[2])[1] is None
    _, frame = buffer.add(packets[1])
    assert frame is not None and frame.timestamp == packets[1].timestamp
    np.testing.assert_array_equal(_decode([frame.data]), _decode(opus_payloads[1:3]))
    assert buffer.concealed == 0 and buffer.depth == 0


def test_audio_late_and_duplicate_dropped(opus_payloads):
    """A skipped packet arriving late, and duplicates of released or held packets, are
    dropped and counted."""
    packets = opus_stream(opus_payloads[:10])
    buffer = audio_buffer()
    feed(buffer, [packets[0], packets[2], packets[2], packets[3], packets[4]])
    assert buffer.concealed == 1 and buffer.late_dropped == 1  # held duplicate
    assert buffer.add(packets[1]) == (False, None)  # the skipped one, late
    assert buffer.add(packets[3]) == (False, None)  # released already
    assert buffer.late_dropped == 3 and buffer.depth == 0


def test_audio_burst_loss_stays_shallow(opus_payloads):
    """A burst of 5 lost packets: the buffer never holds more than the bound and is
    empty once the burst is passed."""
    packets = opus_stream(opus_payloads)
    buffer = audio_buffer()
    depths = []
    for packet in packets[:10] + packets[15:]:
        buffer.add(packet)
        depths.append(buffer.depth)
    assert max(depths) <= 2 and depths[-1] == 0 and buffer.concealed == 5


def test_audio_does_not_merge_across_timestamp_jump(opus_payloads):
    """Contiguous sequence numbers but a timestamp jump (DTX) are not coalesced."""
    packets = opus_stream(opus_payloads[:6])
    for packet in packets[3:]:
        packet.timestamp = (packet.timestamp + 48_000) & 0xFFFF_FFFF
    buffer = audio_buffer()
    feed(buffer, [packets[0], packets[2], packets[3]])
    _, frame = buffer.add(packets[4])
    assert frame is not None and frame.timestamp == packets[2].timestamp
    assert frame.data == packets[2]._data  # type: ignore[attr-defined]
    assert buffer.depth == 2  # 3 and 4 (one new timestamp run) wait for the next packet
    _, frame = buffer.add(packets[5])
    assert frame is not None and frame.timestamp == packets[3].timestamp
    assert buffer.depth == 0 and buffer.coalesced == 3


def test_pcmu_backlog_is_concatenated():
    """G.711 packets released together are concatenated (timestamps contiguous)."""
    packets = [
        _packet(PCMU_PT, SEQ0 + i, TS0 + 160 * i, bytes([i]) * 160, False, bytes([i]) * 160)
        for i in range(5)
    ]
    buffer = audio_buffer()
    feed(buffer, [packets[0], packets[2], packets[3]])
    _, frame = buffer.add(packets[4])
    assert frame is not None and frame.data == b"".join(p.payload for p in packets[2:])


def test_opus_split_all_packet_codes(opus_payloads):
    """The RFC 6716 parser handles codes 0-3 (CBR, VBR, padding) and rejects junk."""
    frame = opus_payloads[0][1:]
    toc = opus_payloads[0][0] & 0xFC
    assert lowlatency._opus_split(bytes([toc]) + frame) == (toc, [frame])
    assert lowlatency._opus_split(bytes([toc | 1]) + frame[:10] * 2) == (toc | 1, [frame[:10]] * 2)
    code2 = bytes([toc | 2]) + lowlatency._opus_write_len(300) + frame[:300] + frame[:7]
    assert lowlatency._opus_split(code2) == (toc | 2, [frame[:300], frame[:7]])
    cbr_padded = bytes([toc | 3, 0x40 | 2, 255, 3]) + frame[:20] * 2 + bytes(257)
    assert lowlatency._opus_split(cbr_padded) == (toc | 3, [frame[:20]] * 2)
    assert lowlatency._opus_split(b"") is None
    assert lowlatency._opus_split(bytes([toc | 1]) + b"abc") is None
    assert lowlatency._opus_split(bytes([toc | 3, 0])) is None


# ---------------------------------------------------------------- install / counters


def _receiver(kind: str):
    from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    transport = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    return RTCRtpReceiver(kind, transport)


def test_available_on_installed_aiortc():
    """The pinned aiortc exposes every internal we rely on."""
    assert lowlatency.AVAILABLE, lowlatency.UNAVAILABLE_REASON
    assert lowlatency.UNAVAILABLE_REASON is None
    assert "outside the tested range" in (lowlatency._check_version("1.17.0") or "")
    assert lowlatency._check_version("1.14.0") is None


async def test_install_swaps_real_receiver_buffers():
    """install() swaps a real receiver's buffer for the right kind; counters reflect it."""
    video, audio = _receiver("video"), _receiver("audio")
    assert counters(video)["low_latency"] is False
    assert not any(v for k, v in counters(video).items() if k != "low_latency")
    assert install(video) and install(audio)
    assert isinstance(video._RTCRtpReceiver__jitter_buffer, LowLatencyVideoBuffer)
    assert isinstance(audio._RTCRtpReceiver__jitter_buffer, LowLatencyAudioBuffer)
    assert install(video)  # idempotent
    assert counters(video)["low_latency"] and counters(audio)["low_latency"]
    assert set(counters(audio)) >= {
        "low_latency",
        "frames_fast",
        "frames_fallback",
        "audio_concealed",
        "late_dropped",
    }


async def test_installed_receiver_uses_its_codec_mapping(vp8_frames):
    """Packets through the receiver's own _handle_rtp_packet use its payload-type map."""
    from aiortc import RTCRtpCodecParameters

    receiver = _receiver("video")
    assert install(receiver)
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=VP8_PT)
    receiver._RTCRtpReceiver__codecs[VP8_PT] = codec  # what receive() does, minus media
    for packet in vp8_stream(vp8_frames[:5]):
        await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    assert counters(receiver)["frames_fast"] == 5


async def test_install_noop_when_unavailable(monkeypatch, caplog):
    """If AVAILABLE is False, install returns False, leaves the receiver alone, warns once."""
    receiver = _receiver("video")
    original = receiver._RTCRtpReceiver__jitter_buffer
    monkeypatch.setattr(lowlatency, "AVAILABLE", False)
    monkeypatch.setattr(lowlatency, "UNAVAILABLE_REASON", "test reason")
    monkeypatch.setattr(lowlatency, "_warned", False)
    with caplog.at_level(logging.WARNING, logger=lowlatency.__name__):
        assert install(receiver) is False
        assert install(receiver) is False
    assert receiver._RTCRtpReceiver__jitter_buffer is original
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "test reason" in warnings[0]
    assert "webrtc.low_latency: false" in warnings[0]
    assert counters(receiver)["low_latency"] is False


async def test_install_refuses_receiver_with_buffered_packets(vp8_frames):
    """A receiver whose stock buffer already holds packets is not swapped."""
    receiver = _receiver("video")
    receiver._RTCRtpReceiver__jitter_buffer.add(vp8_stream(vp8_frames[:1])[0])
    assert install(receiver) is False
    assert type(receiver._RTCRtpReceiver__jitter_buffer) is JitterBuffer
