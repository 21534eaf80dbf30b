"""Recording feeds to mp4 (H.264 + AAC) or webm (VP8 + Opus) with PyAV, off the media loop.

A room records one file per participant (``kernel_rtc.recording``): participants differ in
size, frame rate and timing, each file plays on its own, and a per-person file is what
analysis wants (levels, frames, who spoke when). Frames reach the encoder through a bounded
queue; if encoding falls behind, frames are dropped and counted, never buffered without bound.
"""

from __future__ import annotations

import fractions
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import av

from ...errors import MediaError
from .feeds import AudioFeed, VideoFeed

__all__ = ["CODECS", "FeedRecorder"]

log = logging.getLogger("zero_nb.recorder")

CODECS = {".mp4": ("libx264", "aac"), ".webm": ("libvpx", "libopus"),
           ".mkv": ("libx264", "libopus")}
_STOP = object()


class FeedRecorder:
    """Encode a video feed and/or an audio feed into one file until :meth:`stop`."""

    def __init__(self, path: str | Path, video: VideoFeed | None = None,
                 audio: AudioFeed | None = None, *, fps: float = 30.0,
                 size: tuple[int, int] | None = None, queue_size: int = 90) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CODECS:
            raise MediaError(f"cannot record to {self.path.name!r}: use .mp4, .webm or .mkv")
        if video is None and audio is None:
            raise MediaError("nothing to record: give a video feed, an audio feed or both")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        vcodec, acodec = CODECS[suffix]
        self.video, self.audio = video, audio
        self.frames = 0
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._t0: float | None = None
        self._container = av.open(str(self.path), "w")
        # PyAV's stream types are a union that mypy cannot narrow from add_stream's codec name
        self._vstream: Any = None
        self._astream: Any = None
        if video is not None:
            shape = video.shape
            width, height = size or ((shape[1], shape[0]) if shape else (640, 480))
            self._vstream = self._container.add_stream(vcodec, rate=round(fps))
            self._vstream.width, self._vstream.height = width - width % 2, height - height % 2
            self._vstream.pix_fmt = "yuv420p"
            self._fps = round(fps)
            self._last_pts = -1
        if audio is not None:
            self._astream = self._container.add_stream(acodec, rate=48000)
            self._astream.layout = "stereo"
            self._resampler = av.AudioResampler(format=self._astream.format.name,
                                                layout="stereo", rate=48000)
            self._samples = 0
        self._thread = threading.Thread(target=self._run, name="zero_nb-rec", daemon=True)
        self._thread.start()
        self._unsubscribe = [feed.subscribe(self._hook(feed))
                             for feed in (video, audio) if feed is not None]
        self.stopped = False

    def _hook(self, feed: VideoFeed | AudioFeed) -> Any:
        def listener(frame: Any) -> None:
            try:
                self._queue.put_nowait((feed, frame, time.time()))
            except queue.Full:
                self.dropped += 1
        return listener

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                feed, frame, t = item
                if self._t0 is None:
                    self._t0 = t
                if feed is self.video and self.video is not None:
                    self._encode_video(self.video, frame, t)
                else:
                    self._encode_audio(frame)
                self.frames += 1
            for stream in (self._vstream, self._astream):
                if stream is not None:
                    self._container.mux(stream.encode(None))
        except Exception:
            log.exception("recording to %s failed", self.path)
        finally:
            self._container.close()

    def _encode_video(self, feed: VideoFeed, frame: Any, t: float) -> None:
        assert self._vstream is not None and self._t0 is not None
        pts = round((t - self._t0) * self._fps)
        if pts <= self._last_pts:
            return  # two frames in one tick: keep the first
        self._last_pts = pts
        out = feed.yuv(frame, self._vstream.width, self._vstream.height)
        out.pts = pts
        out.time_base = fractions.Fraction(1, self._fps)
        self._container.mux(self._vstream.encode(out))

    def _encode_audio(self, frame: Any) -> None:
        assert self._astream is not None
        for out in self._resampler.resample(frame):
            out.pts = self._samples
            out.time_base = fractions.Fraction(1, 48000)
            self._samples += out.samples
            self._container.mux(self._astream.encode(out))

    def stop(self, timeout: float = 10.0) -> Path:
        """Finish the file and return its path."""
        if not self.stopped:
            self.stopped = True
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._queue.put(_STOP)
            self._thread.join(timeout)
        return self.path

    def __enter__(self) -> FeedRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
