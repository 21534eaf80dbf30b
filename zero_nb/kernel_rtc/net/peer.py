"""One remote participant as the user sees it: name, feeds, connection state.

What every topology shares lives here; how a connection is negotiated does not (the mesh's
offers and answers are :class:`~.mesh.MeshLink`, the SFU's subscriptions live in
``zero_nb.sfu``). A topology hands the peer the connection that carries its media with
:meth:`RemotePeer.adopt` and takes it back with :meth:`RemotePeer.release`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import RTCPeerConnection

from ..._loop import Tasks
from ..media.feeds import AudioFeed, VideoFeed, pump
from . import lowlatency
from .hooks import MediaHooks

__all__ = ["PeerHost", "PeerMedia", "RemotePeer"]

log = logging.getLogger("zero_nb.peer")


class PeerHost(Protocol):
    """What a remote peer uses of its room (a topology's host offers more)."""

    @property
    def low_latency(self) -> bool: ...
    @property
    def media_hooks(self) -> MediaHooks: ...

    def set_layer(self, peer_id: str, layer: str, timeout: float = 10.0) -> None:
        """Sync API for ``peer.set_layer``: choose a simulcast layer of ``peer_id``."""
        ...

    def report_error(self, text: str, peer: Any = None) -> None:
        """Fire the room's ``error`` event."""
        ...

    def peer_state(self, peer: Any, state: str) -> None:
        """A peer's media connection changed state (fires ``state``)."""
        ...


@dataclass(frozen=True)
class PeerMedia:
    """What a participant says it sends (signaling's ``media``): ``audio`` / ``video`` True
    (on), False (muted / camera off, or no such device), None (unknown: its client never
    says, e.g. an older one — not the same as muted); ``e2ee`` True: it encrypts its media
    end to end (without the key its frames are dropped, ``peer.e2ee == "no-key"``)."""

    audio: bool | None = None
    video: bool | None = None
    e2ee: bool = False

    @property
    def muted(self) -> bool:
        return self.audio is False

    @property
    def camera_off(self) -> bool:
        return self.video is False

    @property
    def sends_nothing(self) -> bool:
        """The participant says it sends neither audio nor video (receive-only)."""
        return self.audio is False and self.video is False

    @classmethod
    def from_wire(cls, obj: Any) -> PeerMedia:
        """From a ``peer-media`` message or a roster row's ``media`` (anything else: unknown)."""
        if not isinstance(obj, dict):
            return cls()
        audio, video = obj.get("audio"), obj.get("video")
        return cls(audio if isinstance(audio, bool) else None,
                   video if isinstance(video, bool) else None, obj.get("e2ee") is True)

    def describe(self) -> dict[str, bool | None]:
        return {"audio": self.audio, "video": self.video, "e2ee": self.e2ee}


class RemotePeer:
    """Another participant: ``name``, ``video`` and ``audio`` feeds, connection ``state``,
    ``media`` (:class:`PeerMedia`: muted, camera off, as the participant announces it)."""

    def __init__(self, host: PeerHost, peer_id: str, name: str) -> None:
        self.room = host
        self.peer_id = peer_id
        self.name = name
        self.video = VideoFeed(name)
        self.audio = AudioFeed(name)
        self.state = "new"
        self._media = PeerMedia()  # set by the room from signaling (peer-media)
        self.connected_at: float | None = None
        self.joined_at = time.time()
        self.restarts = 0
        self.pc: RTCPeerConnection | None = None  # the connection carrying this peer's media
        self._tasks = Tasks(f"a task of peer {peer_id}")
        self.closed = False
        self.addons: dict[str, Any] = {}  # per-peer state of add-ons (E2EE's PeerCrypto)

    @property
    def media(self) -> PeerMedia:
        """What the participant announces it sends (set by the room from signaling)."""
        return self._media

    @media.setter
    def media(self, media: PeerMedia) -> None:
        self._media = media
        self.room.media_hooks.announced(self, media.e2ee)  # it encrypts; we may have no key

    @property
    def e2ee(self) -> str | None:
        """"ok", "no-key", "wrong-key" (frames dropped), or None: no encrypted frames seen."""
        return self.room.media_hooks.status(self)

    @property
    def is_host(self) -> bool:
        """True if this participant is a host of the session (``room.hosts``)."""
        return self.peer_id in getattr(self.room, "hosts", ())

    @property
    def has_media(self) -> bool:
        return self.video.frame_count > 0 or self.audio.frame_count > 0

    def adopt(self, pc: RTCPeerConnection, on_state: Callable[[str], None] | None = None) -> None:
        """Make ``pc`` this peer's connection (closing the previous one): its received
        tracks feed ``.video``/``.audio``; its state changes go to ``on_state`` (default:
        :meth:`record_state`) while it is still this peer's connection."""
        old, self.pc = self.pc, pc
        if old is not None and old is not pc:
            self._spawn(old.close())
        report = on_state or self.record_state

        @pc.on("track")
        def on_track(track: Any) -> None:
            if pc is not self.pc:
                return
            if self.room.low_latency:
                _install_low_latency(pc, track)
            self.room.media_hooks.on_track(self, pc, track)  # after the low-latency buffer
            feed = self.video if track.kind == "video" else self.audio
            self._spawn(pump(track, feed, end=False))

        @pc.on("connectionstatechange")
        async def on_state_change() -> None:
            if pc is self.pc:
                report(pc.connectionState)

    def set_layer(self, layer: str, timeout: float = 10.0) -> None:
        """SFU sessions: receive this simulcast layer of my video (``"low"``, ``"mid"``,
        ``"high"``); ``.video.layer`` says which one arrives."""
        self.room.set_layer(self.peer_id, layer, timeout)

    def release(self, pc: RTCPeerConnection | None, state: str = "new") -> None:
        """``pc`` no longer carries this peer's media (if it still did): note ``state``."""
        if pc is not None and pc is self.pc:
            self.pc = None
            self.record_state(state)

    def record_state(self, state: str) -> bool:
        """Note a connection state change and tell the room; False if nothing changed."""
        if state == self.state:
            return False
        self.state = state
        if state == "connected":
            self.connected_at = time.time()
        self.room.peer_state(self, state)
        return True

    def _spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        self.closed = True
        pc, self.pc = self.pc, None
        if pc is not None:
            try:
                await pc.close()
            except Exception:  # closing: the connection may already be half gone
                log.debug("closing %s's connection failed", self.peer_id, exc_info=True)
        self._tasks.cancel()
        self.video._end()
        self.audio._end()
        self.state = "closed"

    def __repr__(self) -> str:
        return f"<RemotePeer {self.peer_id} {self.name!r} {self.state}>"


def _install_low_latency(pc: RTCPeerConnection, track: Any) -> None:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            lowlatency.install(transceiver.receiver)
