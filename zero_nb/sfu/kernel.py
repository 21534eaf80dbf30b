"""Kernel side of SFU mode, the :class:`Sfu` topology: publish once to Janus, subscribe to
each other participant's feed.

The signaling roster stays the truth for ``room.peers``: a :class:`RemotePeer` exists while
the peer is in the session, and gets its media from the Janus feed whose publisher
``display`` is its ``peer_id``. Each feed is its own recvonly connection (Janus offers, we
answer): aiortc has no rollback and handles re-offers that add or remove m-lines poorly, so
one connection per feed keeps a publisher coming or going, or ``room.subscribe``, from ever
renegotiating the others; ``peer.pc`` is that connection, so stats read its RTP counters.

Failures never raise into user code: they become ``error`` events on the room (and a log
line); if the Janus connection drops, media stops, chat keeps working, and the error says to
leave and join again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from ..kernel_rtc.net.ice import host_addresses
from ..kernel_rtc.net.topology import RoomHost, Topology
from .janus import NO_SUCH_FEED, NO_SUCH_ROOM, JanusError, JanusHandle, JanusSession
from .simulcast import LayerSet, layer_count, scalable

if TYPE_CHECKING:
    from ..kernel_rtc.net.peer import RemotePeer

__all__ = ["Sfu", "layer_name"]

log = logging.getLogger("zero_nb.sfu")

LAYERS = ("low", "mid", "high")  # asked for as Janus substreams 0, 1, 2; read: layer_name()
SIZE_POLL_S, SIZE_HOLD_S = 0.25, 1.0  # a new layer count must hold this long to be sent
NUDGES, NUDGE_S = 4, 1.2  # configure again (Janus sends a fresh PLI) while no switch shows
ROOM_WAIT_S = 10.0  # the server creates the Janus room in the background: wait that long
FEED_RETRIES = 6  # "No such feed": the publisher is not up yet
RETRY_S = 0.5


class _Subscription:
    """One feed received: its Janus handle and recvonly connection."""

    def __init__(self, feed_id: int) -> None:
        self.feed_id = feed_id
        self.handle: JanusHandle | None = None
        self.pc: RTCPeerConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.video_mid: str | None = None  # the subscription's video stream, for configure
        self.switched = asyncio.Event()  # Janus reported a substream since the last configure
        self.target = len(LAYERS) - 1  # the substream asked for (Janus' default: the top)
        self.top: int | None = None  # the publisher's top substream, once Janus showed it
        self.nudge: asyncio.Future[None] | None = None

    async def close(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.nudge is not None:
            self.nudge.cancel()
        pc, self.pc = self.pc, None
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()
        handle, self.handle = self.handle, None
        if handle is not None:
            await handle.detach()


class Sfu(Topology):
    """A room's media through a Janus VideoRoom (``joined.sfu``)."""

    kind = "sfu"

    def __init__(self, host: RoomHost, info: dict[str, Any]) -> None:
        super().__init__(host)
        self.url: str = info["url"]
        self.room_id: int = info["room"]
        self.pin: str | None = info.get("pin")
        self.require_e2ee = bool(info.get("require_e2ee"))  # E2EE hook: every feed encrypts
        self.simulcast = info.get("simulcast") is not False  # the server's media.video.simulcast
        self.sent_layers: LayerSet | None = None  # our video's simulcast layers, if any
        self.error: str | None = None  # why media stopped, if it did
        self.publisher_id: int | None = None
        self.private_id: int | None = None  # from our publisher's joined: ties subscriptions
        self.feeds: dict[str, int] = {}  # display (= peer_id) -> Janus feed id
        self.selection: set[str] | None = None  # None: every feed
        self.layers: dict[str, str] = {}  # peer_id -> the simulcast layer asked for
        self.default_layer: str | None = None  # for feeds with no choice of their own
        self._janus: JanusSession | None = None
        self._pub: JanusHandle | None = None
        self._pub_pc: RTCPeerConnection | None = None
        self._follow: asyncio.Task[None] | None = None  # layer count follows the height
        self._subs: dict[str, _Subscription] = {}
        self._closed = False
        self._started = asyncio.Event()

    def serves(self, joined: dict[str, Any]) -> bool:
        info = joined.get("sfu") or {}
        return info.get("url") == self.url and info.get("room") == self.room_id

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, join as publisher (display = our peer_id), publish, then subscribe."""
        try:
            self._janus = await JanusSession.connect(self.url)
            self._janus.on_close = self._lost
            self._pub = await self._janus.attach()
            self._pub.on_event = self._on_publisher_event
            self._pub.on_janus = self._on_publisher_core
            joined = await self._join_publisher()
            self.publisher_id = joined.get("id")
            self.private_id = joined.get("private_id")
            self._on_publishers(joined.get("publishers", []))
            if self.require_e2ee and getattr(self.host, "e2ee", None) is None:  # E2EE hook
                self.host.report_error("this session requires end-to-end encryption: nothing "
                                       "is sent; leave() and join with e2ee='the passphrase'")
            else:
                await self._publish()
        except JanusError as exc:
            self._fail(f"SFU: cannot publish to Janus room {self.room_id} at {self.url}: {exc}")
        except Exception as exc:  # never into user code
            log.exception("SFU start failed")
            self._fail(f"SFU: media setup failed: {type(exc).__name__}: {exc}")
        finally:
            self._started.set()

    async def _join_publisher(self) -> dict[str, Any]:
        assert self._pub is not None
        deadline = time.monotonic() + ROOM_WAIT_S
        while True:
            body = {"request": "join", "ptype": "publisher", "room": self.room_id,
                    "display": self.host.peer_id}
            if self.pin:
                body["pin"] = self.pin
            try:
                data, _ = await self._pub.message(body)
                return data
            except JanusError as exc:
                if exc.code != NO_SUCH_ROOM or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)

    async def _publish(self) -> None:
        assert self._pub is not None
        # the first layer count comes from the height we send now (2 layers before the
        # first frame: a browser camera still starting); _follow_size keeps it in step
        layered = self.simulcast and self.host.sends_layers()
        height = self.host.sent_video_height() if layered else None
        pc = self._pub_pc = RTCPeerConnection(self.host.rtc_configuration)
        transceivers = {}
        for kind in ("audio", "video"):
            track = self.host.local_track(kind)
            transceiver = pc.addTransceiver(scalable(track) if layered and kind == "video"
                                            else track, direction="sendonly")
            self.host.configure_transceiver(transceiver, kind)
            transceivers[kind] = transceiver
        if layered:
            self.sent_layers = LayerSet(transceivers["video"],
                                   lambda: self.host.local_track("video"), height)
        with host_addresses(self.host.host_addresses):
            await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        if self.sent_layers is not None:
            sdp = self.sent_layers.declare(sdp)
        data, jsep = await self._pub.message(
            {"request": "publish"},
            self.host.media_hooks.outgoing({  # E2EE hook: JSEP "e2ee": true
                "type": "offer", "sdp": sdp, "trickle": False}))
        if jsep is None:
            raise JanusError(f"Janus answered 'publish' without an SDP: {data}")
        await pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        if self.sent_layers is not None and not self._closed:
            self._follow = asyncio.ensure_future(self._follow_size(self.sent_layers))

    async def _follow_size(self, layers: LayerSet) -> None:
        """Keep the layer count in step with the height we send (a widget camera arriving
        after the join, ``set_source``, ``set_quality``) once a new size class has held for
        :data:`SIZE_HOLD_S` (one odd frame changes nothing). No signaling: see
        :class:`LayerSet`; subscribers keep their connections and get a key frame."""
        held = 0.0
        while True:
            await asyncio.sleep(SIZE_POLL_S)
            height = self.host.sent_video_height()
            wanted = layers.count if height is None else layer_count(height)
            held = held + SIZE_POLL_S if wanted != layers.count else 0.0
            if held >= SIZE_HOLD_S:
                held = 0.0
                try:
                    layers.follow(height)
                except Exception as exc:  # never into user code; media goes on as it was
                    log.exception("SFU layer change failed")
                    self.host.report_error(f"SFU: cannot send our video as {wanted} "
                                           f"simulcast layers: {type(exc).__name__}: {exc}")
                    return
                log.info("SFU: %s-line video, now %d layers", height, layers.count)

    @property
    def layer_count(self) -> int:
        """How many simulcast layers our video goes out as (follows its height)."""
        return self.sent_layers.count if self.sent_layers is not None else 1

    def sending(self) -> list[RTCPeerConnection]:
        return [self._pub_pc] if self._pub_pc is not None else []

    def sending_for(self, peer: RemotePeer) -> RTCPeerConnection | None:
        return self._pub_pc  # one publisher connection: Janus forwards it to everyone

    def video_sender(self) -> Any:
        """Our top simulcast layer's sender (the transceiver's own carries the mid one at
        3 layers), or None before it starts."""
        return self.sent_layers.top_sender() if self.sent_layers is not None else None

    async def close(self) -> None:
        self._closed = True
        if self._follow is not None:
            self._follow.cancel()
        subs, self._subs = list(self._subs.values()), {}
        await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)
        if self._pub_pc is not None:
            with contextlib.suppress(Exception):
                await self._pub_pc.close()
        if self._janus is not None:
            self._janus.on_close = None
            await self._janus.close()

    def _fail(self, message: str) -> None:
        if self._closed or self.error is not None or self.host.closed:
            return  # leaving: the last one out destroys the Janus room under the others
        self.error = message
        log.warning("%s", message)
        self.host.report_error(message)

    def _lost(self, reason: str) -> None:
        """The Janus connection dropped: stop media, keep the roster, say what to do."""
        if self._closed:
            return
        self._fail(f"SFU lost: {reason}. Media stopped (chat still works); leave() and join "
                   "again once the SFU is back.")
        subs, self._subs = list(self._subs.items()), {}
        for peer_id, sub in subs:
            peer = self.host.peers.get(peer_id)
            if peer is not None:
                peer.release(sub.pc, "failed")
            self.host.spawn(sub.close())
        if self._follow is not None:
            self._follow.cancel()
        if self._pub_pc is not None:
            self.host.spawn(self._pub_pc.close())
            self._pub_pc = None

    # -- roster (the room calls these; nobody offers in SFU mode) ----------------------------------
    def peer_joined(self, peer: RemotePeer, *, newcomer: bool) -> None:
        self._sync(peer.peer_id)

    def peer_left(self, peer: RemotePeer) -> None:
        self._drop(peer.peer_id)

    # -- Janus events -----------------------------------------------------------------------------
    def _on_publisher_event(self, data: dict[str, Any], jsep: dict[str, Any] | None) -> None:
        if "publishers" in data:
            self._on_publishers(data["publishers"])
        for key in ("unpublished", "leaving"):
            feed_id = data.get(key)
            if isinstance(feed_id, int):
                for display, fid in list(self.feeds.items()):
                    if fid == feed_id:
                        del self.feeds[display]
                        self._drop(display)
        if data.get("videoroom") == "destroyed":
            self._fail(f"SFU: Janus room {self.room_id} was destroyed")

    def _on_publisher_core(self, msg: dict[str, Any]) -> None:
        if msg.get("janus") == "hangup":  # e.g. ICE or DTLS to Janus failed
            self._fail(f"SFU: Janus hung up our published stream ({msg.get('reason', '?')}); "
                       "the others no longer receive us: leave() and join again")

    def _on_publishers(self, publishers: Iterable[dict[str, Any]]) -> None:
        for pub in publishers:
            display, feed_id = pub.get("display"), pub.get("id")
            if not display or display == self.host.peer_id or not isinstance(feed_id, int):
                continue
            self.feeds[display] = feed_id
            self._sync(display)

    # -- subscriptions ----------------------------------------------------------------------------
    def _wanted(self, peer_id: str) -> bool:
        return (peer_id in self.host.peers and peer_id in self.feeds and
                (self.selection is None or peer_id in self.selection))

    def _sync(self, peer_id: str) -> None:
        if self._closed or self.error is not None:
            return
        sub = self._subs.get(peer_id)
        if self._wanted(peer_id):
            if sub is not None and sub.feed_id == self.feeds[peer_id]:
                return
            if sub is not None:
                self._drop(peer_id)
            sub = self._subs[peer_id] = _Subscription(self.feeds[peer_id])
            sub.task = asyncio.ensure_future(self._subscribe(peer_id, sub))
        elif sub is not None:
            self._drop(peer_id)

    def _drop(self, peer_id: str) -> None:
        sub = self._subs.pop(peer_id, None)
        if sub is None:
            return
        peer = self.host.peers.get(peer_id)
        if peer is not None:
            peer.release(sub.pc, "new")
        self.host.spawn(sub.close())

    async def subscribe(self, peer_ids: Iterable[str] | None, layer: str | None = None) -> None:
        """Receive only ``peer_ids`` (None: everyone), at ``layer`` if given; wait for new
        subscriptions to start."""
        self.selection = None if peer_ids is None else set(peer_ids)
        if layer is not None:
            _check_layer(layer)
            self.default_layer = layer
            for peer_id in self.selection if self.selection is not None else self.host.peers:
                await self.set_layer(peer_id, layer)
        await self._started.wait()
        for peer_id in set(self._subs) | set(self.host.peers):
            self._sync(peer_id)
        tasks = [s.task for s in self._subs.values() if s.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _subscribe(self, peer_id: str, sub: _Subscription) -> None:
        try:
            await self._subscribe_once(peer_id, sub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._subs.get(peer_id) is sub:
                self._subs.pop(peer_id, None)
                await sub.close()
                if self.error is None:  # after a loss, one error says it all
                    peer = self.host.peers.get(peer_id)
                    message = (f"SFU: cannot receive {peer.name if peer else peer_id}: "
                               f"{exc}")
                    log.warning("%s", message)
                    self.host.report_error(message, peer)

    async def _subscribe_once(self, peer_id: str, sub: _Subscription) -> None:
        assert self._janus is not None
        sub.handle = await self._janus.attach()
        stream: dict[str, Any] = {"feed": sub.feed_id}
        layer = self.layers.get(peer_id, self.default_layer)
        if layer is not None:
            stream["substream"] = sub.target = LAYERS.index(layer)
        body: dict[str, Any] = {"request": "join", "ptype": "subscriber", "room": self.room_id,
                                "streams": [stream]}
        if self.pin:
            body["pin"] = self.pin
        if self.private_id is not None:
            body["private_id"] = self.private_id
        for attempt in range(FEED_RETRIES):
            try:
                data, offer = await sub.handle.message(body)
                break
            except JanusError as exc:
                if exc.code != NO_SUCH_FEED or attempt == FEED_RETRIES - 1:
                    raise
            await asyncio.sleep(RETRY_S)
        if offer is None:
            raise JanusError("Janus sent no offer for the subscription")
        peer = self.host.peers.get(peer_id)
        if peer is None or self._subs.get(peer_id) is not sub:
            return
        sub.video_mid = next((str(s["mid"]) for s in data.get("streams", [])
                              if s.get("type") == "video" and "mid" in s), None)
        sub.handle.on_event = lambda event, _jsep: self._on_subscriber_event(peer, sub, event)
        pc = sub.pc = RTCPeerConnection(self.host.rtc_configuration)
        # E2EE hook: Janus 1.1 does not tell subscribers whether a feed is encrypted; a
        # require_e2ee room says every feed is
        self.host.media_hooks.incoming(
            peer, {**offer, "e2ee": offer.get("e2ee") or self.require_e2ee})
        peer.adopt(pc)  # record_state only: no mesh restarts over signaling here
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        _skip_remb_estimate(pc)  # Janus ignores subscribers' REMB: ~15% of a teacher's CPU
        with host_addresses(self.host.host_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        await sub.handle.message({"request": "start"}, self.host.media_hooks.outgoing(  # E2EE hook
            {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False}))

    # -- simulcast layers ------------------------------------------------------------------------
    async def set_layer(self, peer_id: str, layer: str) -> None:
        """Ask Janus for ``layer`` of ``peer_id``'s video (now, or when subscribed)."""
        _check_layer(layer)
        self.layers[peer_id] = layer
        sub = self._subs.get(peer_id)
        if sub is None or sub.handle is None or sub.video_mid is None:
            return  # the join asks for it
        sub.switched.clear()
        await self._configure(sub, layer)
        if sub.nudge is not None:
            sub.nudge.cancel()
        sub.nudge = asyncio.ensure_future(self._nudge(sub, layer))

    async def _configure(self, sub: _Subscription, layer: str) -> None:
        assert sub.handle is not None
        sub.target = LAYERS.index(layer)
        await sub.handle.message({"request": "configure", "streams": [
            {"mid": sub.video_mid, "substream": sub.target}]})

    async def _nudge(self, sub: _Subscription, layer: str) -> None:
        """Janus switches layers on the target's next key frame and asks the publisher for
        one, but at most one PLI a second: a second switch within that second would wait for
        the browser's next periodic key frame (minutes with VP8). Ask again until it moves."""
        for _ in range(NUDGES):
            try:
                await asyncio.wait_for(sub.switched.wait(), NUDGE_S)
                return
            except asyncio.TimeoutError:
                if sub.handle is None or self._closed:
                    return
                with contextlib.suppress(JanusError, asyncio.TimeoutError):
                    await self._configure(sub, layer)

    def _on_subscriber_event(self, peer: RemotePeer, sub: _Subscription,
                             event: dict[str, Any]) -> None:
        substream = event.get("substream")
        if isinstance(substream, int) and 0 <= substream < len(LAYERS):
            if sub.target == len(LAYERS) - 1:  # asked for the top: Janus sends its highest
                sub.top = max(sub.top or 0, substream)
            peer.video.layer = layer_name(substream, sub.top)  # what Janus says it now sends
            sub.switched.set()


def _skip_remb_estimate(pc: Any) -> None:
    """Stop ``pc``'s receivers estimating bandwidth for REMB. Janus ignores subscribers' REMB,
    yet aiortc runs its estimator on every packet and sends REMB often: measured here
    (benchmarks/class.py) that is ~45% of a teacher kernel's receive CPU. Call on a
    subscription's connection after ``setRemoteDescription`` (its receivers exist then)."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if hasattr(receiver, "_RTCRtpReceiver__remote_bitrate_estimator"):
            receiver._RTCRtpReceiver__remote_bitrate_estimator = None


def layer_name(substream: int, top: int | None) -> str:
    """Janus' substream index in the user's words, whatever the publisher sends: 0 is "low",
    the publisher's top layer ``top`` (learnt when the top was asked for) is "high", one in
    between "mid". So a 2-layer sender's layers read "low" and "high"; asking it for "mid"
    (substream 1) gets its top layer, which reads "high" once Janus has shown that 1 is
    the top."""
    if substream == 0:
        return "low"
    if substream >= len(LAYERS) - 1 or (top is not None and substream >= top):
        return "high"
    return "mid"


def _check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r}: use one of {', '.join(LAYERS)}")
