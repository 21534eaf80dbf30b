"""Low-latency receive path: per-receiver replacements for aiortc's jitter buffers.

Stock aiortc (1.14-1.16) releases a video frame only when a packet with a *later*
RTP timestamp arrives behind it, so every frame waits one frame interval; audio waits
for 4 packets of prefetch and, having no NACK, stays ~300 ms deep after a single loss.

* :class:`LowLatencyVideoBuffer` releases a frame as soon as it is provably complete:
  first packet through marker packet present, contiguous and with one timestamp.
  Everything else (gap, no marker yet, unknown codec, stream starting mid-frame) falls
  back to aiortc's own rule, which is inherited unchanged.
* :class:`LowLatencyAudioBuffer` releases packets in sequence order on arrival, waits
  for a missing packet at most ``wait_packets`` packets (60 ms at 20 ms ptime), then
  skips it. Packets that became ready together are coalesced into one frame (Opus
  repacketized per RFC 6716 section 3.2, G.711/G.722 concatenated) because aiortc takes
  at most one frame per received packet: without this the buffer would stay deep.

Frame start detection:

* VP8: the first packet carries a payload descriptor with S=1 and PID=0 (RFC 7741).
* H264: a packet cannot tell whether it starts an access unit (SPS/PPS/SEI/slices
  may each start a packet). Instead we use the marker bit of the *previous* frame:
  when the frame we just released ended with a marker packet (RFC 6184: marker = last
  packet of an access unit), the next sequence number starts the next access unit.
  The first frame after start-up or a discontinuity is therefore released by the stock
  rule, and every following one by the fast rule. The only extra assumption over VP8
  (which also trusts the marker for the frame end) is that senders set the marker bit
  as RFC 6184 requires, which browsers and aiortc do.

The codec is looked up per packet from the receiver's own payload-type mapping
(``RTCRtpReceiver.__codecs``): payload types are dynamic per negotiation, and that
dict is filled in place by ``receive()`` *after* ``pc.on("track")`` fires, so a lazy
lookup is the only source of truth that is correct when ``install`` runs.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

try:
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame
except ImportError as _exc:  # pragma: no cover - only with an incompatible aiortc layout
    _IMPORT_ERROR: str | None = f"aiortc.jitterbuffer is not importable ({_exc})"

    class JitterFrame:  # type: ignore[no-redef]
        """Placeholder so this module imports; never used while AVAILABLE is False."""

        def __init__(self, data: bytes, timestamp: int) -> None:
            raise RuntimeError(_IMPORT_ERROR)

    class JitterBuffer:  # type: ignore[no-redef]
        """Placeholder so this module imports; never used while AVAILABLE is False."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(_IMPORT_ERROR)

else:
    _IMPORT_ERROR = None

if TYPE_CHECKING:
    from aiortc import RTCRtpReceiver
    from aiortc.rtp import RtpPacket

__all__ = [
    "AVAILABLE",
    "UNAVAILABLE_REASON",
    "LowLatencyAudioBuffer",
    "LowLatencyVideoBuffer",
    "counters",
    "install",
]

logger = logging.getLogger(__name__)

#: aiortc versions whose receiver internals this module was written against.
_TESTED_RANGE = ((1, 14), (1, 17))
# Name-mangled private attributes of RTCRtpReceiver that we read or replace.
_JB_ATTR = "_RTCRtpReceiver__jitter_buffer"
_KIND_ATTR = "_RTCRtpReceiver__kind"
_CODECS_ATTR = "_RTCRtpReceiver__codecs"
# Same as aiortc.jitterbuffer.MAX_MISORDER: a jump this large is a stream reset.
_MAX_MISORDER = 100

CodecName = Callable[[int], str | None]


def _seq_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFF


def _no_codec(payload_type: int) -> str | None:
    return None


# --------------------------------------------------------------------------- video


