"""Mesh topology: one peer connection to every other participant, negotiated over signaling.

Negotiation follows the *perfect negotiation* roles (the smaller ``peer_id`` is polite).
aiortc has neither rollback nor ICE restart, so where the pattern rolls back or restarts ICE
we replace the peer connection instead: a polite peer facing a colliding offer drops its own
connection and answers; after a failure the impolite peer offers a fresh connection
(``"reset": true`` in the offer) and the polite one follows. Every connection carries one
audio and one video transceiver, both sendrecv, so sources change without renegotiation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from .._aiortc import candidate_from_sdp
from .ice import host_addresses
from .peer import RemotePeer
from .topology import RoomHost, Topology, UnsupportedTopology

__all__ = ["Mesh", "MeshLink", "mesh_only"]

log = logging.getLogger("zero_nb.mesh")

RESTART_DELAY = 0.5  # impolite side, after 'failed'
POLITE_RESTART_DELAY = 5.0  # polite side, if no fresh offer arrived meanwhile
OFFER_WAIT = 6.0  # a newcomer offers itself if the peer already there has not by then


class MeshLink:
    """The negotiation of one mesh connection: offers, answers, candidates, restarts."""

    def __init__(self, host: RoomHost, peer: RemotePeer) -> None:
        self.host = host
        self.peer = peer
        self._making_offer = False
        self._pending_candidates: list[dict[str, Any]] = []
        self._restart_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def polite(self) -> bool:
        return (self.host.peer_id or "") < self.peer.peer_id

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self.host.rtc_configuration)
        for kind in ("audio", "video"):
            transceiver = pc.addTransceiver(kind, direction="sendrecv")
            transceiver.sender.replaceTrack(self.host.local_track(kind))
            self.host.configure_transceiver(transceiver, kind)
        self.peer.adopt(pc, self._set_state)
        return pc

    def expect_offer(self, wait: float = OFFER_WAIT) -> None:
        """The peer already there should offer; if no connection exists after ``wait`` s
        (its offer was lost), offer ourselves: perfect negotiation settles any collision."""
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._offer_if_silent(wait))

    async def _offer_if_silent(self, wait: float) -> None:
        await asyncio.sleep(wait)
        if not self._closed and self.peer.pc is None:
            log.info("peer %s (%s): no offer within %g s, offering ourselves",
                     self.peer.peer_id, self.peer.name, wait)
            await self.offer()

    def _set_state(self, state: str) -> None:
        if self.peer.record_state(state) and state == "failed" and not self._closed:
            self._schedule_restart(POLITE_RESTART_DELAY if self.polite else RESTART_DELAY)

    def _schedule_restart(self, delay: float) -> None:
        if self._restart_task is None or self._restart_task.done():
            self._restart_task = asyncio.get_running_loop().create_task(self._restart(delay))

    async def _restart(self, delay: float) -> None:
        await asyncio.sleep(delay)
        pc = self.peer.pc
        if self._closed or (pc is not None and pc.connectionState == "connected"):
            return
        log.info("peer %s (%s): connection %s, offering a fresh one", self.peer.peer_id,
                 self.peer.name, self.peer.state)
        self.peer.restarts += 1
        await self.offer(reset=True)

    async def _local_description(self, pc: RTCPeerConnection, kind: str) -> dict[str, Any]:
        with host_addresses(self.host.host_addresses):
            desc = await (pc.createOffer() if kind == "offer" else pc.createAnswer())
            await pc.setLocalDescription(desc)  # gathers every candidate: no trickle
        message = {"type": kind, "to": self.peer.peer_id, "sdp": pc.localDescription.sdp}
        if self.host.session is not None:
            # the session it was made for: after a breakout move, the server drops what
            # was made before it rather than relay it to the same peer id in the new room
            message["session"] = self.host.session
        return self.host.media_hooks.outgoing(message)  # an add-on may mark it (E2EE)

    async def offer(self, reset: bool = False) -> None:
        """Send an offer (a fresh connection when ``reset`` or there is none)."""
        if self._closed:
            return
        pc = self._new_pc() if reset or self.peer.pc is None else self.peer.pc
        self._making_offer = True
        try:
            message = await self._local_description(pc, "offer")
        finally:
            self._making_offer = False
        if pc is self.peer.pc and not self._closed:
            if reset:
                message["reset"] = True
            await self.host.signal(message)

    async def handle(self, message: dict[str, Any]) -> None:
        """Apply an offer, answer or candidate from the remote peer."""
        kind = message["type"]
        self.host.media_hooks.incoming(self.peer, message)  # an add-on may read it (E2EE)
        handler = {"offer": self._on_offer, "answer": self._on_answer,
                   "candidate": self._on_candidate}.get(kind)
        if handler is None or self._closed:
            return
        try:
            await handler(message)
        except Exception as exc:  # a bad SDP from one peer must not break the room
            log.warning("peer %s (%s): cannot apply %s: %s", self.peer.peer_id, self.peer.name,
                        kind, exc)
            self.host.report_error(f"{kind} from {self.peer.name} rejected: {exc}", self.peer)

    async def _on_offer(self, message: dict[str, Any]) -> None:
        pc = self.peer.pc
        collision = pc is not None and (self._making_offer or pc.signalingState != "stable")
        if collision and not self.polite:
            log.debug("peer %s: ignoring colliding offer (impolite)", self.peer.peer_id)
            return
        if pc is None or collision or message.get("reset") or pc.connectionState in (
                "failed", "closed") or pc.remoteDescription is not None:
            # no rollback in aiortc: a fresh connection stands in for it; a repeated offer
            # on an established connection is a reset by a peer that lost its state
            pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        await self._flush_candidates()
        answer = await self._local_description(pc, "answer")
        if not self._closed:  # the peer left meanwhile: the answer would reach its successor
            await self.host.signal(answer)

    async def _on_answer(self, message: dict[str, Any]) -> None:
        pc = self.peer.pc
        if pc is None or pc.signalingState != "have-local-offer":
            log.debug("peer %s: stray answer ignored", self.peer.peer_id)
            return
        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        await self._flush_candidates()

    async def _on_candidate(self, message: dict[str, Any]) -> None:
        cand = message.get("candidate")
        if not cand or not cand.get("candidate"):
            return  # end of candidates: aiortc needs no marker
        self._pending_candidates.append(cand)
        pc = self.peer.pc
        if pc is not None and pc.remoteDescription is not None:
            await self._flush_candidates()

    async def _flush_candidates(self) -> None:
        pending, self._pending_candidates = self._pending_candidates, []
        pc = self.peer.pc
        for cand in pending:
            assert pc is not None
            text = cand["candidate"]
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith(
                "candidate:") else text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)

    def close(self) -> None:
        self._closed = True
        for task in (self._restart_task, self._watchdog):
            if task is not None:
                task.cancel()


class Mesh(Topology):
    """Every participant connects to every other; the peers already there offer."""

    kind = "mesh"

    def __init__(self, host: RoomHost, offer_wait: float = OFFER_WAIT) -> None:
        super().__init__(host)
        self.links: dict[str, MeshLink] = {}
        self.offer_wait = offer_wait

    def serves(self, joined: dict[str, Any]) -> bool:
        return not joined.get("sfu")

    def _link(self, peer: RemotePeer) -> MeshLink:
        link = self.links.get(peer.peer_id)
        if link is None or link.peer is not peer:
            link = self.links[peer.peer_id] = MeshLink(self.host, peer)
        return link

    def peer_joined(self, peer: RemotePeer, *, newcomer: bool) -> None:
        link = self._link(peer)
        # we are the newcomer when newcomer is False: the peers already here send the offers;
        # a peer back after a signaling restart keeps its live connection
        if newcomer and peer.state != "connected":
            self.host.spawn(link.offer(reset=peer.pc is not None))
        elif not newcomer:
            link.expect_offer(self.offer_wait)

    def peer_left(self, peer: RemotePeer) -> None:
        link = self.links.pop(peer.peer_id, None)
        if link is not None:
            link.close()

    def signal(self, message: dict[str, Any]) -> None:
        peer = self.host.peers.get(message.get("from", ""))
        if peer is not None:
            self.host.spawn(self._link(peer).handle(message))

    def sending(self) -> list[RTCPeerConnection]:
        return [link.peer.pc for link in self.links.values() if link.peer.pc is not None]

    async def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.links.clear()


def mesh_only(host: RoomHost, joined: dict[str, Any]) -> Topology:
    """The engine's own topology factory: a mesh, or a clear error for an SFU session."""
    if joined.get("sfu"):
        raise UnsupportedTopology(
            "this session's media goes through an SFU (Janus): join with zero_nb.join(), "
            "which knows how to reach it")
    return Mesh(host)
