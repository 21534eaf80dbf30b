"""SFU mode end to end: bots on a real signaling server whose sessions are Janus VideoRooms.

Janus (Debian package ``janus``) runs in the foreground from a config directory written by
``tests/sfu_support.py``, in the test's private network namespace. Janus leaves loopback out
of its ICE candidates, so each test adds a veth pair holding 127.0.0.1/32 and tells Janus to
use only it; the pair is removed at teardown, so the next test still sees a loopback-only
namespace.
"""

from __future__ import annotations

import itertools
import logging
import time

import pytest

import zero_nb
from tests import sfu_support
from tests.conftest import MEDIA_CONFIG, UNIT, close_to, wait_until
from zero_nb import sources

pytestmark = pytest.mark.media

janus = sfu_support.janus  # the fixture: real Janus with ICE on a veth
_free_port = sfu_support.free_port
COLOURS = {"a": (255, 0, 0), "b": (0, 255, 0), "c": (0, 0, 255), "d": (255, 255, 0)}


sfu_server = sfu_support.sfu_server


def bot(server, name, session="sfu"):
    return zero_nb.join(session, server.url, name=name, config=MEDIA_CONFIG,
                        video=sources.solid(COLOURS[name], 160, 120, fps=15))


def sees_all(room, names):
    peers = {p.name: p for p in room.peers.values()}
    return all(n in peers and close_to(peers[n].video.latest(), COLOURS[n]) for n in names)


def frame_shape(feed):
    """(height, width) of ``feed``'s newest frame, None before the first."""
    img = feed.latest()
    return None if img is None else img.shape[:2]


def switch_to(peer, layer, size, colour, timeout=10):
    """Ask Janus for ``layer`` of ``peer``: frames of ``size`` (h, w) and ``colour`` follow."""
    peer.set_layer(layer)
    assert wait_until(lambda: frame_shape(peer.video) == size, timeout * UNIT), (
        layer, frame_shape(peer.video))
    assert close_to(peer.video.latest(), colour)


def watched_at_low(server, session, name, colour, width, height):
    """A kernel sending ``colour`` at ``width``x``height`` and a kernel with no video that
    watches it at 'low' (both to leave)."""
    sender = zero_nb.join(session, server.url, name=name, config=MEDIA_CONFIG,
                          video=sources.solid(colour, width, height, fps=15))
    viewer = zero_nb.join(session, server.url, name="viewer", config=MEDIA_CONFIG)
    viewer.subscribe(layer="low")
    return sender, viewer


def seen_at_low(viewer, name, size, colour, peers=1):
    """``viewer``'s peer ``name`` once its 'low' layer arrives: ``size`` (h, w), ``colour``."""
    viewer.wait_for_peers(peers, timeout=30 * UNIT)
    peer = viewer.peer(name)
    assert wait_until(lambda: frame_shape(peer.video) == size, 20 * UNIT), frame_shape(peer.video)
    assert close_to(peer.video.latest(), colour) and peer.video.layer == "low"
    return peer


def test_four_bots_receive_each_other_through_janus(sfu_server):
    """Four bots in an SFU session each receive the other three's colours via Janus."""
    rooms = [bot(sfu_server, n) for n in "abcd"]
    try:
        for room in rooms:
            others = [n for n in "abcd" if n != room.name]
            assert wait_until(lambda r=room, o=others: sees_all(r, o), 30 * UNIT), (
                room.name, {p.name: p.state for p in room.peers.values()})
        a = rooms[0]
        assert a.topology is not None and a.topology.error is None
        assert all(p.pc is not None and p.state == "connected" for p in a.peers.values())
        stats = a.stats()
        assert all(s["in"]["video"]["packets"] for s in stats.values())
        # the Janus room maps the session; publishers are keyed by peer_id
        assert set(a.topology.feeds) == {r.peer_id for r in rooms[1:]}
    finally:
        for room in rooms:
            room.leave()
    assert wait_until(lambda: not sfu_server.bridge.rooms, 5 * UNIT)


def test_publisher_leaving_disappears_and_subscribe_limits(sfu_server):
    """A leaving publisher vanishes from room.peers; room.subscribe limits what arrives."""
    a, b, c = (bot(sfu_server, n, "sfu2") for n in "abc")
    try:
        assert wait_until(lambda: sees_all(a, "bc"), 20 * UNIT)
        a.subscribe([b.peer_id])
        pc_, pb = a.peers[c.peer_id], a.peers[b.peer_id]
        assert pc_.pc is None
        time.sleep(0.5 * UNIT)
        before_c, before_b = pc_.video.frame_count, pb.video.frame_count
        time.sleep(1.0 * UNIT)
        assert pc_.video.frame_count == before_c  # c's feed is not received any more
        assert pb.video.frame_count > before_b + 5
        a.subscribe(None)
        assert wait_until(lambda: pc_.video.frame_count > before_c + 5, 10 * UNIT)
        c.leave()
        assert wait_until(lambda: c.peer_id not in a.peers and c.peer_id not in b.peers,
                          5 * UNIT)
        assert c.peer_id not in a.topology.feeds or wait_until(
            lambda: c.peer_id not in a.topology.feeds, 3 * UNIT)
        assert close_to(b.peers[a.peer_id].video.latest(), COLOURS["a"])
    finally:
        for room in (a, b, c):
            room.leave()