def _vp8_keyframe_start(payload: bytes) -> bool:
    """First packet of a VP8 key frame: descriptor S=1, PID=0, then P=0 (RFC 7741)."""
    if not payload or payload[0] & 0x1F != 0x10:
        return False
    pos = 1
    if payload[0] & 0x80:  # X: an extension octet |I|L|T|K|RSV|
        if len(payload) < 2:
            return False
        ext, pos = payload[1], 2
        if ext & 0x80:  # I: PictureID, 7 or 15 bits (M flag)
            if pos >= len(payload):
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        pos += bool(ext & 0x40)  # L: TL0PICIDX
        pos += bool(ext & 0x30)  # T or K: TID/KEYIDX octet
    return pos < len(payload) and payload[pos] & 0x01 == 0


def _h264_keyframe_start(payload: bytes) -> bool:
    """A packet starting an H264 key frame: SPS or IDR, alone, in STAP-A or FU-A start."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 28:  # FU-A: start bit and the fragmented NAL's type
        return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
    if nal == 24:  # STAP-A: 16-bit size, then each NAL
        pos = 1
        while pos + 2 < len(payload):
            if payload[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + (payload[pos] << 8 | payload[pos + 1])
    return False


_KEYFRAME_START = {"VP8": _vp8_keyframe_start, "H264": _h264_keyframe_start}


class LowLatencyVideoBuffer(JitterBuffer):
    """aiortc video ``JitterBuffer`` that also releases frames on their marker packet, and
    gives up on a gap that retransmission did not repair.

    ``codec_name(payload_type)`` returns the codec name ("VP8", "H264", ...) or None.
    Stock aiortc holds every frame behind a missing packet until it arrives (or 512 packets
    later). Here, when a complete key frame is waiting behind the gap it is released at once
    (what it skips is not needed to decode it); otherwise, once the newest packet is
    ``gap_deadline_ms`` of RTP time past the last released frame, the frames behind the gap
    are dropped, a key frame is requested (PLI) and the next complete key frame is released:
    late frames are dropped, never released late or partial. ``None`` turns this off.
    Deterministic: driven by sequence numbers and RTP timestamps, not the wall clock.
    """

    def __init__(self, capacity: int = 512, codec_name: CodecName | None = None,
                 gap_deadline_ms: float | None = 100.0) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self._codec_name: CodecName = codec_name or _no_codec
        self._released_ts: int | None = None  # RTP timestamp of the last released frame
        # Sequence number known to start a frame because the previous one ended on a
        # marker packet (H264 frame-start rule); None when unknown.
        self._chain_start: int | None = None
        self._last_removed: RtpPacket | None = None
        self._deadline = None if gap_deadline_ms is None else int(gap_deadline_ms * 90)
        self._newest: RtpPacket | None = None  # highest sequence number received
        self._need_key = False  # gave up on a gap: only a key frame can be decoded now
        self._pli_ts: int | None = None  # newest RTP timestamp when we last asked for one
        self.frames_fast = 0
        self.frames_fallback = 0
        self.late_dropped = 0
        self.gaps_skipped = 0  # unrepaired gaps given up on
        self.frames_skipped = 0  # frames dropped behind them (counted by timestamp)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Store ``packet``; return ``(pli_flag, frame or None)`` like aiortc."""
        if self._origin is not None:
            delta = _seq_add(packet.sequence_number, -self._origin)
            misorder = _seq_add(self._origin, -packet.sequence_number)
            if misorder < delta:
                if misorder < _MAX_MISORDER:
                    self.late_dropped += 1  # stock drops it: older than what was released
                else:
                    self._forget()  # stock resets the whole buffer
            elif delta >= self.capacity:
                self._chain_start = None  # stock discards frames to make room
        newest = self._newest
        if newest is None or 0 < _seq_add(packet.sequence_number,
                                           -newest.sequence_number) < 0x8000:
            self._newest = packet
        pli, frame = super().add(packet)
        if frame is None and self._deadline is not None:
            frame, asked = self._unblock()
            pli = pli or asked
        return pli, frame

    def remove(self, count: int) -> None:
        """Drop ``count`` packets from the head (aiortc API), remembering the last."""
        if count > 0 and self._origin is not None:
            self._last_removed = self._packets[(self._origin + count - 1) % self._capacity]
        super().remove(count)

    def _forget(self) -> None:
        self._released_ts = None
        self._chain_start = None
        self._newest = None
        self._need_key = False

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        self._drop_released_tail()
        if self._need_key:
            return self._release_key(0)
        frame = self._fast_frame()
        if frame is not None:
            self.frames_fast += 1
            return frame
        self._last_removed = None
        frame = super()._remove_frame(sequence_number)
        if frame is not None:
            self.frames_fallback += 1
            last = self._last_removed
            self._released_ts = frame.timestamp
            self._chain_start = (
                _seq_add(last.sequence_number, 1) if last is not None and last.marker else None
            )
        return frame

    def _drop_released_tail(self) -> None:
        # Packets at the head that carry the timestamp of a frame already released
        # (padding after the marker, stray duplicates) would otherwise either stall the
        # head or be released as a second copy of that frame.
        while self._released_ts is not None and self._origin is not None:
            pos = self._origin % self._capacity
            packet = self._packets[pos]
            if packet is None or packet.timestamp != self._released_ts:
                return
            self._packets[pos] = None
            if self._chain_start == self._origin:
                self._chain_start = _seq_add(self._origin, 1)
            self._origin = _seq_add(self._origin, 1)
            self.late_dropped += 1

    def _at(self, count: int) -> RtpPacket | None:
        """The packet ``count`` places after the head, if it is there."""
        assert self._origin is not None
        seq = _seq_add(self._origin, count)
        packet = self._packets[seq % self._capacity]
        return packet if packet is not None and packet.sequence_number == seq else None

    def _span(self) -> int:
        """Sequence numbers from the head to the newest packet (0 when empty)."""
        if self._origin is None or self._newest is None:
            return 0
        span = _seq_add(self._newest.sequence_number, -self._origin) + 1
        return span if span <= self._capacity else 0

    def _complete(self, count: int) -> list[RtpPacket] | None:
        """The packets of the frame starting ``count`` after the head, through its marker
        packet, if all are there (contiguous, one timestamp and payload type)."""
        first = self._at(count)
        if first is None:
            return None
        packets: list[RtpPacket] = []
        for offset in range(count, count + self._capacity):
            packet = self._at(offset)
            if (packet is None or packet.timestamp != first.timestamp
                    or packet.payload_type != first.payload_type):
                return None  # gap or foreign packet before the marker: not provably whole
            packets.append(packet)
            if packet.marker:
                return packets
        return None

    def _take(self, packets: list[RtpPacket]) -> JitterFrame:
        # Same bytes as aiortc's own assembly: the depayloaded data of each packet.
        frame = JitterFrame(
            data=b"".join([p._data for p in packets]),  # type: ignore[attr-defined]
            timestamp=packets[0].timestamp,
        )
        self.remove(len(packets))
        self._released_ts = packets[0].timestamp
        self._chain_start = _seq_add(packets[-1].sequence_number, 1)
        return frame

    def _fast_frame(self) -> JitterFrame | None:
        if self._origin is None:
            return None
        first = self._at(0)
        if first is None:
            return None
        codec = (self._codec_name(first.payload_type) or "").upper()
        if codec == "VP8":
            # RFC 7741 descriptor, first octet |X|R|N|S|R|PID|: S=1 and PID=0 (aiortc
            # parses R+PID as one 4-bit field, so the reserved bit must be 0 as well).
            if not first.payload or first.payload[0] & 0x1F != 0x10:
                return None
        elif codec == "H264":
            if self._chain_start != self._origin:
                return None
        else:
            return None
        packets = self._complete(0)
        return None if packets is None else self._take(packets)

    # -- the loss tail: gaps that retransmission did not repair ----------------------------
    def _unblock(self) -> tuple[JitterFrame | None, bool]:
        """Nothing was released: if a gap holds the head, skip to a complete key frame
        behind it, or after the deadline give up on it. Returns ``(frame, pli_flag)``."""
        if self._need_key:
            return None, self._ask_key(force=False)
        span = self._span()
        gap = next((c for c in range(span) if self._at(c) is None), None)
        if gap is None:
            return None, False  # nothing missing: the head frame is still arriving
        frame = self._release_key(gap + 1)
        if frame is not None:
            return frame, False
        if self._age() < (self._deadline or 0):
            return None, False  # still worth waiting for a retransmission
        self._need_key = True
        self.gaps_skipped += 1
        return None, self._ask_key(force=True)

    def _age(self) -> int:
        """RTP ticks from the last released frame (else the oldest held) to the newest."""
        assert self._newest is not None
        ref = self._released_ts
        if ref is None:
            held = next((p for c in range(self._span()) if (p := self._at(c)) is not None),
                        self._newest)
            ref = held.timestamp
        age = (self._newest.timestamp - ref) & 0xFFFF_FFFF
        return age if age < 0x8000_0000 else 0

    def _ask_key(self, force: bool) -> bool:
        """Whether to send a PLI now: at once on giving up, then once per deadline."""
        assert self._newest is not None
        now = self._newest.timestamp
        if not force and self._pli_ts is not None and \
                (now - self._pli_ts) & 0xFFFF_FFFF < (self._deadline or 0):
            return False
        self._pli_ts = now
        return True

    def _release_key(self, start: int) -> JitterFrame | None:
        """Release the first complete key frame at or after ``start`` (from the head),
        dropping everything before it; None if there is none yet."""
        for count in range(start, self._span()):
            first = self._at(count)
            if first is None:
                continue
            codec = (self._codec_name(first.payload_type) or "").upper()
            is_key = _KEYFRAME_START.get(codec)
            if is_key is None or not is_key(first.payload):
                continue
            packets = self._complete(count)
            if packets is None:
                continue
            skipped = {p.timestamp for c in range(count) if (p := self._at(c)) is not None}
            self.frames_skipped += len(skipped - {self._released_ts})
            self.remove(count)
            self._need_key = False
            self.frames_fast += 1
            return self._take(packets)
        return None


