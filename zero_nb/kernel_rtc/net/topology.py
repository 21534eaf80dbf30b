"""The seam between a room and the way its media reaches the others.

A :class:`Room` keeps the roster (who is in the session: signaling says so), events, chat
and local media. *How* media travels is its :class:`Topology`: a full :class:`~.mesh.Mesh`
of peer connections, or an SFU (``zero_nb.sfu.kernel.Sfu``, Janus). The room calls the
topology on roster changes and hands it the signals addressed to it; it never asks which
topology it holds. A topology talks back only through :class:`RoomHost`, the small public
surface a room offers it (a test can stand in for it with no sockets).

Which topology a room gets is decided at the entry point (``zero_nb.join``) from the
server's ``joined`` message, through a :data:`TopologyFactory`; the engine itself knows
only the mesh, so it never imports the SFU.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import ZeroNBError
from .peer import PeerHost, RemotePeer

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver

__all__ = ["RoomHost", "Topology", "TopologyFactory", "UnsupportedTopology"]


class UnsupportedTopology(ZeroNBError):
    """The server routes this session in a way this process cannot join."""


class RoomHost(PeerHost, Protocol):
    """What a topology may use of its room (more than a remote peer may)."""

    @property
    def peer_id(self) -> str | None: ...
    @property
    def session(self) -> str | None: ...
    @property
    def peers(self) -> Mapping[str, RemotePeer]: ...
    @property
    def closed(self) -> bool: ...  # leave() has begun: what breaks now is no news
    @property
    def rtc_configuration(self) -> RTCConfiguration: ...
    @property
    def host_addresses(self) -> list[str] | None: ...

    def local_track(self, kind: str) -> MediaStreamTrack:
        """A new relay of what this participant sends (``"audio"`` or ``"video"``)."""
        ...

    def configure_transceiver(self, transceiver: RTCRtpTransceiver, kind: str) -> None:
        """Prepare a new transceiver that sends ``kind``: codec preference, encoder hooks."""
        ...

    def sends_layers(self) -> bool:
        """May this participant's video go out as simulcast layers (config allows it, and
        its frames are decoded, not an encoded file sent as is)?"""
        ...

    def sent_video_height(self) -> int | None:
        """The height of the video frames this participant sends now; None before the first."""
        ...

    async def signal(self, message: dict[str, Any]) -> None:
        """Send a signaling message (``offer``/``answer``/``candidate``) to a peer."""
        ...

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` on the engine loop, keeping a reference until it ends."""
        ...


class Topology(abc.ABC):
    """How a room's media reaches the other participants. Every method runs on the engine loop.

    Lifecycle: created for a ``joined`` message, :meth:`start` once, then roster calls
    (:meth:`peer_joined`, :meth:`peer_left`) and :meth:`signal` in any order, :meth:`close`
    last. A topology never raises into user code from a callback: failures become
    ``host.report_error``.
    """

    kind: str = "?"

    def __init__(self, host: RoomHost) -> None:
        self.host = host

    def serves(self, joined: dict[str, Any]) -> bool:
        """True if this topology can carry on after (re-)joining with ``joined``."""
        return True

    async def start(self) -> None:  # noqa: B027  # optional: a mesh has nothing to share
        """Set up what the whole session shares (e.g. publishing to the SFU)."""

    @abc.abstractmethod
    def peer_joined(self, peer: RemotePeer, *, newcomer: bool) -> None:
        """``peer`` is in the session. ``newcomer``: it arrived after us (we make contact)."""

    @abc.abstractmethod
    def peer_left(self, peer: RemotePeer) -> None:
        """``peer`` left; the room closes the peer itself afterwards."""

    def signal(self, message: dict[str, Any]) -> None:  # noqa: B027  # optional: no offers in an SFU
        """An ``offer``/``answer``/``candidate`` relayed from another peer."""

    async def subscribe(self, peer_ids: list[str] | None, layer: str | None = None) -> None:
        """Receive only these peers' media (``None``: everyone's), at ``layer``."""
        raise ZeroNBError(
            f"room.subscribe() chooses feeds in SFU sessions; this session is a {self.kind} "
            "(no sfu in the server's config), where every peer sends to every other")

    async def set_layer(self, peer_id: str, layer: str) -> None:
        """Receive ``layer`` (``"low"``, ``"mid"``, ``"high"``) of a simulcast sender."""
        raise ZeroNBError(
            f"simulcast layers exist in SFU sessions; this session is a {self.kind}, where "
            "each sender sends one stream to each peer (use set_quality to cap it)")

    @abc.abstractmethod
    def sending(self) -> list[RTCPeerConnection]:
        """The connections that carry this participant's media out (for stats)."""

    def sending_for(self, peer: RemotePeer) -> RTCPeerConnection | None:
        """The connection that carries our media to ``peer`` (for its ``out`` stats)."""
        return peer.pc

    def video_sender(self) -> Any:
        """The sender whose counters and encoder stand for our video in ``out`` stats, when
        not the sending connection's own (an SFU's simulcast top layer); None: that one."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every connection this topology opened."""


TopologyFactory = Callable[[RoomHost, dict[str, Any]], Topology]
"""Builds the topology for a ``joined`` message (the entry point chooses)."""

