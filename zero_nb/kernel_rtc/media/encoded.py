"""Encoded sources: a file's VP8 / H.264 / Opus packets sent as they are — no decode, no encode.

``sources.from_file(path, loop=True, encoded=True)`` lands here. aiortc's ``RTCRtpSender`` packs
an ``av.Packet`` returned by a track instead of encoding a frame (what ``MediaPlayer(decode=False)``
does), so a participant sending a file costs a demuxer and the packetiser: a class of students
fits in one process on a small machine.

What the file needs, and what follows from sending it unchanged:
- **Codecs**: video VP8 (``.webm``, ``.ivf``, ``.mkv``) or H.264 (``.mp4``, ``.ts``, ``.mkv``;
  constrained baseline, no B-frames); audio Opus. Anything else raises :class:`SourceError`.
- **Keyframes**: keyframe requests (PLI/FIR) cannot be honoured, so a receiver that starts late,
  or loses a keyframe, sees nothing until the file's *next* keyframe. Encode with a keyframe every
  1 to 2 s (``write_test_clip`` uses 1 s): a late joiner then waits at most that long.
- **Bitrate**: fixed by the file; congestion control (REMB) cannot lower it.
- **Filters** need decoded frames: adding one to an encoded source raises :class:`SourceError`.
- **Pause / mute**: video sends a black keyframe (encoded once) at 2 fps, audio a silent Opus
  packet; on resume video skips ahead to the file's next keyframe, so the picture never smears.
- **Pacing**: packets leave at their timestamps (wall clock); a stalled loop resynchronises
  instead of bursting; ``loop=True`` restarts the file with continuing timestamps.
- **Codec negotiation**: VP8 is everyone's first choice already; an H.264 file makes the
  connection offer H.264 only (:func:`prefer_codec`), and an SFU room must allow H.264.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ...errors import SourceError
from .sources import AudioSource, MediaSource, VideoSource, _write_stamp

__all__ = ["EncodedAudioSource", "EncodedVideoSource", "encoded_from_file", "prefer_codec",
           "write_test_clip"]

MIME = {"vp8": "video/VP8", "h264": "video/H264", "opus": "audio/opus"}
AUDIO_RATE = 48_000
OPUS_SAMPLES = 960  # 20 ms
PAUSED_PERIOD_S = 0.5  # black keyframes while paused, like VideoSource
BATCH = 64  # packets demuxed per executor hop: few thread hops per second per source
RESYNC_S = 1.0  # further behind than this (a stalled loop): restart the clock, never burst

# (payload, pts in seconds, keyframe, duration in seconds)
_Item = tuple[bytes, float, bool, float]


class _Demuxer:
    """One stream's packets, read in batches on the source's executor thread; loops."""

    def __init__(self, path: str, kind: str, loop: bool) -> None:
        self.path, self.kind, self.loop = path, kind, loop
        self._packets: Iterator[_Item] | None = None

    def _pass(self) -> Iterator[_Item]:
        with av.open(self.path) as container:
            stream = container.streams.video[0] if self.kind == "video" \
                else container.streams.audio[0]
            tb = stream.time_base or fractions.Fraction(1, 1000)
            bsf = _annexb_filter(container, stream)
            for packet in container.demux(stream):
                for pkt in (bsf.filter(packet) if bsf is not None else [packet]):
                    stamp = pkt.pts if pkt.pts is not None else pkt.dts
                    if stamp is None or pkt.size == 0:
                        continue
                    yield (bytes(pkt), float(stamp * tb), bool(pkt.is_keyframe),
                           float((pkt.duration or 0) * tb))

    def _items(self) -> Iterator[_Item]:
        offset = 0.0
        while True:
            end = offset
            first: float | None = None
            for data, pts, key, duration in self._pass():
                if first is None:
                    first = pts
                t = offset + pts - first
                end = max(end, t + duration)
                yield data, t, key, duration
            if not self.loop or first is None:
                return
            offset = end if end > offset else offset + 0.04

    def read(self) -> list[_Item]:
        """Up to BATCH packets; [] at the end of a file that does not loop."""
        if self._packets is None:
            self._packets = self._items()
        out = []
        for item in self._packets:
            out.append(item)
            if len(out) >= BATCH:
                break
        return out


def _annexb_filter(container: Any, stream: Any) -> Any:
    """mp4/mkv hold H.264 length-prefixed; RTP packing needs Annex-B start codes."""
    if stream.codec_context.name != "h264" or container.format.name == "mpegts":
        return None
    from av.bitstream import BitStreamFilterContext

    return BitStreamFilterContext("h264_mp4toannexb", stream)


def _probe(path: str) -> dict[str, Any]:
    try:
        container = av.open(path)
    except (OSError, av.error.FFmpegError) as exc:  # type: ignore[attr-defined]
        raise SourceError(f"cannot open media file {path!r}: {exc}") from exc
    with container:
        info: dict[str, Any] = {}
        if container.streams.video:
            stream = container.streams.video[0]
            info["video"] = {"codec": stream.codec_context.name,
                             "width": stream.codec_context.width,
                             "height": stream.codec_context.height,
                             "fps": float(stream.average_rate or 30)}
        if container.streams.audio:
            info["audio"] = {"codec": container.streams.audio[0].codec_context.name}
    for kind, allowed in (("video", ("vp8", "h264")), ("audio", ("opus",))):
        codec = info.get(kind, {}).get("codec")
        if codec is not None and codec not in allowed:
            raise SourceError(
                f"{path!r}: its {kind} is {codec}; encoded=True sends packets unchanged, so "
                f"{kind} must be {' or '.join(allowed)}: re-encode the file (e.g. "
                "zero_nb.sources.write_test_clip, or ffmpeg -c:v libvpx -g 15 -c:a libopus), "
                "or use encoded=False to decode and re-encode it live")
    return info


class _EncodedTrack(MediaStreamTrack):
    """Packets of an encoded source, paced by their timestamps on the wall clock."""

    def __init__(self, source: EncodedVideoSource | EncodedAudioSource) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._queue: collections.deque[_Item] = collections.deque()
        self._t0 = 0.0  # wall clock of file time 0
        self._want_key = True  # (re)start the clock at the next packet (video: keyframe)
        self._origin: float | None = None  # wall clock of outgoing pts 0
        self._samples = 0  # outgoing audio pts: counted, so it never jitters

    async def _next_item(self) -> _Item | None:
        if not self._queue:
            loop = asyncio.get_running_loop()
            try:
                batch = await loop.run_in_executor(self._source._executor,
                                                   self._source._demuxer.read)
            except RuntimeError:  # executor shut: the source was closed
                return None
            except (OSError, av.error.FFmpegError) as exc:  # type: ignore[attr-defined]
                raise SourceError(f"reading {self._source.path!r} failed: {exc}") from exc
            self._queue.extend(batch)
        return self._queue.popleft() if self._queue else None

    async def recv(self) -> av.Packet:
        source = self._source
        while True:
            if self.readyState != "live" or source.ended:
                self.stop()
                raise MediaStreamError
            if isinstance(source, EncodedVideoSource) and source.paused:
                await asyncio.sleep(PAUSED_PERIOD_S)
                self._want_key = True  # resume at a keyframe: a delta would smear
                loop = asyncio.get_running_loop()
                return self._packet(await loop.run_in_executor(source._executor,
                                                               source._black_keyframe), 0.0)
            item = await self._next_item()
            if item is None:
                source.ended = True
                continue
            data, pts, key, duration = item
            if self._want_key and self.kind == "video" and not key:
                continue  # decoders need a keyframe first
            now = time.monotonic()
            if self._want_key or self._t0 + pts < now - RESYNC_S:
                self._t0 = now - pts  # (re)start the clock here: no wait, no burst
                self._want_key = False
            due = self._t0 + pts
            if due > now:
                await asyncio.sleep(due - now)
            if isinstance(source, EncodedAudioSource) and source.muted:
                data = source._silence()
            return self._packet(data, duration)

    def _packet(self, data: bytes, duration: float) -> av.Packet:
        packet = av.Packet(data)
        if self.kind == "audio":
            packet.time_base = fractions.Fraction(1, AUDIO_RATE)
            packet.pts = self._samples
            packet.duration = round(duration * AUDIO_RATE) or OPUS_SAMPLES
            self._samples += packet.duration
        else:
            now = time.monotonic()
            if self._origin is None:
                self._origin = now
            packet.time_base = fractions.Fraction(1, 90_000)
            packet.pts = int((now - self._origin) * 90_000)
        return packet


def _encoded_track(self: Any) -> MediaStreamTrack:
    """``track()`` of both encoded sources: one track of packets, made on first use."""
    if self._track is None:
        self._track = _EncodedTrack(self)
    return self._track  # type: ignore[no-any-return]


class EncodedVideoSource(VideoSource):
    """A file's VP8 or H.264 packets, sent unchanged (see the module docstring)."""

    encoded = True

    def __init__(self, path: str, info: dict[str, Any], loop: bool) -> None:
        super().__init__(_no_frames, info["fps"], label=f"encoded file {path}")
        self.path = path
        self.codec: str = info["codec"]
        self.mime_type = MIME[self.codec]
        self.width: int = info["width"]
        self.height: int = info["height"]
        self._demuxer = _Demuxer(path, "video", loop)
        self._black_data: bytes | None = None

    track = _encoded_track

    def _black_keyframe(self) -> bytes:
        """One black keyframe in the file's codec and size, encoded once (executor)."""
        if self._black_data is None:
            self._black_data = _encode_black(self.codec, self.width, self.height)
        return self._black_data

    def __repr__(self) -> str:
        return f"<EncodedVideoSource {self.codec} {self.path}" \
               f"{' paused' if self.paused else ''}>"


