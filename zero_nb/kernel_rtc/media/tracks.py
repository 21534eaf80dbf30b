"""Tracks that replay what a feed receives: newest wins, never a queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from ..frames import Restamper, s16_frame
from .feeds import AudioFeed, VideoFeed

__all__ = ["FeedTrack"]


class FeedTrack(MediaStreamTrack):
    """An aiortc track replaying a feed's new frames (newest wins, never a queue): what a
    slot of the local link (or a :class:`~zero_nb.kernel_rtc.media.sources.FeedSource`) sends.

    Frames are rebuilt, never passed through: a decoded PyAV frame must not be converted
    or encoded from two threads at once, and derived feeds hold numpy arrays. Video is
    re-stamped from the wall clock, audio by sample count (s16 stereo 48 kHz). The feed
    can be swapped with :meth:`attach` (None: send nothing) without renegotiation.
    """

    def __init__(self, kind: str, feed: VideoFeed | AudioFeed | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._feed: VideoFeed | AudioFeed | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pending: Any = None
        self._event = asyncio.Event()
        self._feed_loop = asyncio.get_running_loop()
        self._clock = Restamper()
        self.sent = 0
        self.attach(feed)

    @property
    def feed(self) -> VideoFeed | AudioFeed | None:
        return self._feed

    def attach(self, feed: VideoFeed | AudioFeed | None) -> None:
        """Replay ``feed`` from its next frame on (call on the engine loop)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._feed = feed
        self._pending = None
        if feed is not None:
            self._unsubscribe = feed.subscribe(self._on_frame)
        self._event.set()

    def _on_frame(self, frame: Any) -> None:  # any thread: the feed's producer
        with contextlib.suppress(RuntimeError):  # RuntimeError: the engine loop is closed
            self._feed_loop.call_soon_threadsafe(self._put, frame)

    def _put(self, frame: Any) -> None:
        self._pending = frame
        self._event.set()

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._event.wait()
            self._event.clear()
            frame, self._pending = self._pending, None
            feed = self._feed
            if frame is None or feed is None:
                continue
            if isinstance(feed, VideoFeed):
                out: av.VideoFrame | av.AudioFrame = feed.yuv(frame)
            else:
                out = s16_frame(AudioFeed.to_float(frame)[:, :2], frame.sample_rate)
            self.sent += 1
            return self._clock(out)

    def stop(self) -> None:
        if self._feed is not None:
            self.attach(None)
        super().stop()
        self._event.set()
