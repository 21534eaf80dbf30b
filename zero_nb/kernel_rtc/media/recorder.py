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
import numpy as np

from ...errors import MediaError
from .feeds import AudioFeed, VideoFeed

__all__ = ["CODECS", "FeedRecorder"]

log = logging.getLogger("zero_nb.recorder")

CODECS = {".mp4": ("libx264", "aac"), ".webm": ("libvpx", "libopus"),
           ".mkv": ("libx264", "libopus")}
# Matroska/WebM written as it goes: a cluster closes every second and each packet reaches the
# file at once, so a killed process leaves a file that plays up to its last second; the
# interleaver waits at most half a second for a silent stream (a peer sending no audio).
_LIVE_MATROSKA = {"cluster_time_limit": "1000", "flush_packets": "1",
                  "max_interleave_delta": "500000"}
# libvpx holds 25 frames back by default; realtime with no lag writes each frame as it comes
_VP8_LIVE = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
_WAIT_VIDEO_S = 3.0  # audio waits this long for a first video frame to size the file
_AUDIO_RESYNC_S = 0.1  # audio this far behind its arrival time (a gap, a mute) jumps ahead
# On a session clock audio follows its sample count, re-anchored to arrival: arrival jitter
# only ever makes a block late, so the least lateness over a short window is how far the
# file really lags (a stalled sender, a slow source); past the tolerance the file skips ahead
# by it (a few ms of silence). A block that arrives before its place (the first one was
# late) is dropped instead, moving the file back by one block.
_AUDIO_WINDOW_S = 0.3
_AUDIO_TOLERANCE_S = 0.008
_STOP = object()


