"""``Camera()``: the browser's camera and mic alone, as kernel feeds and sources."""

from __future__ import annotations

from typing import Any

from ..kernel_rtc.media.sources import FeedSource, MediaSource
from ._base import LinkWidget

__all__ = ["Camera"]


class Camera(LinkWidget):
    """The page's camera and microphone in the kernel.

    ``cam.video`` / ``cam.audio`` are feeds (numpy: ``cam.video.latest()``); pass the camera
    as a source: ``zero_nb.join("lab", video=cam, audio=cam)`` (or ``video=cam.video``).
    """

    _module = "camera.js"

    def __init__(self, *, config: dict[str, Any] | None = None, resolution: str = "VGA",
                 **kwargs: Any) -> None:
        super().__init__(config=config, slots=0, resolution=resolution, **kwargs)

    def __zero_nb_source__(self, kind: str) -> MediaSource:
        """A source sending this camera's ``kind`` ("video" or "audio") to a room."""
        return FeedSource(self.video if kind == "video" else self.audio, label="browser " + kind)

    def __repr__(self) -> str:
        return f"<Camera {self.link_state} video={self.video!r} audio={self.audio!r}>"