def test_janus_killed_mid_call_is_an_error_event(sfu_server, janus):
    """Killing Janus mid-call gives each room a clear error event; nothing hangs or raises."""
    a, b = bot(sfu_server, "a", "sfu3"), bot(sfu_server, "b", "sfu3")
    errors = []
    a.on("error", lambda peer, text: errors.append(text))
    try:
        assert wait_until(lambda: sees_all(a, "b") and sees_all(b, "a"), 20 * UNIT)
        janus.kill()
        assert wait_until(lambda: errors, 5 * UNIT)
        assert "SFU lost" in errors[0] and "join again" in errors[0]
        assert b.topology.error is not None and "SFU lost" in b.topology.error
        a.send("still here")  # chat still works through the signaling server
        assert wait_until(lambda: any(m["data"] == "still here" for m in b.messages), 5 * UNIT)
        assert a.peers[b.peer_id].state == "failed"
        a.stats()
    finally:
        t0 = time.monotonic()
        a.leave()
        b.leave()
        assert time.monotonic() - t0 < 5 * UNIT


async def test_joined_carries_the_janus_room_even_without_janus():
    """With sfu.enabled, 'joined' names the Janus room (kind, url, numeric room, pin)."""
    from zero_nb._serve import create_server
    from zero_nb.signaling.client import SignalingClient

    url = f"ws://127.0.0.1:{_free_port()}"  # nobody there: room creation fails, logged
    async with create_server("127.0.0.1", 0, config={"sfu": {"enabled": True,
                                                             "url": url}}) as srv:
        client = SignalingClient(srv.url, session="s1", name="x")
        joined = await client.connect(5 * UNIT)
        try:
            sfu = joined["sfu"]
            assert sfu["kind"] == "janus" and sfu["url"] == url
            assert isinstance(sfu["room"], int) and sfu["pin"]
            assert srv.hooks.joined_extra is not None  # the bridge's, wired by create_server
        finally:
            await client.close()


def test_a_kernel_publishes_two_layers_and_another_switches(sfu_server):
    """A kernel sends its 640x480 video as two simulcast layers (sfu/simulcast.py): a kernel
    subscribed at 'low' gets 320x240 of the right colour, 'high' (and 'mid': of two layers,
    the top one) brings 640x480 and reads "high", and back;
    with ``media.video.simulcast: false`` there is one layer, whatever is asked."""
    sender, viewer = watched_at_low(sfu_server, "layers", "a", COLOURS["a"], 640, 480)
    single = zero_nb.join("layers", sfu_server.url, name="b", video=sources.solid(
        COLOURS["b"], 640, 480, fps=15), config={**MEDIA_CONFIG, "media": {
            "video": {"simulcast": False}}})
    try:
        peer = seen_at_low(viewer, "a", (240, 320), COLOURS["a"], peers=2)
        feed = peer.video
        switch_to(peer, "high", (480, 640), COLOURS["a"])
        assert feed.layer == "high"  # its top of two layers
        switch_to(peer, "mid", (480, 640), COLOURS["a"])  # of two layers: the top one
        assert feed.layer == "high"
        switch_to(peer, "low", (240, 320), COLOURS["a"])
        other = viewer.peer("b").video  # asked 'low', but it sends one layer
        assert wait_until(lambda: other.latest() is not None and
                          other.latest().shape[:2] == (480, 640), 20 * UNIT)
        assert sender.topology.layer_count == 2 and single.topology.layer_count == 1
    finally:
        for room in (sender, viewer, single):
            room.leave()


def test_an_hd_kernel_publishes_three_layers(sfu_server):
    """A kernel sending 1280x720 publishes three layers: a kernel picks 320x180, 640x360 or
    1280x720 of the right colour and ``peer.video.layer`` follows; a kernel with no video
    publishes two (at once: it waits for no first frame)."""
    sender, viewer = watched_at_low(sfu_server, "hd", "c", COLOURS["c"], 1280, 720)
    try:
        peer = seen_at_low(viewer, "c", (180, 320), COLOURS["c"])
        feed = peer.video
        for layer, size in (("mid", (360, 640)), ("high", (720, 1280)), ("low", (180, 320))):
            switch_to(peer, layer, size, COLOURS["c"])
            assert wait_until(lambda want=layer: feed.layer == want, 5 * UNIT), (layer, feed.layer)
        assert sender.topology.layer_count == 3
        assert wait_until(lambda: viewer.topology.layer_count == 2, 10 * UNIT)
    finally:
        for room in (sender, viewer):
            room.leave()


