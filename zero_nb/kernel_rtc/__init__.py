"""The kernel-side WebRTC engine: rooms, peers, feeds and sources on a loop of their own.

This package is also where the add-ons are plugged in: the core (``media``, ``net``, the
room) never imports end-to-end encryption (``e2ee``) or speech analysis (``speech``); the
room calls them through :class:`~.room.Addons`, installed here.
"""

from .e2ee.rtc import hooks_for
from .media.feeds import AudioFeed, VideoFeed
from .net.peer import PeerMedia, RemotePeer
from .room import Addons, Room
from .speech.tracker import SpeechTracker

Room.addons = Addons(media_hooks=hooks_for, speech=SpeechTracker)

__all__ = ["AudioFeed", "PeerMedia", "RemotePeer", "Room", "VideoFeed"]