class EncodedAudioSource(AudioSource):
    """A file's Opus packets, sent unchanged; muted: a silent Opus packet instead."""

    encoded = True

    def __init__(self, path: str, loop: bool) -> None:
        super().__init__(_no_frames, label=f"encoded file {path}")
        self.path = path
        self.codec = "opus"
        self.mime_type = MIME["opus"]
        self._demuxer = _Demuxer(path, "audio", loop)
        self._silent: bytes | None = None

    track = _encoded_track

    def _silence(self) -> bytes:
        if self._silent is None:
            self._silent = _encode_silence()
        return self._silent

    def __repr__(self) -> str:
        return f"<EncodedAudioSource opus {self.path}{' muted' if self.muted else ''}>"


def _no_frames(index: int) -> np.ndarray:
    raise SourceError("an encoded source sends packets, never decoded frames")


def _encode_black(codec: str, width: int, height: int) -> bytes:
    ctx = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    if codec == "h264":
        ctx.options = {"profile": "baseline", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return bytes(packets[0])


def _encode_silence() -> bytes:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = AUDIO_RATE, "stereo", "s16"
    data: list[bytes] = []
    for i in range(5):  # past the encoder's start-up packets
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2 * OPUS_SAMPLES), np.int16),
                                           format="s16", layout="stereo")
        frame.sample_rate, frame.pts = AUDIO_RATE, i * OPUS_SAMPLES
        data.extend(bytes(p) for p in ctx.encode(frame))
    return data[-1]


