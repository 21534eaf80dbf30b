"""The widget end of the kernel -> page comm transport: start and stop a view's
:class:`~zero_nb.kernel_rtc.downlink.Downlink` and route the page's ``m.ctl`` to it.

Entry points for the transport switch: :func:`start` / :func:`stop` (the page's ``m.ctl``
``transport`` op calls them through :func:`route`, so a page that chose the comm gets its
tiles whichever side decided). The downlink shows what the widget's
:class:`~zero_nb.kernel_rtc.link.LocalLink` has in its slots.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from ..kernel_rtc.downlink import Downlink, Resolve

if TYPE_CHECKING:
    from ..kernel_rtc.link import LocalLink
    from ..kernel_rtc.room import Room

__all__ = ["CommDownlink", "DownlinkWidget", "mesh_receivers", "route", "start", "stop"]

log = logging.getLogger("zero_nb.widgets")


class DownlinkWidget(Protocol):
    """What the downlink needs of a widget (``widgets._base.LinkWidget`` is one): its local
    link, its comm's ``send`` and a place to keep the running downlink."""

    link: LocalLink | None
    _downlink: Any

    def send(self, content: dict[str, Any], buffers: Any = None) -> None: ...


def start(widget: DownlinkWidget, view: str, *, video: str = "vp8", audio: str | None = "opus",
          resolve: Resolve | None = None) -> Downlink:
    """Send ``view``'s slots over the comm from now on (replacing any earlier downlink);
    ``video``/``audio``: what the page decodes ("vp8" or "jpeg"; "opus" or None)."""
    stop(widget)

    def slots() -> list[tuple[Any, Any, Any]]:
        link = widget.link
        return link.feeds() if link is not None and link.view == view else []

    downlink = Downlink(lambda content, buffers: widget.send(content, buffers), view=view,
                        slots=slots, resolve=resolve, video=video, audio=audio)
    widget._downlink = downlink
    downlink.start()
    log.debug("downlink %s: started (%s, %s)", view, video, audio)
    return downlink


class CommDownlink(Downlink):
    """A :class:`Downlink` for ``link``'s slots (the shape the transport switch builds:
    ``CommDownlink(widget.send, link)``; ``handle(m.ctl)``, ``close()``). The page's
    ``decoders`` op picks VP8/Opus or JPEG; pass ``resolve`` (e.g. :func:`mesh_receivers`)
    to forward mesh peers' frames as received."""

    def __init__(self, send: Any, link: LocalLink, *, engine: Any = None,
                 resolve: Resolve | None = None, video: str = "vp8",
                 audio: str | None = "opus") -> None:
        super().__init__(lambda content, buffers: send(content, buffers), view=link.view,
                         slots=link.feeds, resolve=resolve, video=video, audio=audio)
        self.start()

    def handle(self, content: dict[str, Any]) -> None:
        if content.get("op") == "decoders":  # before any frame: the sources follow
            self.video = "jpeg" if content.get("video") == "jpeg" else "vp8"
            self.audio = "opus" if content.get("audio") == "opus" else None
            self._wake.set()
            return
        super().handle(content)

    def close(self) -> None:
        self.stop()


def stop(widget: DownlinkWidget, view: str | None = None) -> None:
    """Stop the widget's downlink (only ``view``'s, when given)."""
    downlink: Downlink | None = getattr(widget, "_downlink", None)
    if downlink is None or (view is not None and downlink.view != view):
        return
    widget._downlink = None
    downlink.stop()


def route(widget: DownlinkWidget, content: dict[str, Any], resolve: Resolve | None = None) -> bool:
    """Handle an ``m.ctl`` meant for the downlink; True when nobody else needs it
    (``transport`` is also the switch's, so it returns False)."""
    op = content.get("op")
    view = str(content.get("view"))
    if op == "transport":
        if content.get("transport") == "comm":
            video = "jpeg" if content.get("video") == "jpeg" else "vp8"
            audio = "opus" if content.get("audio") == "opus" else None
            running: Downlink | None = getattr(widget, "_downlink", None)
            if running is not None and (running.view, running.video, running.audio) == (
                    view, video, audio):
                return False  # told twice (the link, then the tiles' half): keep it
            start(widget, view, video=video, audio=audio, resolve=resolve)
        else:
            stop(widget, view)
        return False
    downlink: Downlink | None = getattr(widget, "_downlink", None)
    if op in ("ack", "keyframe"):
        if downlink is not None and downlink.view == view:
            downlink.handle(content)
        return True
    return False


def mesh_receivers(room: Room) -> Resolve:
    """``resolve`` for a room: a mesh peer's receiver of ``kind`` (its frames are forwarded
    as received), None for anything else (SFU feeds, the kernel's own video: encoded)."""
    from ..kernel_rtc.net.mesh import Mesh

    def resolve(info: dict[str, Any], kind: str) -> Any:
        peer = room.peers.get(str(info.get("peer_id")))
        if peer is None or peer.pc is None or not isinstance(room.topology, Mesh):
            return None
        for transceiver in peer.pc.getTransceivers():
            if transceiver.kind == kind and transceiver.receiver is not None:
                return transceiver.receiver
        return None

    return resolve
