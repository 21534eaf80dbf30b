"""Kernel -> page media over the widget comm (the transport where WebRTC cannot connect).

A :class:`Downlink` sends what a :class:`~zero_nb.kernel_rtc.link.LocalLink` shows in its
slots as encoded frames in ``m.down`` messages (batching and flow control: :mod:`.downflow`).
Per slot and kind the frames come from one of two sources:

* :class:`ForwardTap` — a mesh peer's VP8 / Opus frames exactly as the low-latency receive
  path assembled them (and E2EE opened them), before aiortc decodes them: nothing is decoded
  or re-encoded for the page; the page's key frame requests become PLIs to the sender.
* :class:`FeedEncoder` — anything else (the kernel's own filtered video, SFU feeds, H.264
  peers, and every slot when the page has no WebCodecs: JPEG), encoded from the feed on a
  thread of its own, newest frame wins.

One sender thread per downlink takes messages from the flow and calls ``send(content,
buffers)`` (the widget's comm: iopub goes out from any thread, so a busy cell does not stop
it); the engine loop only copies frame bytes into the flow and never waits on the comm.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.codecs.opus import OpusEncoder

from .downflow import DownFlow, Frame
from .frames import s16_frame
from .media.feeds import AudioFeed, VideoFeed
from .net.lowlatency import _CODECS_ATTR, _JB_ATTR

__all__ = ["Downlink", "FeedEncoder", "ForwardTap", "vp8_key", "vp8_size"]

log = logging.getLogger("zero_nb.downlink")

MIN_INTERVAL = 0.012  # at most ~80 m.down messages/s, whatever the number of tiles
VIDEO_KBPS = 1200  # re-encoded VP8 at 640x480 30 fps
JPEG_QUALITY = 6  # mjpeg qscale (2 best .. 31 worst)

Emit = Callable[[Frame], None]


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def vp8_key(data: bytes) -> bool:
    """A VP8 frame is a key frame when bit 0 of its first byte is 0 (RFC 6386 9.1)."""
    return bool(data) and not data[0] & 1


def vp8_size(data: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame's header (0, 0 for anything else)."""
    if len(data) < 10 or not vp8_key(data) or data[3:6] != b"\x9d\x01\x2a":
        return 0, 0
    return (int.from_bytes(data[6:8], "little") & 0x3FFF,
            int.from_bytes(data[8:10], "little") & 0x3FFF)


class ForwardTap:
    """Copies a receiver's whole encoded frames (VP8 or Opus) to ``emit`` as they leave its
    jitter buffer. :meth:`request_key` makes the receiver send a PLI with its next packet.
    ``foreign`` turns True when the receiver carries a codec the page cannot take as is."""

    def __init__(self, receiver: Any, kind: str, slot: int, emit: Emit) -> None:
        self.kind, self.slot, self._emit = kind, slot, emit
        self.foreign = False
        self._pli = False
        self._size = (0, 0)
        self._buffer = getattr(receiver, _JB_ATTR)
        self._codecs: dict[int, Any] = getattr(receiver, _CODECS_ATTR, {})
        self._inner = self._buffer.add
        self._buffer.add = self._add

    def _add(self, packet: Any) -> tuple[bool, Any]:  # engine loop, per RTP packet
        pli, frame = self._inner(packet)
        if self._pli:
            self._pli, pli = False, True
        if frame is not None:
            codec = self._codecs.get(packet.payload_type)
            name = "" if codec is None else str(codec.name).lower()
            if name not in ("vp8", "opus"):
                self.foreign = True
            else:
                self._forward(name, bytes(frame.data))
        return pli, frame

    def _forward(self, codec: str, data: bytes) -> None:
        if self.kind == "audio":
            self._emit(Frame(self.slot, "audio", codec, True, _now_us(), data))
            return
        key = vp8_key(data)
        if key:
            self._size = vp8_size(data)
        self._emit(Frame(self.slot, "video", codec, key, _now_us(), data, *self._size))

    def request_key(self) -> None:
        self._pli = True

    def close(self) -> None:
        if self._buffer.add == self._add:
            self._buffer.add = self._inner
        else:  # wrapped again since: become a pass-through
            self._emit = lambda frame: None


