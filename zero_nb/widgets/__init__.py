"""Notebook widgets (anywidget): ``Conference``, ``Camera``, ``VideoView``, ``AudioMeter``,
``StatsPanel``. Plain ES modules from ``js/widgets/``; no build step."""

from __future__ import annotations

from .camera import Camera
from .conference import Conference
from .views import AudioMeter, StatsPanel, VideoView

__all__ = ["AudioMeter", "Camera", "Conference", "StatsPanel", "VideoView"]
