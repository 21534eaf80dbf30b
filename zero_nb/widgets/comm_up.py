"""The page's camera and mic over the widget's own comm, for when no WebRTC path exists.

The page encodes with WebCodecs (VP8 realtime, Opus) and sends ``m.up`` messages: JSON
describing each frame, one binary buffer per frame (docs/widget-protocol.md). They arrive on
the comm handler's thread — a kernel subshell's own thread where the front end gives each comm
one (JupyterLab >= 4.4 with ipykernel >= 7), else the shell's main thread between cells — and
are handed to one decode thread per view through a bounded queue, so neither the comm nor the
engine loop ever waits on the other. PyAV decodes into the widget's own ``video``/``audio``
feeds: the same feeds the WebRTC link fills, so filters, recording, sending and analysis are
unchanged. Flow control: every ``m.up`` is acknowledged once decoded (``m.ctl`` ``ack``), the
page bounds the bytes it has in flight by those acks and, while backed up, drops frames and
restarts video from a key frame; a delta without its key frame, or a decode error, makes the
kernel ask for one (``m.ctl`` ``keyframe``).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av

from ..kernel_rtc.media.feeds import AudioFeed, VideoFeed

__all__ = ["KEYFRAME_RETRY_S", "MAX_QUEUED_BYTES", "CommUplink"]

log = logging.getLogger("zero_nb.widgets")

MAX_QUEUED_BYTES = 2_000_000  # decode backlog past which the kernel drops it all (never grows)
KEYFRAME_RETRY_S = 0.5  # one key-frame request per this long while waiting for one

Send = Callable[[dict[str, Any], list[bytes]], None]


class CommUplink:
    """Decode one view's ``m.up`` messages into ``video``/``audio``. Call :meth:`receive` from
    any thread; ``on_track(kind)`` runs (decode thread) when a kind's first frame decoded."""

    def __init__(self, send: Send, *, view: str, video: VideoFeed, audio: AudioFeed,
                 on_track: Callable[[str], None] | None = None) -> None:
        self.view = view
        self.video, self.audio = video, audio
        self.frames = {"video": 0, "audio": 0}  # decoded
        self.bytes = 0  # received
        self.dropped = 0  # video frames skipped while waiting for a key frame or backed up
        self.errors = 0  # decode errors
        self.subshell: bool | None = None  # None until the first message: see receive()
        self.threads: dict[str, int] = {}  # messages per handling thread
        self._send = send
        self._on_track = on_track
        self._codecs: dict[str, Any] = {}
        self._need_key = True
        self._asked_key = 0.0
        self._queue: collections.deque[tuple[dict[str, Any], list[bytes]]] = collections.deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"zero_nb-comm-up-{view}")
        self._thread.start()

    def receive(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """Queue one ``m.up`` (the comm handler's thread; returns at once)."""
        # messages handled on the main thread are handled between cells only: a busy cell
        # holds the camera until it ends (the front end has no subshell for this comm)
        self.subshell = threading.current_thread() is not threading.main_thread()
        self.threads[threading.current_thread().name] = self.threads.get(
            threading.current_thread().name, 0) + 1
        data = [bytes(b) for b in buffers]
        size = sum(len(b) for b in data)
        with self._cond:
            if self._queued + size > MAX_QUEUED_BYTES:  # only if the page ignores acks
                self.dropped += sum(len(m.get("frames", ())) for m, _ in self._queue)
                self._queue.clear()
                self._queued = 0
                self._need_key = True
            self._queue.append((content, data))
            self._queued += size
            self.bytes += size
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                content, data = self._queue.popleft()
                self._queued -= sum(len(b) for b in data)
            for meta, buf in zip(content.get("frames", ()), data, strict=False):
                try:
                    self._decode(meta, buf)
                except Exception:  # a bad message must not end the thread
                    log.debug("comm uplink %s: cannot decode", self.view, exc_info=True)
            if "seq" in content:
                self._ctl("ack", seq=content["seq"])

    def _decode(self, meta: dict[str, Any], buf: bytes) -> None:
        kind = meta.get("kind")
        if kind == "video":
            if self._need_key and not meta.get("key"):
                self.dropped += 1
                self._ask_key()
                return
            codec = self._codec("video", meta)
            try:
                frames = codec.decode(av.Packet(buf))
            except av.FFmpegError as exc:
                self.errors += 1
                log.debug("comm uplink %s: video decode error %s", self.view, exc)
                self._codecs.pop("video", None)  # a fresh decoder from the next key frame
                self._need_key = True
                self._ask_key()
                return
            self._need_key = False
            for frame in frames:
                self._push("video", frame)
        elif kind == "audio":
            codec = self._codec("audio", meta)
            try:
                frames = codec.decode(av.Packet(buf))
            except av.FFmpegError:
                self.errors += 1
                return
            for frame in frames:
                self._push("audio", frame)

    def _codec(self, kind: str, meta: dict[str, Any]) -> Any:
        codec: Any = self._codecs.get(kind)
        if codec is None:
            name = meta.get("codec") or ("vp8" if kind == "video" else "opus")
            codec = av.CodecContext.create(name, "r")  # audio: an AudioCodecContext
            if kind == "audio":
                codec.sample_rate = int(meta.get("rate", 48000))
                codec.layout = "stereo" if int(meta.get("ch", 1)) == 2 else "mono"
            self._codecs[kind] = codec
        return codec

    def _push(self, kind: str, frame: Any) -> None:
        self.frames[kind] += 1
        (self.video if kind == "video" else self.audio)._push(frame)
        if self.frames[kind] == 1 and self._on_track is not None:
            self._on_track(kind)

    def _ask_key(self) -> None:
        now = time.monotonic()
        if now - self._asked_key >= KEYFRAME_RETRY_S:
            self._asked_key = now
            self._ctl("keyframe")

    def request_keyframe(self) -> None:
        """Ask the page's encoder for a key frame (any thread)."""
        self._ctl("keyframe")

    def _ctl(self, op: str, **fields: Any) -> None:
        try:
            self._send({"type": "m.ctl", "view": self.view, "op": op, "dir": "up", **fields}, [])
        except Exception:  # the comm is gone: the widget closes us soon
            log.debug("comm uplink %s: cannot send %s", self.view, op)

    def stats(self) -> dict[str, Any]:
        return {"video_frames": self.frames["video"], "audio_frames": self.frames["audio"],
                "bytes": self.bytes, "dropped": self.dropped, "errors": self.errors,
                "subshell": self.subshell, "threads": dict(self.threads)}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()

    def __repr__(self) -> str:
        return f"<CommUplink {self.view} {self.stats()}>"