def test_a_class_leaving_at_once_reports_no_errors(sfu_server, caplog):
    """Everyone leaves at the same moment (the end of a class): the last one out closes the
    Janus room while the others still tear down their handles; nobody hears an error, nor
    sees a warning about it."""
    import concurrent.futures

    rooms = [bot(sfu_server, n, session="bell") for n in "abcd"]
    errors: list[tuple[str, str]] = []
    for room in rooms:
        room.on("error", lambda peer, text, name=room.name: errors.append((name, text)))
    assert wait_until(lambda: all(sees_all(r, [n for n in "abcd" if n != r.name])
                                  for r in rooms), 30 * UNIT)
    with concurrent.futures.ThreadPoolExecutor(len(rooms)) as pool:
        list(pool.map(lambda r: r.leave(), rooms))
    assert wait_until(lambda: not sfu_server.bridge.rooms, 5 * UNIT)
    time.sleep(0.5)  # let late Janus events arrive: any error would be reported by now
    assert errors == []
    assert not [r.getMessage() for r in caplog.records
                if r.name.startswith("zero_nb") and r.levelno >= logging.WARNING]


def _arrivals(feed):
    """Arrival times of ``feed``'s frames from now (a list), and ``unsubscribe``."""
    times: list[float] = []
    return times, feed.subscribe(lambda _frame: times.append(time.monotonic()))


def _longest_gap(times, since):
    after = [t for t in times if t >= since]
    return max((b - a for a, b in itertools.pairwise(after)), default=float("inf"))


def test_a_kernel_recounts_its_layers_when_its_size_changes(sfu_server):
    """A kernel switching its source from 640x480 to 1280x720 goes from 2 to 3 layers by
    itself, with no renegotiation: a viewer at 'low' keeps receiving, then gets 320x180,
    'mid' 640x360 and 'high' 1280x720 of the new colour; back to 640x480, 2 layers again
    and the viewer still receives 640x480, then 320x240. The longest frame gap at the
    viewer across each change is printed and stays under a second."""
    red, blue = COLOURS["a"], COLOURS["c"]
    sender, viewer = watched_at_low(sfu_server, "recount", "a", red, 640, 480)
    try:
        peer = seen_at_low(viewer, "a", (240, 320), red)
        feed = peer.video
        assert sender.topology.layer_count == 2
        times, unsubscribe = _arrivals(feed)
        try:
            switched = time.monotonic()
            sender.set_source(video=sources.solid(blue, 1280, 720, fps=15))
            assert wait_until(lambda: sender.topology.layer_count == 3, 10 * UNIT)
            assert wait_until(lambda: frame_shape(feed) == (180, 320), 10 * UNIT), frame_shape(feed)
            assert close_to(feed.latest(), blue)
            up_gap = _longest_gap(times, switched)
            top = sender.topology.sent_layers.high.sender  # full size: what out stats show
            assert sender.topology.video_sender() is top is not None

            def top_layer_stats():  # the top sender only starts with the switch: a moment
                out = sender.stats()[viewer.peer_id]["out"]["video"]
                return out["packets"] and out["target_kbps"] and out["bitrate_kbps"] is not None

            assert wait_until(top_layer_stats, 5 * UNIT), sender.stats()[viewer.peer_id]["out"]
            for layer, size in (("mid", (360, 640)), ("high", (720, 1280))):
                switch_to(peer, layer, size, blue)
            switched = time.monotonic()
            sender.set_source(video=sources.solid(red, 640, 480, fps=15))
            assert wait_until(lambda: sender.topology.layer_count == 2, 10 * UNIT)
            assert wait_until(lambda: frame_shape(feed) == (480, 640)
                              and close_to(feed.latest(), red), 10 * UNIT), frame_shape(feed)
            time.sleep(0.5 * UNIT)  # a gap after the switch would show here
            down_gap = _longest_gap(times, switched)
        finally:
            unsubscribe()
        switch_to(peer, "low", (240, 320), red)
        assert sender.topology.error is None
        print(f"\nlongest frame gap at the viewer: 2->3 layers (at 'low') {up_gap:.2f} s, "
              f"3->2 layers (at 'high') {down_gap:.2f} s")
        assert up_gap < 1.0 * UNIT and down_gap < 1.0 * UNIT, (up_gap, down_gap)
    finally:
        for room in (sender, viewer):
            room.leave()
