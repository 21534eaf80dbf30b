"""One remote participant: its RTCPeerConnection, negotiation, and received feeds.

Negotiation follows the *perfect negotiation* roles (the smaller ``peer_id`` is polite).
aiortc has neither rollback nor ICE restart, so where the pattern rolls back or restarts ICE
we replace the peer connection instead: a polite peer facing a colliding offer drops its own
connection and answers; after a failure the impolite peer offers a fresh connection
(``"reset": true`` in the offer) and the polite one follows. Every connection carries one
audio and one video transceiver, both sendrecv, so sources change without renegotiation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from .encoded import prefer_codec
from .feeds import AudioFeed, VideoFeed, pump
from .ice import host_addresses

if TYPE_CHECKING:
    from .room import Room

__all__ = ["RemotePeer"]

log = logging.getLogger("zero_nb.peer")

RESTART_DELAY = 0.5  # impolite side, after 'failed'
POLITE_RESTART_DELAY = 5.0  # polite side, if no fresh offer arrived meanwhile


class RemotePeer:
    """Another participant: ``name``, ``video`` and ``audio`` feeds, connection ``state``."""

    def __init__(self, room: Room, peer_id: str, name: str) -> None:
        self.room = room
        self.peer_id = peer_id
        self.name = name
        self.video = VideoFeed(name)
        self.audio = AudioFeed(name)
        self.state = "new"
        self.connected_at: float | None = None
        self.joined_at = time.time()
        self.restarts = 0
        self.pc: RTCPeerConnection | None = None
        self._making_offer = False
        self._pending_candidates: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restart_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def polite(self) -> bool:
        return (self.room.peer_id or "") < self.peer_id

    @property
    def has_media(self) -> bool:
        return self.video.frame_count > 0 or self.audio.frame_count > 0

    # -- connection -----------------------------------------------------------------------------
    def adopt(self, pc: RTCPeerConnection, on_state: Callable[[str], None]) -> None:
        """Make ``pc`` this peer's connection (closing the previous one): its received
        tracks feed ``.video``/``.audio``; its state changes go to ``on_state``. Used by the
        mesh and by the SFU (where ``pc`` is this peer's subscription)."""
        old, self.pc = self.pc, pc
        if old is not None and old is not pc:
            self._spawn(old.close())

        @pc.on("track")
        def on_track(track: Any) -> None:
            if pc is not self.pc:
                return
            if self.room.low_latency:
                self.room.install_low_latency(pc, track)
            feed = self.video if track.kind == "video" else self.audio
            self._spawn(pump(track, feed, end=False))

        @pc.on("connectionstatechange")
        async def on_state_change() -> None:
            if pc is self.pc:
                on_state(pc.connectionState)

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self.room.rtc_configuration)
        for kind in ("audio", "video"):
            transceiver = pc.addTransceiver(kind, direction="sendrecv")
            transceiver.sender.replaceTrack(self.room.local_media(kind).subscribe())
            prefer_codec(transceiver, self.room.local_media(kind).source)  # class hook: H.264
        self.adopt(pc, self._set_state)
        return pc

    def record_state(self, state: str) -> bool:
        """Note a connection state change and tell the room; False if nothing changed."""
        if state == self.state:
            return False
        self.state = state
        if state == "connected":
            self.connected_at = time.time()
        self.room._emit("state", self, state)
        return True

    def _set_state(self, state: str) -> None:
        if self.record_state(state) and state == "failed" and not self._closed:
            delay = POLITE_RESTART_DELAY if self.polite else RESTART_DELAY
            self._schedule_restart(delay)

    def _schedule_restart(self, delay: float) -> None:
        if self._restart_task is None or self._restart_task.done():
            self._restart_task = asyncio.get_running_loop().create_task(self._restart(delay))

    async def _restart(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._closed or (self.pc is not None and self.pc.connectionState == "connected"):
            return
        log.info("peer %s (%s): connection %s, offering a fresh one", self.peer_id, self.name,
                 self.state)
        self.restarts += 1
        await self.offer(reset=True)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _local_description(self, pc: RTCPeerConnection, kind: str) -> dict[str, Any]:
        with host_addresses(self.room.host_addresses):
            desc = await (pc.createOffer() if kind == "offer" else pc.createAnswer())
            await pc.setLocalDescription(desc)  # gathers every candidate: no trickle
        return {"type": kind, "to": self.peer_id, "sdp": pc.localDescription.sdp}

    async def offer(self, reset: bool = False) -> None:
        """Send an offer (a fresh connection when ``reset`` or there is none)."""
        if self._closed:
            return
        pc = self._new_pc() if reset or self.pc is None else self.pc
        self._making_offer = True
        try:
            message = await self._local_description(pc, "offer")
        finally:
            self._making_offer = False
        if pc is self.pc:
            if reset:
                message["reset"] = True
            await self.room._signal(message)

    # -- signals from the remote peer ----------------------------------------------------------
    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        try:
            if kind == "offer":
                await self._on_offer(message)
            elif kind == "answer":
                await self._on_answer(message)
            elif kind == "candidate":
                await self._on_candidate(message)
        except Exception as exc:  # a bad SDP from one peer must not break the room
            log.warning("peer %s (%s): cannot apply %s: %s", self.peer_id, self.name, kind, exc)
            self.room._emit("error", self, f"{kind} from {self.name} rejected: {exc}")

    async def _on_offer(self, message: dict[str, Any]) -> None:
        pc = self.pc
        collision = pc is not None and (
            self._making_offer or pc.signalingState != "stable")
        if collision and not self.polite:
            log.debug("peer %s: ignoring colliding offer (impolite)", self.peer_id)
            return
        if pc is None or collision or message.get("reset") or pc.connectionState in (
                "failed", "closed") or pc.remoteDescription is not None:
            # no rollback in aiortc: a fresh connection stands in for it; a repeated offer
            # on an established connection is a reset by a peer that lost its state
            pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        await self._flush_candidates()
        await self.room._signal(await self._local_description(pc, "answer"))

    async def _on_answer(self, message: dict[str, Any]) -> None:
        pc = self.pc
        if pc is None or pc.signalingState != "have-local-offer":
            log.debug("peer %s: stray answer ignored", self.peer_id)
            return
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        await self._flush_candidates()

    async def _on_candidate(self, message: dict[str, Any]) -> None:
        cand = message.get("candidate")
        if not cand or not cand.get("candidate"):
            return  # end of candidates: aiortc needs no marker
        self._pending_candidates.append(cand)
        if self.pc is not None and self.pc.remoteDescription is not None:
            await self._flush_candidates()

    async def _flush_candidates(self) -> None:
        pending, self._pending_candidates = self._pending_candidates, []
        for cand in pending:
            assert self.pc is not None
            text = cand["candidate"]
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith(
                "candidate:") else text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        self._closed = True
        if self._restart_task is not None:
            self._restart_task.cancel()
        pc, self.pc = self.pc, None
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()
        for task in list(self._tasks):
            task.cancel()
        self.video._end()
        self.audio._end()
        self.state = "closed"

    def __repr__(self) -> str:
        return f"<RemotePeer {self.peer_id} {self.name!r} {self.state}>"

