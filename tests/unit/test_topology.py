"""The topology seam without sockets: the room drives a topology only through its interface,
and the mesh negotiates through a fake signaling transport (no ICE candidates, no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCConfiguration

from tests.conftest import UNIT
from zero_nb.kernel_rtc.net.hooks import MediaHooks
from zero_nb.kernel_rtc.net.mesh import Mesh, mesh_only
from zero_nb.kernel_rtc.net.peer import RemotePeer
from zero_nb.kernel_rtc.net.topology import Topology, UnsupportedTopology
from zero_nb.kernel_rtc.room import Room


class Recorder(Topology):
    """A topology that writes down every call the room makes."""

    kind = "recorder"

    def __init__(self, host: Any, joined: dict[str, Any]) -> None:
        super().__init__(host)
        self.route = joined.get("route")
        self.calls: list[tuple[Any, ...]] = []

    def serves(self, joined: dict[str, Any]) -> bool:
        return joined.get("route") == self.route

    async def start(self) -> None:
        self.calls.append(("start",))

    def peer_joined(self, peer: RemotePeer, *, newcomer: bool) -> None:
        self.calls.append(("joined", peer.peer_id, newcomer))

    def peer_left(self, peer: RemotePeer) -> None:
        self.calls.append(("left", peer.peer_id))

    def signal(self, message: dict[str, Any]) -> None:
        self.calls.append(("signal", message["type"], message["from"]))

    def sending(self) -> list[Any]:
        return []

    async def close(self) -> None:
        self.calls.append(("close",))


def _room(made: list[Recorder]) -> Room:
    def factory(host: Any, joined: dict[str, Any]) -> Topology:
        made.append(Recorder(host, joined))
        return made[-1]

    room = Room("s", "ws://127.0.0.1:9/ws", name="me", topologies=factory,
                config=None)
    return room


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_room_drives_the_topology_through_its_interface():
    """Roster and signals reach the topology as calls; the room keeps the roster itself."""
    made: list[Recorder] = []
    room = _room(made)
    room._apply_joined({"session": "s", "peer_id": "p2", "peers": [
        {"peer_id": "p1", "name": "ann"}]})
    room._on_signal({"type": "peer-joined", "peer_id": "p3", "name": "bob"})
    room._on_signal({"type": "offer", "from": "p3", "to": "p2", "sdp": "x"})
    room._on_signal({"type": "peer-left", "peer_id": "p1"})
    await _settle()
    [topo] = made
    assert topo.calls.count(("start",)) == 1  # spawned: runs once, after the sync calls
    assert [c for c in topo.calls if c != ("start",)] == [
        ("joined", "p1", False), ("joined", "p3", True), ("signal", "offer", "p3"),
        ("left", "p1")]
    assert set(room.peers) == {"p3"} and room.peers["p3"].name == "bob"


async def test_room_swaps_the_topology_when_the_route_changes():
    """A re-join that names another route closes the old topology and starts a new one;
    the same route keeps it (and its live connections)."""
    made: list[Recorder] = []
    room = _room(made)
    joined = {"session": "s", "peer_id": "p2", "peers": [], "route": "a"}
    room._apply_joined(joined)
    room._apply_joined(dict(joined))
    assert len(made) == 1
    room._apply_joined({**joined, "route": "b"})
    await _settle()
    assert len(made) == 2 and ("close",) in made[0].calls and made[1].calls == [("start",)]
    assert room.topology is made[1]


def test_the_engine_alone_refuses_an_sfu_session_clearly():
    """Without join()'s factory the engine knows only the mesh and says what to do."""
    with pytest.raises(UnsupportedTopology, match=r"zero_nb\.join"):
        mesh_only(object(), {"sfu": {"url": "ws://x"}})  # type: ignore[arg-type]


async def test_mesh_subscribe_explains_itself():
    """room.subscribe() in a mesh raises an error naming the SFU."""
    with pytest.raises(Exception, match="SFU"):
        await Mesh(object()).subscribe(["x"])  # type: ignore[arg-type]


class WiredHost:
    """A RoomHost whose signaling is a direct call into another host's mesh."""

    def __init__(self, peer_id: str) -> None:
        self.peer_id = peer_id
        self.session: str | None = "s"
        self.rtc_configuration = RTCConfiguration(iceServers=[])
        self.host_addresses: list[str] = []  # no candidates: no socket is ever opened
        self.low_latency = False
        self.media_hooks = MediaHooks()
        self.peers: dict[str, RemotePeer] = {}
        self.mesh = Mesh(self)
        self.other: WiredHost | None = None
        self.sent: list[str] = []
        self.errors: list[str] = []
        self.tasks: list[asyncio.Future[Any]] = []

    def local_track(self, kind: str) -> Any:
        return None

    def configure_transceiver(self, transceiver: Any, kind: str) -> None:
        pass

    async def signal(self, message: dict[str, Any]) -> None:
        assert self.other is not None
        self.sent.append(message["type"])
        self.other.mesh.signal({**message, "from": self.peer_id})

    def report_error(self, text: str, peer: RemotePeer | None = None) -> None:
        self.errors.append(text)

    def peer_state(self, peer: RemotePeer, state: str) -> None:
        pass

    def spawn(self, coro: Any) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    def meet(self, other: WiredHost) -> RemotePeer:
        self.other = other
        peer = self.peers[other.peer_id] = RemotePeer(self, other.peer_id, other.peer_id)
        return peer


