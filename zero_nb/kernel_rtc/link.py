"""The local link: one RTCPeerConnection between a widget's page and the kernel engine.

Signaled over the widget comm. The browser offers a fixed layout so nothing is ever
renegotiated (aiortc has no rollback): m-line 0 audio sendrecv (mic), 1 video sendrecv
(camera or screen), then ``slots`` pairs of video + audio that only the kernel sends on.
The kernel answers with a complete SDP (no trickle) and shows feeds in slots by swapping
what each slot's :class:`FeedTrack` replays; it tells the page which slot is whose with a
``slots`` message. The page's camera and mic land in :attr:`video` / :attr:`audio`, drained
newest-wins on the engine loop, so media flows while a cell is busy: only signaling waits.

Messages (JSON over the comm, every one carries the page's ``view`` id):
page -> kernel ``{"type": "offer", "sdp"}`` · ``{"type": "close"}``;
kernel -> page ``{"type": "answer", "sdp"}`` · ``{"type": "slots", "slots": [info|None]}``
· ``{"type": "error", "message"}``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from .engine import Engine, get_engine
from .media.feeds import AudioFeed, VideoFeed, pump
from .media.tracks import FeedTrack
from .net.ice import host_addresses

__all__ = ["DEFAULT_SLOTS", "FeedTrack", "LocalLink"]  # FeedTrack: media.tracks

log = logging.getLogger("zero_nb.link")

DEFAULT_SLOTS = 8
_live: weakref.WeakSet[LocalLink] = weakref.WeakSet()


class LocalLink:
    """The kernel side of one widget view's peer connection (lives on the engine loop).

    ``send(message)`` delivers a kernel->page message (any thread). ``video``/``audio``
    are the page's camera and mic as feeds; :meth:`show` puts feeds in a slot.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None], *, view: str,
                 slots: int = DEFAULT_SLOTS, config: dict[str, Any] | None = None,
                 video: VideoFeed | None = None, audio: AudioFeed | None = None,
                 on_track: Callable[[str], None] | None = None,
                 engine: Engine | None = None) -> None:
        from ..config import load_config
        from .net.ice import rtc_configuration

        cfg = config if config is not None else load_config()
        base = rtc_configuration(cfg["webrtc"])
        # max-bundle: with aiortc's default (balanced) a second m-line of a kind is bound to
        # the first one's transport before BUNDLE is applied, and then never sends
        self.rtc_configuration = RTCConfiguration(
            iceServers=base.iceServers, iceTransportPolicy=base.iceTransportPolicy,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self.host_addresses: list[str] | None = cfg["webrtc"]["host_addresses"]
        self.engine = engine or get_engine()
        self.view = view
        self.nslots = slots
        self.video = video if video is not None else VideoFeed("browser camera")
        self.audio = audio if audio is not None else AudioFeed("browser mic")
        self.state = "new"
        self.pc: RTCPeerConnection | None = None
        self._send = send
        self._on_track = on_track
        self._infos: list[dict[str, Any] | None] = [None] * slots
        self._feeds: list[tuple[Any, Any]] = [(None, None)] * slots
        self._tracks: list[tuple[FeedTrack, FeedTrack]] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self.closed = False
        _live.add(self)

    # -- page -> kernel -------------------------------------------------------------------
    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        try:
            if kind == "offer":
                await self._on_offer(message["sdp"])
            elif kind == "close":
                await self.close()
        except Exception as exc:  # a bad offer must not take the kernel down
            log.warning("local link %s: cannot apply %s: %s", self.view, kind, exc)
            self.send({"type": "error", "message": f"{kind} rejected by the kernel: {exc}"})

    async def _on_offer(self, sdp: str) -> None:
        if self.pc is not None:  # the page reloaded its connection: start afresh
            await self._close_pc()
        pc = self.pc = RTCPeerConnection(self.rtc_configuration)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if pc is not self.pc:
                return
            mids = [t.mid for t in pc.getTransceivers()[:2]]
            index = next((i for i, t in enumerate(pc.getTransceivers())
                          if t.receiver.track is track), -1)
            if index not in (0, 1) or track.kind not in ("audio", "video"):
                return  # slots are kernel -> page only
            feed = self.video if track.kind == "video" else self.audio
            log.debug("local link %s: page %s on mid %s", self.view, track.kind, mids)
            self._spawn(pump(track, feed, end=False))
            if self._on_track is not None:
                self._on_track(track.kind)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is self.pc:
                self.state = pc.connectionState
                if self.state in ("failed", "closed"):
                    await self._close_pc()

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        transceivers = pc.getTransceivers()
        expected = 2 + 2 * self.nslots
        if len(transceivers) != expected:
            raise ValueError(f"expected {expected} m-lines (mic, camera, {self.nslots} slots); "
                             f"got {len(transceivers)}")
        self._tracks = []
        for transceiver in transceivers:
            transceiver.direction = "sendrecv"  # and'ed with the offer: slots become sendonly
        for i in range(self.nslots):
            video_feed, audio_feed = self._feeds[i]
            pair = (FeedTrack("video", video_feed), FeedTrack("audio", audio_feed))
            transceivers[2 + 2 * i].sender.replaceTrack(pair[0])
            transceivers[3 + 2 * i].sender.replaceTrack(pair[1])
            self._tracks.append(pair)
        with host_addresses(self.host_addresses):
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)  # gathers every candidate: no trickle
        self.send({"type": "answer", "sdp": pc.localDescription.sdp})
        self._send_slots()

    # -- kernel -> page -------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        try:
            self._send({**message, "view": self.view})
        except Exception:  # the comm is gone: the widget closes us soon
            log.debug("local link %s: cannot send %s", self.view, message.get("type"))

    def _send_slots(self) -> None:
        self.send({"type": "slots", "slots": list(self._infos)})

    def show(self, key: str, video: Any = None, audio: Any = None,
             info: dict[str, Any] | None = None) -> int | None:
        """Show ``video``/``audio`` feeds in a free slot (or the one ``key`` has); returns
        the slot, or None when all are taken. Call on the engine loop."""
        index = self.slot_of(key)
        if index is None:
            index = next((i for i, s in enumerate(self._infos) if s is None), None)
            if index is None:
                log.warning("local link %s: all %d slots taken; %s not shown", self.view,
                            self.nslots, key)
                return None
        self._infos[index] = {**(info or {}), "key": key}
        self._feeds[index] = (video, audio)
        if self._tracks:
            self._tracks[index][0].attach(video)
            self._tracks[index][1].attach(audio)
        self._send_slots()
        return index

    def hide(self, key: str) -> None:
        """Free ``key``'s slot (call on the engine loop)."""
        index = self.slot_of(key)
        if index is None:
            return
        self._infos[index] = None
        self._feeds[index] = (None, None)
        if self._tracks:
            self._tracks[index][0].attach(None)
            self._tracks[index][1].attach(None)
        self._send_slots()

    def slot_of(self, key: str) -> int | None:
        return next((i for i, s in enumerate(self._infos) if s and s["key"] == key), None)

    @property
    def slots(self) -> list[dict[str, Any] | None]:
        return list(self._infos)

    def feeds(self) -> list[tuple[dict[str, Any] | None, Any, Any]]:
        """Per slot ``(info, video feed, audio feed)`` (a copy; any thread): what the
        comm transport's downlink sends."""
        return list(zip(self._infos, *zip(*self._feeds, strict=True), strict=True))

    # -- lifecycle ------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_pc(self) -> None:
        pc, self.pc = self.pc, None
        for pair in self._tracks:
            for track in pair:
                track.stop()
        self._tracks = []
        for task in list(self._tasks):
            task.cancel()
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()
        self.state = "closed"

    async def close(self) -> None:
        """Close the connection and its tracks; the feeds stay readable (not ended)."""
        self.closed = True
        await self._close_pc()
        _live.discard(self)

    def close_sync(self, timeout: float = 5.0) -> None:
        """:meth:`close` from any thread but the engine's."""
        if self.closed or not self.engine.thread.alive:
            return
        if self.engine.in_loop():
            self._spawn(self.close())
            return
        with contextlib.suppress(Exception):
            self.engine.run(self.close(), timeout, "closing the local link")

    def __repr__(self) -> str:
        return f"<LocalLink {self.view} {self.state} slots={self._infos}>"


def close_all() -> None:
    """Close every live link (at kernel exit, before the engine stops)."""
    for link in list(_live):
        link.close_sync(timeout=2.0)


atexit.register(close_all)  # registered after the engine's: runs before it stops
