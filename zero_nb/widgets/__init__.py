"""Notebook widgets (anywidget): ``Conference``, ``Camera``, ``VideoView``, ``AudioMeter``,
``StatsPanel``. Plain ES modules from ``js/widgets/``; no build step.

Importing this package makes a :class:`~zero_nb.kernel_rtc.room.Room` display as its
Conference in a notebook (the engine never imports the widgets: they register here).
"""

from __future__ import annotations

import weakref

from ..kernel_rtc.room import Room
from .camera import Camera
from .conference import Conference
from .views import AudioMeter, StatsPanel, VideoView

__all__ = ["AudioMeter", "Camera", "Conference", "StatsPanel", "VideoView", "conference_for"]

_shown: weakref.WeakKeyDictionary[Room, Conference] = weakref.WeakKeyDictionary()


def conference_for(room: Room) -> Conference:
    """The room's one Conference (made on first use, or again once its comm closed)."""
    widget = _shown.get(room)
    if widget is None or widget.comm is None:
        widget = _shown[room] = Conference(room)
    return widget


Room.display_factory = conference_for