async def _drain(*hosts: WiredHost) -> None:
    deadline = asyncio.get_running_loop().time() + 10 * UNIT
    while any(not t.done() for h in hosts for t in h.tasks):
        assert asyncio.get_running_loop().time() < deadline, "negotiation did not finish"
        await asyncio.sleep(0.01)


async def _pair() -> tuple[WiredHost, WiredHost, RemotePeer, RemotePeer]:
    a, b = WiredHost("a"), WiredHost("b")
    return a, b, a.meet(b), b.meet(a)


async def test_mesh_the_peer_already_there_offers_and_both_end_stable():
    """Only the side that sees a newcomer offers; the exchange ends stable on both sides."""
    a, b, a_sees_b, b_sees_a = await _pair()
    a.mesh.peer_joined(a_sees_b, newcomer=False)  # a arrived after b: waits
    b.mesh.peer_joined(b_sees_a, newcomer=True)  # b was there: offers
    await _drain(a, b)
    assert (b.sent, a.sent) == (["offer"], ["answer"])
    assert a_sees_b.pc.signalingState == b_sees_a.pc.signalingState == "stable"
    assert not a.errors and not b.errors
    await asyncio.gather(a_sees_b.close(), b_sees_a.close())


async def test_mesh_offer_collision_the_polite_peer_yields():
    """Both offer at once: the impolite side ignores the other's offer, the polite side
    (smaller peer_id) answers it, and both end stable on the impolite side's connection."""
    a, b, a_sees_b, b_sees_a = await _pair()
    a.mesh.peer_joined(a_sees_b, newcomer=True)
    b.mesh.peer_joined(b_sees_a, newcomer=True)
    await _drain(a, b)
    assert a.mesh.links["b"].polite and not b.mesh.links["a"].polite
    assert "answer" in a.sent and "answer" not in b.sent
    assert a_sees_b.pc.signalingState == b_sees_a.pc.signalingState == "stable"
    await asyncio.gather(a_sees_b.close(), b_sees_a.close())


async def test_mesh_bad_sdp_is_an_error_event_not_an_exception():
    """A malformed offer from one peer reaches report_error; the mesh keeps working."""
    a, _, a_sees_b, _ = await _pair()
    a.mesh.peer_joined(a_sees_b, newcomer=False)
    a.mesh.signal({"type": "offer", "from": "b", "to": "a", "sdp": "garbage"})
    a.mesh.signal({"type": "offer", "from": "nobody", "to": "a", "sdp": "x"})  # ignored
    await _drain(a)
    assert len(a.errors) == 1 and "offer from b rejected" in a.errors[0]
    a.mesh.peer_left(a_sees_b)
    assert "b" not in a.mesh.links
    await a_sees_b.close()


async def test_mesh_newcomer_offers_itself_when_the_offer_is_lost():
    """The peer already there should offer; if that offer never arrives (lost), the newcomer
    offers after the watchdog delay and both sides still end stable."""
    a, b, a_sees_b, b_sees_a = await _pair()
    a.mesh.offer_wait = 0.2
    a.mesh.peer_joined(a_sees_b, newcomer=False)  # b's offer never comes
    b.mesh._link(b_sees_a)  # b knows a (as after a lost offer) but does not offer
    deadline = asyncio.get_running_loop().time() + 10 * UNIT
    while not b.sent:  # the watchdog's offer, then b's answer
        assert asyncio.get_running_loop().time() < deadline, "the newcomer never offered"
        await asyncio.sleep(0.02)
    await _drain(a, b)
    assert (a.sent, b.sent) == (["offer"], ["answer"])
    assert a_sees_b.pc.signalingState == b_sees_a.pc.signalingState == "stable"
    await asyncio.gather(a_sees_b.close(), b_sees_a.close())


async def test_mesh_watchdog_stays_quiet_when_the_offer_comes():
    """With the expected offer arriving in time, the newcomer never offers."""
    a, b, a_sees_b, b_sees_a = await _pair()
    a.mesh.offer_wait = 0.3
    a.mesh.peer_joined(a_sees_b, newcomer=False)
    b.mesh.peer_joined(b_sees_a, newcomer=True)
    await _drain(a, b)
    await asyncio.sleep(0.5)
    await _drain(a, b)
    assert (a.sent, b.sent) == (["answer"], ["offer"])
    await asyncio.gather(a_sees_b.close(), b_sees_a.close())