def encoded_from_file(path: str | Path, *, loop: bool = False
                      ) -> tuple[EncodedVideoSource | None, EncodedAudioSource | None]:
    """``(video, audio)`` sending ``path``'s packets unchanged (either may be None)."""
    info = _probe(str(path))
    if not info:
        raise SourceError(f"{str(path)!r} has neither video nor audio streams")
    video = EncodedVideoSource(str(path), info["video"], loop) if "video" in info else None
    audio = EncodedAudioSource(str(path), loop) if "audio" in info else None
    return video, audio


def prefer_codec(transceiver: Any, source: MediaSource | None) -> None:
    """Offer / answer only the codec an encoded ``source`` carries (plus RTX); no-op otherwise.

    VP8 is the default first choice anyway; this is what makes an H.264 file negotiate H.264."""
    mime = getattr(source, "mime_type", None)
    if mime is None:
        return
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() in (mime.lower(), "video/rtx")]
    if mime == "video/H264":  # aiortc packs with packetization-mode 1
        chosen = [c for c in chosen if c.mimeType == "video/rtx" or
                  c.parameters.get("packetization-mode") in ("1", 1)]
    transceiver.setCodecPreferences(chosen)


# -- test clips -------------------------------------------------------------------------------

_CONTAINERS = {".webm": ("webm", "libvpx"), ".ivf": ("ivf", "libvpx"),
               ".mkv": ("matroska", "libvpx"), ".mp4": ("mp4", "libx264"),
               ".ts": ("mpegts", "libx264")}


