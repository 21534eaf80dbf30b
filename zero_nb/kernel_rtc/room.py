"""A room: this process's membership of one session.

The room keeps the roster (signaling says who is in the session), events, chat and local
media; its :class:`~.topology.Topology` (a mesh, or an SFU chosen by ``zero_nb.join``) moves
the media. All state lives on the engine loop; the sync methods people call from cells
marshal onto it with timeouts. User callbacks run on a per-room worker thread, so a slow
callback never stalls media.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from aiortc import MediaStreamTrack, RTCRtpTransceiver

from .._loop import Tasks
from ..config import load_config
from ..errors import RoomClosed, Timeout, ZeroNBError
from ..signaling.client import ClientState, SignalingClient, media_state
from ..signaling.tokens import split_token
from . import stats as stats_mod
from .breakout import BREAKOUT_EVENTS, BreakoutMixin
from .classroom import CLASS_EVENTS, ClassroomMixin
from .engine import Engine, get_engine
from .media.encoded import prefer_codec
from .media.encoders import add_encoder_hook
from .media.feeds import AudioFeed, VideoFeed
from .media.local import LocalMedia, source_live
from .media.quality import watch_loss
from .media.sources import (
    RESOLUTIONS,
    AudioSource,
    FeedSource,
    MediaSource,
    VideoSource,
    from_frames,
    test_pattern,
    tone,
)
from .net.hooks import MediaHooks
from .net.ice import ice_problem, rtc_configuration
from .net.mesh import mesh_only
from .net.peer import PeerMedia, RemotePeer
from .net.relay import RelayChoice, choose_relay, no_path_hint
from .net.topology import Topology, TopologyFactory
from .recording import Recording
from .session_recording import SessionRecording

__all__ = ["EVENTS", "Addons", "Host", "Room"]

log = logging.getLogger("zero_nb.room")

EVENTS = ("peer-joined", "peer-left", "message", "state", "error", "connection",
          "speaking", "peer-media", *CLASS_EVENTS, *BREAKOUT_EVENTS)
REJOIN_GRACE_S = 15.0  # how long a peer may take to re-join after a signaling restart


class _Local:
    """``room.local``: what this participant sends (``video``, ``audio``)."""

    def __init__(self, video: LocalMedia, audio: LocalMedia) -> None:
        self.video = video
        self.audio = audio

    def __repr__(self) -> str:
        return f"<local video={self.video.source!r} audio={self.audio.source!r}>"


@dataclass(frozen=True)
class Addons:
    """What a room plugs in without importing it: hooks on its media paths for a passphrase
    and session (end-to-end encryption), and a speech tracker made from its host. The package
    (``kernel_rtc/__init__.py``) installs the real ones as ``Room.addons``."""

    media_hooks: Callable[[str | None, str], MediaHooks] = lambda passphrase, session: \
        MediaHooks()
    speech: Callable[[Any], Any] | None = None


def _feed_source(value: Any, kind: str) -> MediaSource | None:
    # widgets: a Camera (cam, as video= or audio=) or any feed (cam.video, peer.video.map(fn))
    hook = getattr(value, "__zero_nb_source__", None)
    if hook is not None and not isinstance(value, type):
        return hook(kind)  # type: ignore[no-any-return]
    if isinstance(value, (VideoFeed, AudioFeed)) and value.kind == kind:
        return FeedSource(value)
    return None


def as_source(value: Any, kind: str, config: dict[str, Any]) -> MediaSource | None:
    """What ``video=``/``audio=`` accept, as a source: a zero_nb source, a widget or feed,
    True (test pattern / tone), and for video an RGB array or a callable ``f()``/``f(i)``."""
    if value is None or value is False:
        return None
    if isinstance(value, VideoSource if kind == "video" else AudioSource):
        return value
    if (fed := _feed_source(value, kind)) is not None:
        return fed
    media = config["media"]["video"]
    if kind == "audio" and value is True:
        return tone(440.0, -20.0)
    if kind == "video" and value is True:
        w, h = RESOLUTIONS[media["resolution"]]
        return test_pattern(w, h, media["fps"])
    if kind == "video" and isinstance(value, np.ndarray):
        img = value
        return from_frames(lambda: img, media["fps"])
    if kind == "video" and callable(value):
        return from_frames(value, media["fps"])
    what = ("a zero_nb.sources video source, True (test pattern), an RGB array or a callable "
            "f() or f(index) -> array") if kind == "video" else \
        "a zero_nb.sources audio source or True (a tone)"
    raise ZeroNBError(f"{kind}= takes {what}; got {type(value).__name__}")


def _waited(n: int, timeout: float, peers: list[RemotePeer], ready: list[RemotePeer],
            media: bool, ice_problem: str | None) -> str:
    """What ``wait_for_peers`` says at its timeout."""
    what = "sent media" if media else "connected"
    text = f"{len(ready)} of {n} peers {what} within {timeout:g} s ({len(peers)} present)"
    quiet = [p.name or p.peer_id for p in peers if not p.has_media and p.media.sends_nothing]
    if media and quiet:
        names = ", ".join(repr(q) for q in quiet)
        text = (f"{text}: {names} {'is' if len(quiet) == 1 else 'are'} in the session but "
                "announces no media (joined with no video and no audio); use "
                "wait_for_peers(n, media=False) to wait for receive-only participants")
        # a configuration that can never connect matters more than who sends nothing
        return f"{text}; and {ice_problem}" if ice_problem else text
    return f"{text}: {ice_problem or 'are they running and reachable?'}"


class Room(ClassroomMixin, BreakoutMixin):
    """Membership of one session. Create with :func:`zero_nb.join`. A class's host tools
    (hands, mute, remove, spotlight, lock) come from :class:`~.classroom.ClassroomMixin`,
    breakout rooms from :class:`~.breakout.BreakoutMixin`."""

    def __init__(
        self,
        session: str | None,
        server: str,
        *,
        name: str = "",
        password: str | None = None,
        token: str | None = None,
        host_token: str | None = None,
        video: Any = None,
        audio: Any = None,
        config: dict[str, Any] | None = None,
        engine: Engine | None = None,
        topologies: TopologyFactory = mesh_only,
        e2ee: str | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.engine = engine or get_engine()
        webrtc = self.config["webrtc"]
        self.rtc_configuration = rtc_configuration(webrtc)
        self.host_addresses: list[str] | None = webrtc["host_addresses"]
        self.ice_problem = ice_problem(webrtc)  # feeds: why no peer could ever connect
        self.relay: RelayChoice | None = None  # which TURN URL aiortc got (net/relay.py)
        self.low_latency: bool = webrtc["low_latency"]
        self.server = server
        self.name = name
        self.session = session
        self.peer_id: str | None = None
        self._messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        self._video_source = as_source(video, "video", self.config)
        self._audio_source = as_source(audio, "audio", self.config)
        self._password = password
        self._host_token = host_token  # never from config: that is the server's secret
        configured = self.config["signaling"]["auth"]["token"]
        # the token usually rides in the server's URL (server.url); an explicit one wins, and
        # "none" is the server side's opt-out, not a token
        self._token = token if token is not None else split_token(server)[1] or (
            configured if configured != "none" else None)
        self._peers: dict[str, RemotePeer] = {}
        self._handlers: dict[str, list[Callable[..., Any]]] = {e: [] for e in EVENTS}
        # errors fired before anyone listened (join() itself): the first error callback gets them
        self._unheard: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=20)
        self._unheard_lock = threading.Lock()
        self._events = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zero_nb-ev")
        self.host = Host(self)  # what topologies, peers and add-ons may use
        self._client: SignalingClient | None = None
        self._local: _Local | None = None
        self._closed = False
        self._peer_hooks: list[Callable[[RemotePeer], None]] = []  # e.g. a Recording
        self._stale: dict[str, asyncio.TimerHandle] = {}
        # the client delivers what follows `joined` at once, before _ajoin resumes: an offer
        # must not be dropped for want of a topology, so it waits here and is replayed
        self._early: list[dict[str, Any]] | None = []
        self.joined_at: float | None = None
        self._topologies = topologies
        self.topology: Topology | None = None  # how media travels: chosen from `joined`
        self._rates = stats_mod.Rates()
        addons = Room.addons
        # voice activity per participant, an add-on (kernel_rtc.speech)
        self.speech: Any = addons.speech(self.host) if addons.speech is not None else None
        # end-to-end encryption, an add-on: the key is derived once the session is known
        self._e2ee_passphrase = e2ee if e2ee is not None else self.config["e2ee"]["passphrase"]
        # announced with our media state: a receiver without the key drops our frames
        self._encrypts = self._e2ee_passphrase is not None
        self.media_hooks = MediaHooks()
        self._breakout_init()

    @property
    def e2ee(self) -> Any:
        """The E2EE keyring (``e2ee="passphrase"``), or None: media is not encrypted."""
        return self.media_hooks.keyring

    # -- lifecycle (engine loop) ------------------------------------------------------------
    async def _ajoin(self, timeout: float) -> Room:
        self._client = SignalingClient(
            self.server, session=self.session, name=self.name, password=self._password,
            token=self._token, host_token=self._host_token, on_message=self._on_signal,
            on_state=self._on_client_state,
            heartbeat=(self.config["signaling"]["heartbeat"]["interval"],
                       self.config["signaling"]["heartbeat"]["timeout"]),
        )
        # the join says what we send, so the others' peer-joined carries it at once
        self._client.media = media_state(source_live(self._audio_source),
                                         source_live(self._video_source), self._encrypts)
        # aiortc takes one TURN URL: try them all while the join is under way (net/relay.py)
        relay = asyncio.ensure_future(choose_relay(self.rtc_configuration))
        try:
            joined = await self._client.connect(timeout)
            self.relay = await relay
        except BaseException:
            relay.cancel()
            self._closed = True  # the caller's sources stay open: a retry can use them
            raise
        self.rtc_configuration = self.relay.configuration
        self.ice_problem = self.ice_problem or self.relay.problem
        # local media only once joined: a refused join must not close the caller's sources
        self._local = _Local(  # sources and filters report through report_error
            LocalMedia("video", self._video_source, on_error=self.host.report_error,
                       on_change=self._local_changed),
            LocalMedia("audio", self._audio_source, on_error=self.host.report_error,
                       on_change=self._local_changed))
        self._announce_media()  # in case a source changed while we joined
        if (max_kbps := self.config["media"]["video"]["max_kbps"]) is not None:
            self._local.video.set_quality(max_kbps=max_kbps)
        self.engine.rooms.add(self)
        self.joined_at = time.time()
        try:
            # the E2EE key is salted with the session name, known from 'joined'
            self.media_hooks = Room.addons.media_hooks(self._e2ee_passphrase, joined["session"])
            self._e2ee_passphrase = None  # only the derived key stays in memory
            self._apply_joined(joined)
        except BaseException:
            await self._aleave()
            raise
        return self

    def _apply_joined(self, joined: dict[str, Any]) -> None:
        self.session = joined["session"]
        self.peer_id = joined["peer_id"]
        self._class_joined(joined)
        self._breakout_joined(joined)
        if self.topology is None or not self.topology.serves(joined):
            if self.topology is not None:
                self.host.spawn(self.topology.close())
            self.topology = self._topologies(self.host, joined)
            self.host.spawn(self.topology.start())
        for info in joined["peers"]:
            # we are the newcomer: the peers already here make contact
            self._add_peer(info["peer_id"], info["name"], newcomer=False,
                           media=info.get("media"))
        early, self._early = self._early or [], None  # signals that came before `joined`
        for message in early:
            self._on_signal(message)

    async def _aleave(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._aclose_ears()  # a host's group listeners (breakout.py)
        if self._client is not None:
            await self._client.leave()
        if self.topology is not None:
            await self.topology.close()
        for timer in self._stale.values():
            timer.cancel()
        self._stale.clear()
        peers = list(self._peers.values())
        self._peers.clear()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        if self._local is not None:
            self._local.video.close()
            self._local.audio.close()
        self.engine.rooms.discard(self)

    # -- signaling (engine loop) ------------------------------------------------------------
    def _on_client_state(self, state: ClientState) -> None:
        self._emit("connection", state.value)

    def _on_signal(self, message: dict[str, Any]) -> None:
        if self._early is not None:  # not joined yet: keep it for _apply_joined
            self._early.append(message)
            return
        if self._breakout_signal(message) or self._class_signal(message):
            return
        kind = message.get("type")
        if kind == "peer-joined":
            timer = self._stale.pop(message["peer_id"], None)
            if timer is not None:
                timer.cancel()
            self._add_peer(message["peer_id"], message.get("name", ""), newcomer=True,
                           media=message.get("media"))
        elif kind == "peer-media":
            peer = self._peers.get(message.get("peer_id", ""))
            if peer is not None:
                self._set_peer_media(peer, message)
        elif kind == "peer-left":
            self._remove_peer(message["peer_id"])
        elif kind in ("offer", "answer", "candidate"):
            if self.topology is not None:
                self.topology.signal(message)
        elif kind == "message":
            sender = self._peers.get(message.get("from", ""))
            entry = {"from": message.get("from"), "name": sender.name if sender else None,
                     "data": message.get("data"), "time": time.time(),
                     "to": message.get("to")}
            self._messages.append(entry)
            self._emit("message", entry)
        elif kind == "joined":  # re-joined after the server came back
            self._apply_rejoined(message)
        elif kind == "error":
            log.warning("signaling error: %s", message.get("message"))
            self.host.report_error(message.get("message", ""))

    def _apply_rejoined(self, joined: dict[str, Any]) -> None:
        """Keep media running across a signaling restart: peers that come back with the
        same id keep their connection; the others are dropped after a grace period."""
        listed = {p["peer_id"] for p in joined["peers"]}
        for peer_id in set(self._peers) - listed:
            self._mark_stale(peer_id)
        if joined["peer_id"] != self.peer_id:  # our id changed: every connection is void
            for peer_id in list(self._peers):
                self._remove_peer(peer_id)
        self._apply_joined(joined)

    def _mark_stale(self, peer_id: str) -> None:
        loop = asyncio.get_running_loop()
        if peer_id not in self._stale:
            self._stale[peer_id] = loop.call_later(REJOIN_GRACE_S, self._remove_peer, peer_id)

    def _add_peer(self, peer_id: str, name: str, *, newcomer: bool,
                  media: Any = None) -> RemotePeer:
        peer = self._peers.get(peer_id)
        if peer is not None:
            self._set_peer_media(peer, media)  # a re-join lists it again
        else:
            peer = self._peers[peer_id] = RemotePeer(self.host, peer_id, name)
            peer.media = PeerMedia.from_wire(media)
            for hook in list(self._peer_hooks):
                hook(peer)
            self._emit("peer-joined", peer)
            if self.ice_problem:  # feeds: say it when a connection is first attempted
                self.host.report_error(self.ice_problem, peer)
        if self.topology is not None:
            self.topology.peer_joined(peer, newcomer=newcomer)
        return peer

    def _set_peer_media(self, peer: RemotePeer, wire: Any) -> None:
        media = PeerMedia.from_wire(wire)
        if media != peer.media:
            peer.media = media
            self._emit("peer-media", peer, media)

    # -- what we send, as the others see it on their tiles -----------------------------------
    def _local_changed(self) -> None:
        """A local source changed or was muted (any thread): tell the others, on the loop."""
        if self._closed:
            return
        if self.engine.in_loop():
            self._announce_media()
        else:
            self.engine.loop.call_soon_threadsafe(self._announce_media)

    def _announce_media(self) -> None:
        if self._closed or self._client is None or self._local is None:
            return
        self.host.spawn(self._client.set_media(audio=self._local.audio.sending,
                                               video=self._local.video.sending,
                                               e2ee=self._encrypts))

    def _remove_peer(self, peer_id: str) -> None:
        timer = self._stale.pop(peer_id, None)
        if timer is not None:
            timer.cancel()
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            if self.topology is not None:
                self.topology.peer_left(peer)
            self.host.spawn(peer.close())
            self._emit("peer-left", peer)

    async def _signal(self, message: dict[str, Any]) -> None:
        if self._client is not None:
            await self._client.send(message)

    # -- events -------------------------------------------------------------------------------
    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback`` on ``event``: peer-joined(peer), peer-left(peer),
        message(entry), state(peer, state), error(peer, text), connection(state),
        speaking(peer, bool), peer-media(peer, PeerMedia) (a peer muted, turned its camera
        off or on: ``peer.media``); a class: hand(ids), hosts(ids), spotlight(peer),
        muted(by), removed(by, reason), locked(bool), moved(session, group),
        breakout(groups or None), broadcast(text, by).
        Callbacks run on a worker thread, in order; they may block without harming media.
        The first ``error`` callback also gets the errors fired before it (up to 20: those
        of ``join()`` itself, such as a TURN server that does not answer)."""
        if event not in self._handlers:
            raise ValueError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
        with self._unheard_lock:
            self._handlers[event].append(callback)
            while event == "error" and self._unheard:  # what went wrong before is not lost
                with contextlib.suppress(RuntimeError):  # executor shut down: room gone
                    self._events.submit(self._call, callback, event, self._unheard.popleft())
        return callback

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        if callback in self._handlers.get(event, []):
            self._handlers[event].remove(callback)

    def _emit(self, event: str, *args: Any) -> None:
        if event == "error":
            with self._unheard_lock:
                if not self._handlers[event]:  # e.g. during join(), before anyone listened
                    self._unheard.append(args)
                    return
        for callback in list(self._handlers[event]):
            try:
                self._events.submit(self._call, callback, event, args)
            except RuntimeError:  # executor shut down: the room is gone
                return

    @staticmethod
    def _call(callback: Callable[..., Any], event: str, args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("room.on(%r) callback %r failed", event, callback)

    # -- sync API -------------------------------------------------------------------------------
    @property
    def peers(self) -> dict[str, RemotePeer]:
        """Remote peers by ``peer_id`` (a snapshot)."""
        return dict(self._peers)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Chat/app messages received, oldest first (a snapshot: the last 10,000)."""
        return list(self._messages)  # one C call: atomic against the loop's appends

    @property
    def local(self) -> _Local:
        if self._local is None:
            raise RoomClosed("the room has not joined yet")
        return self._local

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def token(self) -> str | None:
        """The server's access token this room joined with (the page link carries it)."""
        return self._token

    def peer(self, name: str) -> RemotePeer:
        """The remote peer called ``name`` (KeyError naming the present ones)."""
        peers = list(self._peers.values())  # the loop adds and removes peers meanwhile
        for peer in peers:
            if peer.name == name:
                return peer
        raise KeyError(f"no peer named {name!r}; present: "
                       f"{', '.join(p.name for p in peers) or 'none'}")

    def wait_for_peers(self, n: int = 1, timeout: float = 30.0, *,
                       media: bool = True) -> list[RemotePeer]:
        """Block until ``n`` remote peers deliver media; return them. ``media=False``: until
        ``n`` are in the session and connected, or announce they send nothing (receive-only
        participants). Raises Timeout, naming peers that are there but announce no media."""
        deadline = time.monotonic() + timeout
        while True:
            peers = list(self._peers.values())  # a snapshot: the loop changes the roster
            ready = [p for p in peers if p.has_media or (not media and (
                p.state == "connected" or p.media.sends_nothing))]
            if len(ready) >= n:
                return ready
            if self._closed:
                raise RoomClosed("the room left its session while waiting for peers")
            if time.monotonic() > deadline:
                raise Timeout(_waited(n, timeout, peers, ready, media, self.ice_problem))
            time.sleep(0.05)

    def subscribe(self, peer_ids: Any = None, *, layer: str | None = None,
                  timeout: float = 20.0) -> None:
        """SFU sessions: receive only these peers' feeds (``None``: everyone's); ``layer``
        (``"low"``, ``"mid"``, ``"high"``) picks their simulcast layer."""
        self._check_open()
        assert self.topology is not None
        ids = None if peer_ids is None else [peer_ids] if isinstance(peer_ids, str) \
            else list(peer_ids)
        self.engine.run(self.topology.subscribe(ids, layer), timeout, "choosing SFU feeds")

    def set_layer(self, peer_id: str, layer: str, timeout: float = 10.0) -> None:
        """SFU sessions: receive ``layer`` of ``peer_id``'s simulcast video
        (``peer.set_layer`` calls this); ``peer.video.layer`` then says what arrives."""
        self._check_open()
        assert self.topology is not None
        self.engine.run(self.topology.set_layer(peer_id, layer), timeout,
                        f"choosing layer {layer!r}")

    def send(self, data: Any, to: str | None = None, timeout: float = 5.0) -> None:
        """Send chat/app data (any JSON) to everyone else, or to one ``peer_id``."""
        message: dict[str, Any] = {"type": "message", "data": data}
        if to is not None:
            message["to"] = to
        self._send_signal(message, timeout, "sending a message")

    def _send_signal(self, message: dict[str, Any], timeout: float, what: str) -> None:
        """Send one signaling message from any thread (the server's refusals, e.g.
        ``forbidden``, come back as ``room.on("error")``)."""
        self._check_open()
        self.engine.run(self._signal(message), timeout, what)

    def leave(self, timeout: float = 10.0) -> None:
        """Leave the session, close every connection and stop the sources."""
        if self._closed:
            return
        if self.engine.in_loop():
            raise RuntimeError("use 'await room.leave_async()' on the engine loop")
        try:
            self.engine.run(self._aleave(), timeout, "leaving the room")
        finally:
            self._events.shutdown(wait=False)

    async def leave_async(self) -> None:
        """Async :meth:`leave`, awaitable from any event loop."""
        if self.engine.in_loop():
            await self._aleave()
        else:
            await asyncio.wrap_future(self.engine.submit(self._aleave()))
        self._events.shutdown(wait=False)

    def set_source(self, video: Any = ..., audio: Any = ..., timeout: float = 5.0) -> None:
        """Change what this participant sends; no renegotiation."""
        self._check_open()

        async def apply() -> None:
            if video is not ...:
                self.local.video.set_source(as_source(video, "video", self.config))
            if audio is not ...:
                self.local.audio.set_source(as_source(audio, "audio", self.config))

        self.engine.run(apply(), timeout, "changing the source")

    def stats(self, flat: bool = False, timeout: float = 5.0) -> Any:
        """Per peer and direction: bitrate, fps, frames, dropped, packets lost, jitter, RTT,
        state, duration. ``flat=True``: a list of records for a DataFrame. Cheap at 2 Hz."""
        self._check_open()
        records = self.engine.run(self._collect_stats(), timeout, "collecting stats")
        return records if flat else stats_mod.nest(records)

    async def _collect_stats(self) -> list[dict[str, Any]]:
        return await stats_mod.collect(
            list(self._peers.values()), self.topology, self.host.local_media,
            self.media_hooks, self._rates, low_latency=self.low_latency)

    def record(self, path: str, *, include_local: bool = True) -> Recording:
        """Record every participant (one file each, see :class:`Recording`) until
        ``.stop()`` or the end of a ``with`` block. ``path``: a directory, or a file name
        pattern; files are ``<name>-<peer_id>.mp4`` (or .webm)."""
        self._check_open()
        return Recording.for_room(self.host, path, include_local=include_local)

    def record_session(self, directory: str, *, include_local: bool = True) -> SessionRecording:
        """Record the session on one clock: a WebM file per participant and a
        ``manifest.jsonl`` of what happened (docs/recording.md), until ``.stop()`` or the
        end of a ``with`` block; read it back with :func:`zero_nb.session.load`."""
        self._check_open()
        return SessionRecording(self, directory, include_local=include_local).start()

    # -- who speaks when (the speech add-on; needs the [analysis] extra) -----------------------
    def timeline(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Speech segments ``{peer_id, name, start, end}``, oldest first (a DataFrame's rows)."""
        return self.speech.timeline(seconds)

    def turns(self, seconds: float | None = None) -> dict[str, Any]:
        """Turn-taking: speaker changes, overlaps, gaps, speaking share per participant."""
        return self.speech.turns(seconds)

    def active_speaker(self, *, others: bool = False) -> Any:
        """The participant speaking now (voice activity, loudest first), or None;
        ``others=True``: only the other participants, never you."""
        return self.speech.active_speaker(others=others)

    def _check_open(self) -> None:
        if self._closed:
            raise RoomClosed("this room has left its session: join again with zero_nb.join()")

    def __enter__(self) -> Room:
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    # -- notebook display -----------------------------------------------------------------------
    # The widgets package registers the Conference here when imported (zero_nb.widgets); the
    # engine itself never imports it.
    display_factory: ClassVar[Callable[[Room], Any] | None] = None
    addons: ClassVar[Addons] = Addons()

    def widget(self) -> Any:
        """This room's notebook widget (:class:`zero_nb.widgets.Conference`)."""
        if Room.display_factory is None:
            raise ZeroNBError("no notebook widgets loaded: `import zero_nb.widgets` first "
                              "(pip install 'zero_nb[notebook]')")
        return Room.display_factory(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """In a Jupyter front end a Room shows as the Conference widget; elsewhere its repr."""
        factory = Room.display_factory
        if factory is None or self._closed:
            return None
        try:
            from IPython import get_ipython
        except ImportError:
            return None
        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return None
        return factory(self)._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._peers)} peers"
        return f"<Room {self.session!r} as {self.name!r} ({self.peer_id}) {state}>"


class Host:
    """``room.host``: what a room's topology, peers and add-ons may use of it (it satisfies
    :class:`~.net.topology.RoomHost`, :class:`~.net.peer.PeerHost`, the speech tracker's and
    the recording's hosts). Methods run on the engine loop unless they say otherwise; the
    user's API stays on :class:`Room`."""

    def __init__(self, room: Room) -> None:
        self._room = room
        self._tasks = Tasks("a room task")
        self._no_path_told: set[str] = set()  # peers told "no media path" since they failed

    # what the room is
    @property
    def peer_id(self) -> str | None:
        return self._room.peer_id

    @property
    def session(self) -> str | None:
        """The session we are in now (a breakout moves us between sessions)."""
        return self._room.session

    @property
    def hosts(self) -> list[str]:
        """The session's hosts (peer.is_host reads it)."""
        return self._room.hosts

    @property
    def name(self) -> str:
        return self._room.name

    @property
    def peers(self) -> dict[str, RemotePeer]:
        return self._room.peers

    @property
    def closed(self) -> bool:
        return self._room.closed

    @property
    def rtc_configuration(self) -> Any:
        return self._room.rtc_configuration

    @property
    def host_addresses(self) -> list[str] | None:
        return self._room.host_addresses

    @property
    def low_latency(self) -> bool:
        return self._room.low_latency

    @property
    def media_hooks(self) -> MediaHooks:
        return self._room.media_hooks

    @property
    def e2ee(self) -> Any:
        return self._room.e2ee

    @property
    def local(self) -> _Local:
        return self._room.local

    # plumbing
    async def signal(self, message: dict[str, Any]) -> None:
        """Send a signaling message to a peer (``offer``/``answer``/``candidate``)."""
        await self._room._signal(message)

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` on the engine loop, keeping a reference until it ends."""
        self._tasks.spawn(coro)

    def local_media(self, kind: str) -> LocalMedia:
        """What this participant sends of ``kind`` (``"video"`` or ``"audio"``)."""
        return self.local.video if kind == "video" else self.local.audio

    def local_feed(self, kind: str) -> VideoFeed | AudioFeed | None:
        """The feed of what this participant sends of ``kind``; None before it joined."""
        local = self._room._local
        if local is None:
            return None
        feed = (local.video if kind == "video" else local.audio).feed
        assert isinstance(feed, (VideoFeed, AudioFeed))
        return feed

    def sends_layers(self) -> bool:
        """Simulcast for our video where a topology offers it: not with
        ``media.video.simulcast: false``, nor for an encoded source (packets as they are)."""
        return (self._room.config["media"]["video"]["simulcast"] is not False
                and not getattr(self.local.video.source, "encoded", False))

    def sent_video_height(self) -> int | None:
        """The height of the video frames we send now (after filters and size caps); None
        before the first. How many simulcast layers our video goes out as follows it."""
        feed = self.local.video.feed
        assert isinstance(feed, VideoFeed)
        return None if feed.shape is None else feed.shape[0]

    def local_track(self, kind: str) -> MediaStreamTrack:
        """A new relay of this participant's ``kind`` output, for one connection."""
        return self.local_media(kind).subscribe()

    def configure_transceiver(self, transceiver: RTCRtpTransceiver, kind: str) -> None:
        """Prepare a transceiver sending this participant's ``kind``: the codec an encoded
        source needs, quality caps on the encoder, then the add-ons' hooks (E2EE)."""
        media = self.local_media(kind)
        prefer_codec(transceiver, media.source)  # an H.264 file offers H.264
        if kind == "video":
            add_encoder_hook(transceiver.sender, media.quality.cap_encoder)
            self.spawn(watch_loss(transceiver.sender))  # loss lowers the rate, too
        self.media_hooks.configure_transceiver(self, transceiver, kind)

    def set_layer(self, peer_id: str, layer: str, timeout: float = 10.0) -> None:
        """``peer.set_layer`` (any thread but the engine loop)."""
        self._room.set_layer(peer_id, layer, timeout)

    def report_error(self, text: str, peer: RemotePeer | None = None) -> None:
        """Fire ``error`` (``peer`` None: this participant's own sources, server or SFU).
        Not once ``leave()`` has begun: what breaks while the call is torn down (the last one
        out closes the Janus room under the others' feet) is no news to the one leaving.
        Any thread."""
        if self._room.closed:
            log.debug("after leave(), not reported: %s", text)
            return
        self._room._emit("error", peer, text)

    def peer_state(self, peer: RemotePeer, state: str) -> None:
        """A peer's media connection changed state: fire ``state`` (and ``error`` once
        when its connection fails, until it connects again: retries do not repeat it)."""
        self._room._emit("state", peer, state)
        if state == "connected":
            self._no_path_told.discard(peer.peer_id)
        elif (state == "failed" and peer.pc is not None and peer.pc.connectionState == "failed"
              and peer.peer_id not in self._no_path_told):  # ICE itself, not a lost SFU
            self._no_path_told.add(peer.peer_id)
            self.report_error(f"no media path to {peer.name or peer.peer_id}: ICE failed; "
                              + no_path_hint(self._room.config["webrtc"], self._room.relay),
                              peer)

    def emit(self, event: str, *args: Any) -> None:
        """Fire ``event`` to the room's callbacks (on its worker thread). Any thread."""
        self._room._emit(event, *args)

    def add_peer_hook(self, hook: Callable[[RemotePeer], None]) -> Callable[[], None]:
        """Call ``hook(peer)`` on the engine loop for every peer that joins from now on
        (before its first frame; e.g. a recording). Returns the function that removes it."""
        hooks = self._room._peer_hooks
        hooks.append(hook)

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove
