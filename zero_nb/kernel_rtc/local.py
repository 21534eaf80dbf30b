"""What this participant sends: one output track per kind, whatever the source of the moment.

Every peer connection sends a relay of the same output track, so changing the source (a bot
pattern, a file, the browser camera) or pausing it needs no renegotiation. The output track
re-stamps timestamps from its own clock, so switching sources never makes them jump back.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from .feeds import AudioFeed, VideoFeed, pump
from .sources import AudioSource, MediaSource, VideoSource

__all__ = ["LocalMedia"]

VIDEO_CLOCK = 90_000


class _OutputTrack(MediaStreamTrack):
    """Frames of the current source, re-stamped; waits while there is no source."""

    def __init__(self, media: LocalMedia) -> None:
        super().__init__()
        self.kind = media.kind
        self._media = media
        self._t0: float | None = None
        self._samples = 0

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        media = self._media
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = media.source
            if source is None or source.ended:
                media._changed.clear()
                await media._changed.wait()
                continue
            try:
                frame = await source.track().recv()
            except MediaStreamError:
                continue  # that source ended: wait for another
            if source is not media.source:
                continue  # switched while we waited: drop the stale frame
            return self._restamp(frame)

    def _restamp(self, frame: av.VideoFrame | av.AudioFrame) -> av.VideoFrame | av.AudioFrame:
        if isinstance(frame, av.AudioFrame):
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, frame.sample_rate)
            self._samples += frame.samples
        else:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            frame.pts = int((now - self._t0) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class LocalMedia:
    """This participant's outgoing video or audio: ``room.local.video`` / ``.audio``.

    ``feed`` shows what the others receive (a :class:`VideoFeed` / :class:`AudioFeed`).
    """

    def __init__(self, kind: str, source: MediaSource | None = None) -> None:
        self.kind = kind
        self.source: MediaSource | None = None
        self._changed = asyncio.Event()
        self.feed: VideoFeed | AudioFeed = VideoFeed("local") if kind == "video" \
            else AudioFeed("local")
        self._output = _OutputTrack(self)
        self._relay = MediaRelay()
        self._pump: asyncio.Task[None] | None = None
        if source is not None:
            self.set_source(source)

    def set_source(self, source: MediaSource | None) -> None:
        """Send from ``source`` (None: send nothing); call on the engine loop."""
        if source is not None and source.kind != self.kind:
            raise ValueError(f"a {source.kind} source cannot feed local {self.kind}")
        old, self.source = self.source, source
        if old is not None and old is not source:
            old.close()
        self._changed.set()
        if self._pump is None and source is not None:
            self._pump = asyncio.get_running_loop().create_task(
                pump(self._relay.subscribe(self._output, buffered=False), self.feed))

    def subscribe(self) -> MediaStreamTrack:
        """A newest-wins relay of the output, for one more peer connection."""
        return self._relay.subscribe(self._output, buffered=False)

    # -- conveniences forwarded to the source -------------------------------------------------
    def pause(self) -> None:
        """Video: send black frames until resume(). Audio: same as mute()."""
        if isinstance(self.source, VideoSource):
            self.source.pause()
        elif isinstance(self.source, AudioSource):
            self.source.mute()

    def resume(self) -> None:
        if isinstance(self.source, VideoSource):
            self.source.resume()
        elif isinstance(self.source, AudioSource):
            self.source.unmute()

    mute = pause
    unmute = resume

    def __getattr__(self, name: str) -> Any:
        # feed readers (latest, fps, level_db, ...) straight from room.local.video
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.feed, name)

    def close(self) -> None:
        self._output.stop()
        if self.source is not None:
            self.source.close()
        if self._pump is not None:
            self._pump.cancel()

    def __repr__(self) -> str:
        return f"<LocalMedia {self.kind} source={self.source!r}>"