class FeedRecorder:
    """Encode a video feed and/or an audio feed into one file until :meth:`stop`."""

    def __init__(self, path: str | Path, video: VideoFeed | None = None,
                 audio: AudioFeed | None = None, *, fps: float = 30.0,
                 size: tuple[int, int] | None = None, queue_size: int = 90,
                 origin: float | None = None) -> None:
        """``origin``: the ``time.monotonic()`` that is time 0 in the file (a session
        clock: a frame arriving at ``origin + 2.0`` is at 2.0 s, and audio follows its
        arrival across gaps); None: the first frame is time 0."""
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
        self._t0: float | None = origin
        self._anchored = origin is not None
        live = suffix in (".webm", ".mkv")
        self._container = av.open(str(self.path), "w", options=_LIVE_MATROSKA if live else {})
        # PyAV's stream types are a union that mypy cannot narrow from add_stream's codec name
        self._vstream: Any = None
        self._astream: Any = None
        self._codecs, self._fps, self._size = (vcodec, acodec), round(fps), size
        self._opened = False
        self.error: BaseException | None = None  # why the encoder thread stopped early
        self._thread = threading.Thread(target=self._run, name="zero_nb-rec", daemon=True)
        self._thread.start()
        self._unsubscribe = [feed.subscribe(self._hook(feed))
                             for feed in (video, audio) if feed is not None]
        self.stopped = False

    def _hook(self, feed: VideoFeed | AudioFeed) -> Any:
        def listener(frame: Any) -> None:
            try:
                self._queue.put_nowait((feed, frame, time.monotonic()))
            except queue.Full:
                self.dropped += 1
        return listener

    def _open(self, first_video: Any) -> None:
        """Add the streams: the video's size is the first frame's (a late joiner's feed
        has none until its first frame), or ``size``."""
        vcodec, acodec = self._codecs
        if self.video is not None:
            shape = self.video.shape if first_video is None else (
                first_video.shape if isinstance(first_video, np.ndarray)
                else (first_video.height, first_video.width))
            width, height = self._size or ((shape[1], shape[0]) if shape else (640, 480))
            self._vstream = self._container.add_stream(vcodec, rate=self._fps)
            self._vstream.width, self._vstream.height = width - width % 2, height - height % 2
            self._vstream.pix_fmt = "yuv420p"
            if vcodec == "libvpx":  # its default 256 kbit/s blurs small text and stamps
                self._vstream.options = dict(_VP8_LIVE)
                self._vstream.bit_rate = max(500_000, 4 * width * height)
            self._last_pts = -1  # the last tick written
            self._pending: Any = None  # the newest frame for the tick not written yet
        if self.audio is not None:
            self._astream = self._container.add_stream(acodec, rate=48000)
            self._astream.layout = "stereo"
            self._resampler = av.AudioResampler(format=self._astream.format.name,
                                                layout="stereo", rate=48000)
            self._samples = 0
            self._lateness: list[tuple[float, int]] = []  # (arrival, samples late)
        self._opened = True

    def _handle(self, item: tuple[Any, Any, float]) -> None:
        feed, frame, t = item
        if self._t0 is None:
            self._t0 = t
        if feed is self.video and self.video is not None:
            self._encode_video(self.video, frame, t)
        else:
            self._encode_audio(frame, t)
        self.frames += 1

    def _run(self) -> None:
        early: list[Any] = []  # audio before the first video frame, which sizes the file
        try:
            while (item := self._queue.get()) is not _STOP:
                if not self._opened:
                    is_video = item[0] is self.video
                    if self.video is not None and not is_video and \
                            (not early or item[2] - early[0][2] < _WAIT_VIDEO_S):
                        early.append(item)
                        continue
                    self._open(item[1] if is_video else None)
                    for held in early:
                        self._handle(held)
                    early.clear()
                self._handle(item)
            if not self._opened:
                self._open(None)
                for held in early:
                    self._handle(held)
            if self._vstream is not None and self._pending is not None:
                self._container.mux(self._vstream.encode(self._pending))
            for stream in (self._vstream, self._astream):
                if stream is not None:
                    self._container.mux(stream.encode(None))
        except Exception as exc:
            self.error = exc
            log.exception("recording to %s failed", self.path)
        finally:
            self._container.close()

    def _encode_video(self, feed: VideoFeed, frame: Any, t: float) -> None:
        """Each frame goes on the frame tick nearest its arrival, one frame behind: frames
        arriving in a burst share a tick and the newest of them wins it (the file then shows
        what the kernel held last, not a stale frame kept while newer ones are dropped)."""
        assert self._vstream is not None and self._t0 is not None
        pts = round((t - self._t0) * self._fps)
        if self._pending is not None and pts > self._pending.pts:
            self._container.mux(self._vstream.encode(self._pending))
            self._last_pts, self._pending = self._pending.pts, None
        if pts <= self._last_pts:  # behind a tick already written: too late to show
            return
        out = feed.yuv(frame, self._vstream.width, self._vstream.height)
        out.pts = pts
        out.time_base = fractions.Fraction(1, self._fps)
        self._pending = out

    def _encode_audio(self, frame: Any, t: float) -> None:
        assert self._astream is not None and self._t0 is not None
        if self._anchored and not self._anchor_audio(round((t - self._t0) * 48000), t):
            return
        for out in self._resampler.resample(frame):
            out.pts = self._samples
            out.time_base = fractions.Fraction(1, 48000)
            self._samples += out.samples
            self._container.mux(self._astream.encode(out))

    def _anchor_audio(self, due: int, t: float) -> bool:
        """Keep the audio within the tolerance of its arrival times; False: drop this block."""
        late = due - self._samples
        tolerance = _AUDIO_TOLERANCE_S * 48000
        if late > _AUDIO_RESYNC_S * 48000:  # a gap or a mute: start again at the arrival
            self._samples, self._lateness = due, []
            return True
        if late < -tolerance and self._samples > 0:
            return False
        window = self._lateness
        window.append((t, late))
        while window[0][0] < t - _AUDIO_WINDOW_S:
            window.pop(0)
        floor = min(x for _, x in window)
        if floor > tolerance and t - window[0][0] > _AUDIO_WINDOW_S * 0.8:
            self._samples += floor
            self._lateness = [(m, x - floor) for m, x in window]
        return True

    def stop(self, timeout: float = 10.0) -> Path:
        """Finish the file and return its path; MediaError if encoding failed (the file
        is cut short) or did not finish within ``timeout``."""
        if not self.stopped:
            self.stopped = True
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            deadline = time.monotonic() + timeout
            # a full queue drains while the encoder lives; a dead one never takes the marker
            while self._thread.is_alive():
                try:
                    self._queue.put(_STOP, timeout=0.05)
                    break
                except queue.Full:
                    if time.monotonic() > deadline:
                        break
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self.error is not None:
            raise MediaError(f"recording to {str(self.path)!r} failed ({self.error!r}): the "
                             "file is cut short")
        if self._thread.is_alive():
            raise MediaError(f"recording to {str(self.path)!r} did not finish within "
                             f"{timeout:g} s: the encoder is behind; stop(timeout=...) longer")
        return self.path

    def __enter__(self) -> FeedRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
