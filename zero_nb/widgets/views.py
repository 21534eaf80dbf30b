"""Small widgets: ``VideoView(feed)``, ``AudioMeter(feed)``, ``StatsPanel(room)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets

from ..kernel_rtc.link import LocalLink
from ._base import LinkWidget, TickingWidget, json_safe

if TYPE_CHECKING:
    from ..kernel_rtc.media.feeds import AudioFeed, VideoFeed
    from ..kernel_rtc.room import Room

__all__ = ["AudioMeter", "StatsPanel", "VideoView"]


class VideoView(LinkWidget):
    """Shows any kernel video feed live (e.g. ``peer.video.map(fn)``), optionally with an
    audio feed, over the local link (WebRTC, not images through the comm)."""

    _module = "video_view.js"

    label = traitlets.Unicode("").tag(sync=True)
    frames = traitlets.Int(0).tag(sync=True)

    def __init__(self, feed: VideoFeed, audio: AudioFeed | None = None, *,
                 config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.feed = feed
        self.audio_feed = audio
        super().__init__(config=config, capture=False, slots=1, label=feed.label, **kwargs)

    def _attach(self, link: LocalLink) -> None:
        link.show("feed", self.feed, self.audio_feed, {"name": self.feed.label})

    def _tick(self) -> None:
        super()._tick()
        self.frames = self.feed.frame_count


class AudioMeter(TickingWidget):
    """A live level bar (dBFS) for an audio feed, e.g. ``peer.audio``."""

    _module = "audio_meter.js"
    _interval = 0.1

    level_db = traitlets.Float(-120.0).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, feed: AudioFeed, **kwargs: Any) -> None:
        self.feed = feed
        super().__init__(label=feed.label, **kwargs)

    def _tick(self) -> None:
        level = round(self.feed.level_db, 1)
        if level != self.level_db:
            self.level_db = level


class StatsPanel(TickingWidget):
    """``room.stats()`` as a live table, once a second."""

    _module = "stats_panel.js"

    stats: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(self, room: Room, **kwargs: Any) -> None:
        self.room = room
        super().__init__(**kwargs)

    def _tick(self) -> None:
        if not self.room.closed:
            self.stats = [{k: json_safe(v) for k, v in rec.items()}
                          for rec in self.room.stats(flat=True)]
