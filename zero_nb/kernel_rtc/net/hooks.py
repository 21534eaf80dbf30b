"""Add-on hooks on the send and receive paths: how an add-on (end-to-end encryption) joins
the core without the core importing it.

The core calls a room's :class:`MediaHooks` at fixed points: a new sending transceiver, a
received track, an outgoing and an incoming offer or answer, what a peer announces (it
encrypts), the peer's add-on state and its stats. The base class changes nothing; the E2EE
add-on (``kernel_rtc.e2ee.rtc``) is one subclass, installed on the room when it joins.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MediaHooks"]


class MediaHooks:
    """The hooks a room's media paths call; every method here is a no-op."""

    keyring: Any = None  # the E2EE add-on's key material (``room.e2ee``), None without it

    def configure_transceiver(self, host: Any, transceiver: Any, kind: str) -> None:
        """A transceiver that sends ``kind`` was made (send path: encoder hooks, codecs)."""

    def on_track(self, peer: Any, pc: Any, track: Any) -> None:
        """``pc`` received ``track`` from ``peer`` (receive path, after the jitter buffer)."""

    def outgoing(self, message: dict[str, Any]) -> dict[str, Any]:
        """An offer/answer (or Janus JSEP) about to leave: return it, marked as needed."""
        return message

    def incoming(self, peer: Any, message: dict[str, Any] | None) -> None:
        """An offer/answer (or Janus JSEP) from ``peer`` arrived."""

    def announced(self, peer: Any, encrypts: bool) -> None:
        """``peer``'s announced media state says whether it encrypts its media."""

    def status(self, peer: Any) -> str | None:
        """``peer.e2ee``: the add-on's word on ``peer`` (None: nothing to say)."""
        return None

    def counters(self, peer: Any, kind: str) -> dict[str, Any]:
        """Extra stats fields for ``peer``'s received ``kind``."""
        return {}