class FeedEncoder:
    """Encodes a feed's frames for the page on its own thread: video VP8 (realtime) or
    JPEG, newest frame wins; audio Opus, 20 ms packets, a short bounded queue."""

    def __init__(self, feed: VideoFeed | AudioFeed, kind: str, codec: str, slot: int,
                 emit: Emit) -> None:
        self.feed, self.kind, self.codec, self.slot, self._emit = feed, kind, codec, slot, emit
        self.foreign = False
        self._cond = threading.Condition()
        self._pending: deque[tuple[Any, int]] = deque(maxlen=1 if kind == "video" else 10)
        self._key = True
        self._stopped = False
        self._context: Any = None
        self._opus: OpusEncoder | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"zero_nb-encode-{kind}-{slot}")
        self._thread.start()
        self._unsubscribe = feed.subscribe(self._on_frame)

    def _on_frame(self, frame: Any) -> None:  # the feed's producer thread
        with self._cond:
            self._pending.append((frame, _now_us()))
            self._cond.notify()

    def request_key(self) -> None:
        self._key = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                frame, ts = self._pending.popleft()
            try:
                self._encode(frame, ts)
            except Exception as exc:  # a bad frame must not end the tile
                log.warning("downlink: cannot encode %s for slot %d: %s", self.kind,
                            self.slot, exc)

    def _encode(self, frame: Any, ts: int) -> None:
        if self.kind == "audio":
            if self._opus is None:
                self._opus = OpusEncoder()
            s16 = s16_frame(AudioFeed.to_float(frame)[:, :2], frame.sample_rate)
            payloads, _ = self._opus.encode(s16)
            for payload in payloads:
                self._emit(Frame(self.slot, "audio", "opus", True, ts, payload))
            return
        assert isinstance(self.feed, VideoFeed)
        image = self.feed.yuv(frame)
        if self.codec == "jpeg":
            self._emit_jpeg(image, ts)
            return
        ctx = self._context
        if ctx is None or (ctx.width, ctx.height) != (image.width, image.height):
            ctx = self._context = _vp8_context(image.width, image.height)
            self._key = True
        if self._key:
            self._key = False
            image.pict_type = av.video.frame.PictureType.I
        for packet in ctx.encode(image):
            data = bytes(packet)
            self._emit(Frame(self.slot, "video", "vp8", vp8_key(data), ts, data,
                             image.width, image.height))

    def _emit_jpeg(self, image: av.VideoFrame, ts: int) -> None:
        ctx = self._context
        if ctx is None or (ctx.width, ctx.height) != (image.width, image.height):
            ctx = self._context = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height, ctx.pix_fmt = image.width, image.height, "yuvj420p"
            ctx.time_base = Fraction(1, 30)
            ctx.options = {"qscale": str(JPEG_QUALITY)}
        picture = image.reformat(format="yuvj420p")
        for packet in ctx.encode(picture):
            self._emit(Frame(self.slot, "video", "jpeg", True, ts, bytes(packet),
                             image.width, image.height))

    def close(self) -> None:
        self._unsubscribe()
        with self._cond:
            self._stopped = True
            self._cond.notify()


def _vp8_context(width: int, height: int) -> Any:
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 90000)
    kbps = max(150, VIDEO_KBPS * width * height // (640 * 480))
    ctx.bit_rate = kbps * 1000
    ctx.gop_size = 3000  # key frames only when asked (page start, decoder error, backlog)
    ctx.qmin, ctx.qmax = 4, 56
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "error-resilient": "1", "static-thresh": "1", "undershoot-pct": "95"}
    ctx.thread_count = 1
    return ctx


Source = ForwardTap | FeedEncoder
Resolve = Callable[[dict[str, Any], str], Any]
"""``resolve(slot_info, kind)`` -> the aiortc receiver carrying that slot's media as the
kernel received it (to forward), or None (encode from the feed)."""


