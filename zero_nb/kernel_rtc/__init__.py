"""The kernel-side WebRTC engine: rooms, peers, feeds and sources on a loop of their own."""

from .feeds import AudioFeed, VideoFeed
from .peer import RemotePeer
from .room import Room

__all__ = ["AudioFeed", "RemotePeer", "Room", "VideoFeed"]