def clip_frame(color: tuple[int, int, int], index: int, width: int, height: int,
               motion: bool) -> np.ndarray:
    """Frame ``index`` of a test clip: ``color``, the frame counter as blocks in the top rows
    (:func:`zero_nb.sources.read_stamp` reads it, send time 0), and with ``motion`` a moving
    texture in the right half (the left half stays ``color`` for checks)."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = color
    if motion:
        rng = np.random.default_rng(index // 2)  # a new texture every other frame
        half = width // 2
        texture = rng.integers(0, 256, (height, half, 3), np.uint8)
        img[:, half:] = np.roll(texture, 3 * index, axis=1)
    _write_stamp(img, index, 0)
    return img


def write_test_clip(path: str | Path, color: tuple[int, int, int] = (255, 0, 0),
                    seconds: float = 2.0, *, width: int = 320, height: int = 240,
                    fps: int = 15, keyframe_s: float = 1.0, tone_hz: float | None = None,
                    kbps: int = 200, motion: bool = False) -> Path:
    """Write a small clip for encoded sources: VP8 in ``.webm``/``.ivf``/``.mkv``, H.264
    (baseline, no B-frames) in ``.mp4``/``.ts``; ``color`` plus a frame counter, a keyframe
    every ``keyframe_s``, ``motion`` a moving texture (bitrate near ``kbps``), ``tone_hz`` an
    Opus tone at -20 dBFS (not in ``.ivf``). Returns the path."""
    path = Path(path)
    if path.suffix not in _CONTAINERS:
        raise SourceError(f"write_test_clip: use one of {', '.join(_CONTAINERS)}; "
                          f"got {path.name!r}")
    fmt, codec = _CONTAINERS[path.suffix]
    if tone_hz is not None and fmt == "ivf":
        raise SourceError("an .ivf file holds video only: use .webm for a clip with a tone")
    with av.open(str(path), "w", format=fmt) as out:
        video: Any = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = kbps * 1000
        video.codec_context.gop_size = max(1, round(keyframe_s * fps))
        video.codec_context.options = (
            {"profile": "baseline", "bf": "0", "tune": "zerolatency"} if codec == "libx264"
            else {"kf_min_dist": str(max(1, round(keyframe_s * fps))), "auto-alt-ref": "0",
                  "lag-in-frames": "0", "minrate": str(kbps * 1000),  # CBR: near kbps
                  "maxrate": str(kbps * 1000), "bufsize": str(kbps * 1000)})
        audio: Any = out.add_stream("libopus", rate=AUDIO_RATE) if tone_hz is not None \
            else None
        frames = max(1, round(seconds * fps))
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(color, i, width, height, motion),
                                               format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            _write_tone(out, audio, tone_hz or 440.0, frames / fps)
    return path


def _write_tone(out: Any, stream: Any, freq_hz: float, seconds: float) -> None:
    amp = 10 ** (-20 / 20) * np.sqrt(2)
    t = np.arange(OPUS_SAMPLES) / AUDIO_RATE
    for i in range(int(seconds * AUDIO_RATE / OPUS_SAMPLES)):
        wave = amp * np.sin(2 * np.pi * freq_hz * (t + i * OPUS_SAMPLES / AUDIO_RATE))
        pcm = (np.repeat(wave[:, None], 2, axis=1) * 32767).astype("<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = AUDIO_RATE, i * OPUS_SAMPLES
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