# --------------------------------------------------------------------------- audio

_OPUS_MAX_FRAME_BYTES = 1275
_OPUS_MAX_SAMPLES = 5760  # 120 ms at 48 kHz: the most one Opus packet may carry


def _opus_frame_samples(toc: int) -> int:
    """Samples (48 kHz) per Opus frame for a TOC byte (RFC 6716 table 2)."""
    config = toc >> 3
    if config < 12:  # SILK-only
        return (480, 960, 1920, 2880)[config & 3]
    if config < 16:  # hybrid
        return (480, 960)[config & 1]
    return (120, 240, 480, 960)[config & 3]  # CELT-only


def _opus_read_len(buf: bytes, pos: int) -> tuple[int, int] | None:
    if pos >= len(buf):
        return None
    if buf[pos] < 252:
        return buf[pos], pos + 1
    if pos + 1 >= len(buf):
        return None
    return buf[pos] + 4 * buf[pos + 1], pos + 2


def _opus_write_len(length: int) -> bytes:
    if length < 252:
        return bytes([length])
    first = 252 + (length & 3)
    return bytes([first, (length - first) >> 2])


def _opus_split(data: bytes) -> tuple[int, list[bytes]] | None:
    """Return ``(toc, frames)`` of one Opus packet, or None if malformed (RFC 6716 3.2)."""
    if not data:
        return None
    toc, body, code = data[0], data[1:], data[0] & 3
    if code == 0:
        frames = [body]
    elif code == 1:
        if len(body) % 2:
            return None
        half = len(body) // 2
        frames = [body[:half], body[half:]]
    elif code == 2:
        read = _opus_read_len(body, 0)
        if read is None or read[0] + read[1] > len(body):
            return None
        size, pos = read
        frames = [body[pos : pos + size], body[pos + size :]]
    else:
        if not body or not body[0] & 0x3F:
            return None
        vbr, padded, count = body[0] & 0x80, body[0] & 0x40, body[0] & 0x3F
        pos, padding = 1, 0
        while padded:
            if pos >= len(body):
                return None
            padding += 254 if body[pos] == 255 else body[pos]
            padded = body[pos] == 255
            pos += 1
        end = len(body) - padding
        if end < pos:
            return None
        if vbr:
            sizes = []
            for _ in range(count - 1):
                read = _opus_read_len(body, pos)
                if read is None:
                    return None
                sizes.append(read[0])
                pos = read[1]
            sizes.append(end - pos - sum(sizes))
        else:
            if (end - pos) % count:
                return None
            sizes = [(end - pos) // count] * count
        if sizes[-1] < 0:
            return None
        frames = []
        for size in sizes:
            frames.append(body[pos : pos + size])
            pos += size
    if any(len(f) > _OPUS_MAX_FRAME_BYTES for f in frames):
        return None
    return toc, frames


def _opus_duration(data: bytes) -> int | None:
    split = _opus_split(data)
    return None if split is None else len(split[1]) * _opus_frame_samples(split[0])


def _opus_join(packets: Sequence[bytes]) -> bytes | None:
    """Repacketize Opus packets into one code-3 VBR packet, or None if impossible."""
    toc: int | None = None
    frames: list[bytes] = []
    for data in packets:
        split = _opus_split(data)
        # One packet has a single TOC: mode, bandwidth, frame size and stereo must match.
        if split is None or (toc is not None and split[0] & 0xFC != toc):
            return None
        toc = split[0] & 0xFC
        frames += split[1]
    if toc is None or len(frames) * _opus_frame_samples(toc) > _OPUS_MAX_SAMPLES:
        return None
    return b"".join(
        [bytes([toc | 3, 0x80 | len(frames)])]
        + [_opus_write_len(len(f)) for f in frames[:-1]]
        + frames
    )


def _sample_join(packets: Sequence[bytes]) -> bytes | None:
    return b"".join(packets)


def _sample_duration(data: bytes) -> int | None:
    # PCMU/PCMA: one byte per 8 kHz sample; G.722: RTP clock is 8 kHz and one byte
    # carries two 16 kHz samples, i.e. also one clock tick per byte.
    return len(data)


# name -> (RTP timestamp ticks of a payload, join payloads into one decodable payload)
_AUDIO_CODECS: dict[
    str, tuple[Callable[[bytes], int | None], Callable[[Sequence[bytes]], bytes | None]]
] = {
    "OPUS": (_opus_duration, _opus_join),
    "PCMU": (_sample_duration, _sample_join),
    "PCMA": (_sample_duration, _sample_join),
    "G722": (_sample_duration, _sample_join),
}


class LowLatencyAudioBuffer:
    """Drop-in for aiortc's audio ``JitterBuffer``: no prefetch, bounded wait for gaps.

    A missing packet is waited for until ``wait_packets`` newer packets' worth of
    sequence numbers have arrived (3 = 60 ms at 20 ms ptime), then skipped and counted
    in ``concealed``. Deterministic: driven by sequence numbers, not the wall clock.
    """

    def __init__(self, wait_packets: int = 3, codec_name: CodecName | None = None) -> None:
        if wait_packets < 1:
            raise ValueError("wait_packets must be >= 1")
        self._wait = wait_packets
        self._codec_name: CodecName = codec_name or _no_codec
        self._next: int | None = None  # next sequence number to release
        self._newest = 0  # newest sequence number received (valid once _next is set)
        self._pending: dict[int, RtpPacket] = {}
        self.concealed = 0
        self.coalesced = 0  # packets released as part of a multi-packet frame
        self.late_dropped = 0

    @property
    def capacity(self) -> int:
        """Largest accepted sequence jump (``capacity`` kept for JitterBuffer duck typing)."""
        return _MAX_MISORDER

    @property
    def depth(self) -> int:
        """Packets currently held back."""
        return len(self._pending)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Store ``packet``; return ``(False, frame or None)`` like aiortc."""
        seq = packet.sequence_number
        if self._next is None:
            self._next = self._newest = seq
        else:
            ahead = _seq_add(seq, -self._next)
            behind = _seq_add(self._next, -seq)
            if behind < ahead:
                if behind < _MAX_MISORDER:
                    self.late_dropped += 1  # older than what was released or skipped
                    return False, None
                self._reset(seq)
            elif ahead >= _MAX_MISORDER:
                self._reset(seq)
            elif seq in self._pending:
                self.late_dropped += 1  # duplicate
                return False, None
            elif 0 < _seq_add(seq, -self._newest) < 0x8000:
                self._newest = seq
        self._pending[seq] = packet
        return False, self._release()

    def _reset(self, seq: int) -> None:
        # Sequence numbers jumped (new SSRC, sender restart): what we held is stale.
        self.late_dropped += len(self._pending)
        self._pending.clear()
        self._next = self._newest = seq

    def _release(self) -> JitterFrame | None:
        assert self._next is not None
        batch: list[RtpPacket] = []
        while self._pending:
            packet = self._pending.get(self._next)
            if packet is None:
                if batch:
                    break  # never coalesce across a gap: it would shift later audio
                span = _seq_add(self._newest, -self._next)
                if span < self._wait:
                    break  # still worth waiting for the missing packet
                first = min(_seq_add(s, -self._next) for s in self._pending)
                skip = min(first, span - self._wait + 1)
                self.concealed += skip
                self._next = _seq_add(self._next, skip)
                continue
            if batch and not self._can_join(batch, packet):
                break
            batch.append(packet)
            del self._pending[self._next]
            self._next = _seq_add(self._next, 1)
        if not batch:
            return None
        datas = [p._data for p in batch]  # type: ignore[attr-defined]
        if len(batch) == 1:
            data = datas[0]
        else:
            joined = self._joiner(batch[0])[1](datas)
            assert joined is not None  # checked by _can_join
            data = joined
            self.coalesced += len(batch)
        return JitterFrame(data=data, timestamp=batch[0].timestamp)

    def _joiner(
        self, packet: RtpPacket
    ) -> tuple[Callable[[bytes], int | None], Callable[[Sequence[bytes]], bytes | None]]:
        name = (self._codec_name(packet.payload_type) or "").upper()
        return _AUDIO_CODECS.get(name, (lambda data: None, lambda datas: None))

    def _can_join(self, batch: list[RtpPacket], packet: RtpPacket) -> bool:
        last = batch[-1]
        if packet.payload_type != last.payload_type:
            return False
        duration, join = self._joiner(last)
        ticks = duration(last._data)  # type: ignore[attr-defined]
        # Only contiguous audio: a timestamp jump (DTX) must keep its own frame/pts.
        if ticks is None or (last.timestamp + ticks) & 0xFFFFFFFF != packet.timestamp:
            return False
        return join([p._data for p in [*batch, packet]]) is not None  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- install


def _version_tuple(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def _check_version(version: str) -> str | None:
    parsed = _version_tuple(version)
    low, high = _TESTED_RANGE
    if parsed is None or not low <= parsed < high:
        return (
            f"aiortc {version} is outside the tested range >={low[0]}.{low[1]},<{high[0]}.{high[1]}"
        )
    return None


def _probe() -> str | None:
    """Return why the aiortc internals we rely on are missing, or None if all present."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    try:
        reason = _check_version(importlib.metadata.version("aiortc"))
        if reason:
            return reason
        from aiortc.rtcrtpreceiver import RTCRtpReceiver

        add_params = list(inspect.signature(JitterBuffer.add).parameters)
        if add_params != ["self", "packet"]:
            return f"JitterBuffer.add has signature {add_params}, expected (self, packet)"
        remove_params = list(inspect.signature(JitterBuffer._remove_frame).parameters)
        if remove_params != ["self", "sequence_number"]:
            return f"JitterBuffer._remove_frame has signature {remove_params}"
        probe = JitterBuffer(capacity=16, is_video=True)
        for name in (
            "_origin",
            "_packets",
            "_capacity",
            "_is_video",
            "capacity",
            "remove",
            "smart_remove",
        ):
            if not hasattr(probe, name):
                return f"aiortc JitterBuffer has no {name!r}"
        frame = JitterFrame(data=b"", timestamp=0)
        if not (hasattr(frame, "data") and hasattr(frame, "timestamp")):
            return "aiortc JitterFrame lacks data/timestamp"
        # Name mangling happens at compile time, so the mangled names show up in the
        # bytecode: this checks the receiver without constructing one (no transport).
        needs = {
            "__init__": {_JB_ATTR, _KIND_ATTR},
            "_handle_rtp_packet": {_JB_ATTR, _CODECS_ATTR, "add"},
            "receive": {_CODECS_ATTR},
        }
        for method, names in needs.items():
            code = getattr(getattr(RTCRtpReceiver, method, None), "__code__", None)
            missing = names - set(code.co_names if code is not None else ())
            if missing:
                return f"RTCRtpReceiver.{method} no longer uses {sorted(missing)}"
    except Exception as exc:  # any surprise means "do not patch"
        return f"cannot inspect aiortc internals ({type(exc).__name__}: {exc})"
    return None


UNAVAILABLE_REASON: str | None = _probe()
AVAILABLE: bool = UNAVAILABLE_REASON is None
_warned = False


class _ReceiverCodecs:
    """Payload type -> codec name, read from the receiver at packet time."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self._receiver = receiver

    def __call__(self, payload_type: int) -> str | None:
        codec = getattr(self._receiver, _CODECS_ATTR, {}).get(payload_type)
        return None if codec is None else str(codec.name)


def install(receiver: RTCRtpReceiver) -> bool:
    """Give ``receiver`` a low-latency jitter buffer; return True if it has one.

    Call from ``pc.on("track")`` (before RTP flows). No-op returning False when
    :data:`AVAILABLE` is False or the receiver already received packets.
    """
    global _warned
    if not AVAILABLE:
        if not _warned:
            _warned = True
            logger.warning(
                "low-latency receive path is off: %s (set webrtc.low_latency: false to "
                "silence this warning)",
                UNAVAILABLE_REASON,
            )
        return False
    current = getattr(receiver, _JB_ATTR, None)
    if isinstance(current, LowLatencyVideoBuffer | LowLatencyAudioBuffer):
        return True
    if type(current) is not JitterBuffer or current._origin is not None:
        # Unknown buffer, or packets already buffered that a swap would lose.
        logger.warning("low-latency receive path not installed: receiver already in use")
        return False
    kind = getattr(receiver, _KIND_ATTR, None) or ("video" if current._is_video else "audio")
    codecs = _ReceiverCodecs(receiver)
    buffer: JitterBuffer | LowLatencyAudioBuffer
    if kind == "video":
        buffer = LowLatencyVideoBuffer(capacity=current.capacity, codec_name=codecs)
    else:
        buffer = LowLatencyAudioBuffer(codec_name=codecs)
    setattr(receiver, _JB_ATTR, buffer)
    return True


_VIDEO_COUNTERS = {name: name for name in (
    "frames_fast", "frames_fallback", "late_dropped", "gaps_skipped", "frames_skipped")}
_AUDIO_COUNTERS = {"audio_concealed": "concealed", "audio_coalesced": "coalesced",
                   "late_dropped": "late_dropped", "depth": "depth"}


def counters(receiver: RTCRtpReceiver) -> dict[str, Any]:
    """Low-latency counters of ``receiver`` (zeros and ``low_latency`` False if absent)."""
    buffer = getattr(receiver, _JB_ATTR, None)
    result: dict[str, Any] = {
        "low_latency": False,
        "frames_fast": 0,
        "frames_fallback": 0,
        "audio_concealed": 0,
        "audio_coalesced": 0,
        "late_dropped": 0,
        "gaps_skipped": 0,
        "frames_skipped": 0,
        "depth": 0,
    }
    # counter name in the result -> the buffer's attribute
    fields = _VIDEO_COUNTERS if isinstance(buffer, LowLatencyVideoBuffer) else \
        _AUDIO_COUNTERS if isinstance(buffer, LowLatencyAudioBuffer) else {}
    if fields:
        result["low_latency"] = True
        result.update({name: getattr(buffer, attr) for name, attr in fields.items()})
    return result