class Downlink:
    """The kernel->page media of one widget view: start with :meth:`start`, stop with
    :meth:`stop`; :meth:`handle` takes the page's ``m.ctl`` (``ack``, ``keyframe``).

    ``slots()`` returns what the link shows: per slot ``(info, video_feed, audio_feed)``
    (info None: empty). ``video`` is "vp8" (the page has WebCodecs) or "jpeg"; ``audio``
    "opus" or None (no decoder: the meters still follow the kernel's ``levels``).
    """

    def __init__(self, send: Callable[[dict[str, Any], list[bytes]], None], *, view: str,
                 slots: Callable[[], list[tuple[Any, Any, Any]]],
                 resolve: Resolve | None = None, video: str = "vp8",
                 audio: str | None = "opus", flow: DownFlow | None = None) -> None:
        self.view, self.video, self.audio = view, video, audio
        self.flow = flow or DownFlow()
        self._send, self._slots, self._resolve = send, slots, resolve
        self._sources: dict[tuple[int, str], tuple[Any, Source]] = {}
        self._foreign: set[int] = set()  # feeds whose receiver's codec is not forwarded
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.messages = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"zero_nb-downlink-{self.view}")
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        for _, source in self._sources.values():
            source.close()
        self._sources.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopped.is_set()

    # -- page -> kernel -------------------------------------------------------------------
    def handle(self, content: dict[str, Any]) -> None:
        """An ``m.ctl`` from the page (any thread)."""
        op = content.get("op")
        if op == "ack":
            self.flow.ack(int(content.get("seq", 0)))
        elif op == "keyframe":
            self.flow.key_wanted(int(content.get("slot", -1)))
        self._wake.set()

    # -- the sender thread ----------------------------------------------------------------
    def _emit(self, frame: Frame) -> None:
        self.flow.push(frame)
        self._wake.set()

    def _run(self) -> None:
        last = 0.0
        while not self._stopped.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            try:
                self._bind()
                now = time.monotonic()
                for slot in self.flow.wanted_keys(now):
                    for kind in ("video",):
                        entry = self._sources.get((slot, kind))
                        if entry is not None:
                            entry[1].request_key()
                pause = last + MIN_INTERVAL - now
                if pause > 0:  # later frames join this message
                    self._stopped.wait(pause)
                    now = time.monotonic()
                message = self.flow.take(now)
                if message is None:
                    continue
                content, buffers = message
                last = now
                self._send({**content, "view": self.view}, buffers)
                self.messages += 1
                if self.flow.pending():
                    self._wake.set()
            except Exception:  # the comm closed under us, or a slot vanished mid-bind
                self.errors += 1
                log.debug("downlink %s: send failed", self.view, exc_info=True)

    def _bind(self) -> None:
        """Give every shown slot and kind a source (and stop the ones no longer shown)."""
        wanted: dict[tuple[int, str], tuple[Any, Any]] = {}
        for index, (info, video, audio) in enumerate(self._slots()):
            if info is None:
                continue
            if video is not None:
                wanted[(index, "video")] = (info, video)
            if audio is not None and self.audio is not None:
                wanted[(index, "audio")] = (info, audio)
        for key, (feed, source) in list(self._sources.items()):
            if wanted.get(key, (None, None))[1] is not feed or source.foreign:
                source.close()
                del self._sources[key]
                if key[1] == "video":
                    self.flow.forget(key[0])
                if source.foreign:  # the peer's codec cannot be forwarded: encode it
                    self._foreign.add(id(feed))
        for key, (info, feed) in wanted.items():
            if key not in self._sources:
                self._sources[key] = (feed, self._source(key, info, feed))

    def _source(self, key: tuple[int, str], info: Any, feed: Any) -> Source:
        slot, kind = key
        codec = self.video if kind == "video" else "opus"
        receiver = None
        if self._resolve is not None and codec != "jpeg" and id(feed) not in self._foreign:
            with contextlib.suppress(Exception):
                receiver = self._resolve(info, kind)
        if receiver is not None:
            tap = ForwardTap(receiver, kind, slot, self._emit)
            if kind == "video":
                tap.request_key()  # the page starts decoding at a key frame
            return tap
        return FeedEncoder(feed, kind, codec, slot, self._emit)

    def sources(self) -> dict[str, str]:
        """``"slot/kind"`` -> "forward" or "encode" (tests, stats)."""
        return {f"{s}/{k}": "forward" if isinstance(src, ForwardTap) else "encode"
                for (s, k), (_, src) in self._sources.items()}

    def stats(self) -> dict[str, Any]:
        return {"messages": self.messages, "frames": self.flow.sent_frames,
                "bytes": self.flow.sent_bytes, "dropped": self.flow.dropped(),
                "inflight": self.flow.inflight_bytes(), "sources": self.sources()}
