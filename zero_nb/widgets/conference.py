"""``Conference(room)``: the call in a notebook — tiles, meters, controls, stats."""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import traitlets

from ..kernel_rtc.link import DEFAULT_SLOTS, LocalLink
from ..kernel_rtc.media.feeds import AudioFeed
from ..kernel_rtc.media.sources import FeedSource
from ..sfu.kernel import Sfu
from ..signaling.links import guests_line, proxy_url_of
from . import comm_down
from ._base import LinkWidget, json_safe

if TYPE_CHECKING:
    from ..kernel_rtc.net.peer import RemotePeer
    from ..kernel_rtc.room import Room

__all__ = ["ERROR_HOLD_S", "SLOT_HEADROOM", "Conference", "stats_rows"]

log = logging.getLogger("zero_nb.widgets")
_LABEL = "conference browser "  # sources a Conference made from the page's camera and mic
SLOT_HEADROOM = 4  # slots added beyond the participants when a class outgrows the link
ERROR_HOLD_S = 4.0  # a local error stays on show this long after the last failed frame


def stats_rows(nested: dict[str, Any]) -> list[dict[str, Any]]:
    """Per peer name, fps, kbit/s in and RTT from ``room.stats()``, for the page's stats line
    (js/ui/stats.js formats it, for the web page and the widget alike)."""
    rows = []
    for info in nested.values():
        video = info.get("in", {}).get("video", {})
        audio = info.get("in", {}).get("audio", {})
        kbps = (video.get("bitrate_kbps") or 0) + (audio.get("bitrate_kbps") or 0)
        rows.append({"name": info.get("name") or "?", "fps": json_safe(video.get("fps")),
                     "kbps": json_safe(kbps), "rtt_ms": json_safe(info.get("rtt_ms"))})
    return rows


class Conference(LinkWidget):
    """The room's call: a tile per participant (you first) with name, audio meter and
    connection state; camera, mic, screen share, resolution and leave controls; a stats line.

    The page's camera and mic become the room's local sources (unless the room already
    sends another source), so filters and recording apply to them like to any source.

    In an SFU session the page receives the others straight from Janus (the ``sfu`` trait;
    the pin and any E2EE key go as messages, never into saved widget state), so the kernel
    re-encodes nothing for display and receives only what ``room.subscribe`` asks for; in a
    mesh the kernel forwards them over the local link.
    """

    _module = "conference.js"
    _interval = 0.2  # levels at 5 Hz; participants and stats at 1 Hz

    participants: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    stats: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)  # stats_rows()
    joined = traitlets.Bool(True).tag(sync=True)
    media = traitlets.Dict().tag(sync=True)  # what the page reports: camera, mic, sharing
    local_error = traitlets.Unicode("").tag(sync=True)  # your sources' latest error, for now
    sfu = traitlets.Dict().tag(sync=True)  # SFU sessions: {url, room, feeds}; {}: forwarding

    def __init__(self, room: Room, **kwargs: Any) -> None:
        self.room = room
        source = room.local.video.source  # capture unless the room sends something else
        capture = source is None or (isinstance(source, FeedSource)
                                     and source.label.startswith(_LABEL))
        # decided once: the page watches Janus itself, or the kernel forwards over the link
        self._direct = self._watched_sfu() is not None
        kwargs.setdefault("slots", (0 if capture else 1) if self._direct else DEFAULT_SLOTS)
        super().__init__(capture=capture, **kwargs)
        self._ticks = 0
        self._joined_cb = room.on("peer-joined", self._peer_joined)
        self._left_cb = room.on("peer-left", self._peer_left)
        self._media_cb = room.on("peer-media", lambda *_: self._update_participants())
        self._error_lock = threading.Lock()
        self._error_at = 0.0  # when the shown error last happened (monotonic)
        self._error_count = 0  # failed frames of our sources and filters then
        self._error_cb = room.on("error", self._room_error)
        self._update_participants()

    def _link_config(self) -> dict[str, Any] | None:
        return self._config if self._config is not None else self.room.config

    def _default_config(self) -> dict[str, Any] | None:
        return self.room.config

    def _forward_from(self) -> Any:
        return comm_down.mesh_receivers(self.room)

    def _watched_sfu(self) -> Sfu | None:
        """The room's SFU, when the page receives from Janus itself."""
        topology = self.room.topology
        return topology if isinstance(topology, Sfu) and not self.room.closed else None

    def _sfu_secrets(self, view: Any) -> dict[str, Any] | None:
        """The room's pin, and with E2EE the frame key, for the page's viewer: messages to
        the asking view, never traits (widget state may be saved into the notebook)."""
        sfu = self._watched_sfu() if self._direct else None
        if sfu is None:
            return None
        message = {"type": "sfu-pin", "view": view, "pin": sfu.pin}
        if self.room.e2ee is not None:
            key_id, key = self.room.e2ee.current_key()
            message["e2ee"] = {"key": base64.b64encode(key).decode(), "key_id": key_id}
        return message

    # -- engine loop ----------------------------------------------------------------------
    def _attach(self, link: LocalLink) -> None:
        if not self.capture:  # the room sends a bot source: show what the others see
            link.show("local", self.room.local.video.feed, None, {"name": self.room.name})
        for peer in [] if self._direct else self.room.peers.values():
            link.show(peer.peer_id, peer.video, peer.audio,
                      {"name": peer.name, "peer_id": peer.peer_id})

    def _on_page_track(self, kind: str) -> None:
        if not self.capture or self.room.closed:
            return
        local = self.room.local.video if kind == "video" else self.room.local.audio
        feed = self.video if kind == "video" else self.audio
        source = local.source
        if not (isinstance(source, FeedSource) and source.feed is feed):
            local.set_source(FeedSource(feed, label=f"{_LABEL}{kind}"))

    # -- room events (room worker thread) -------------------------------------------------
    def _peer_joined(self, peer: RemotePeer) -> None:
        async def show() -> None:
            if self.link is not None and not self._direct:
                self.link.show(peer.peer_id, peer.video, peer.audio,
                               {"name": peer.name, "peer_id": peer.peer_id})
        self.engine.submit(show())
        self._update_participants()

    def _peer_left(self, peer: RemotePeer) -> None:
        async def hide() -> None:
            if self.link is not None:
                self.link.hide(peer.peer_id)
        self.engine.submit(hide())
        self._update_participants()

    def _room_error(self, peer: RemotePeer | None, text: str) -> None:
        if peer is not None:  # a remote peer's problem: not about your tile
            return
        with self._error_lock:
            self._error_at = time.monotonic()
            self._error_count = self._local_failures()
            self.local_error = text

    def _local_failures(self) -> int:
        """Frames our sources and filters failed so far (they count each one)."""
        total = 0
        for media in (self.room.local.video, self.room.local.audio):
            total += media.source.errors if media.source is not None else 0
            total += sum(dict(media.filters.errors).values())  # a copy: filters run elsewhere
        return total

    def _active_key(self) -> str | None:
        """The tile key of the other participant speaking now, or None. You are never
        highlighted (as on the page): your own voice, or a fake microphone's beeps,
        must not take the highlight from the student who talks."""
        who = self.room.active_speaker(others=True)
        return None if who is None else str(who.peer_id)

    def _expire_error(self) -> None:
        """Hide the local error once nothing failed for ERROR_HOLD_S (the source recovered)."""
        with self._error_lock:
            if not self.local_error:
                return
            now, count = time.monotonic(), self._local_failures()
            if count != self._error_count:  # still failing: keep it on show
                self._error_at, self._error_count = now, count
            elif now - self._error_at > ERROR_HOLD_S:
                self.local_error = ""

    # -- page -> kernel -------------------------------------------------------------------
    def _on_command(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "leave":
            self.room.leave()
            self._room_left()
        elif kind == "media":
            self.media = {k: v for k, v in content.items() if k not in ("type", "view")}
            if self.capture and not self.room.closed:  # the others see our mute / camera off
                self.room.local.audio.muted = not content.get("mic", True)
                self.room.local.video.muted = not (content.get("camera", True)
                                                   or content.get("sharing", False))
                # the page's data saver caps what the kernel sends, too
                self.room.local.video.quality.data_saver(bool(content.get("data_saver")))
        elif kind == "sfu-fallback":
            self._sfu_fallback(str(content.get("reason") or ""))
        elif kind == "sfu-pin":
            secrets = self._sfu_secrets(content.get("view"))
            if secrets is not None:
                self.send(secrets)
        elif kind == "guests":  # a message, not a trait: saved widget state has no token
            link = proxy_url_of(self.room.server, session=self.room.session,
                                token=self.room.token)
            self.send({"type": "guests", "view": content.get("view"),
                       "text": guests_line(link) or ""})
        else:
            super()._on_command(content)

    def _sfu_fallback(self, reason: str) -> None:
        """The page cannot reach Janus (a tunnel or hub): the kernel forwards the feeds it
        receives in the link's slots instead, as in a mesh (over WebRTC or the comm)."""
        if not self._direct:
            return
        log.info("Conference: the page cannot watch Janus (%s); the kernel sends the tiles",
                 reason)
        self._direct = False
        self.sfu = {}
        # the slots grow to fit everyone: the page offers again with more (a new view, on the
        # comm if the link is there) and _attach shows every peer on it
        self._update_participants()

    def _on_page_error(self, text: str) -> None:
        super()._on_page_error(text)
        if not self.room.closed:  # reaches room.on("error") callbacks as (None, text)
            self.room.host.report_error(text)

    # -- kernel -> page (ticker thread) ---------------------------------------------------
    def _update_participants(self) -> None:
        room = self.room
        if room.closed:
            self._room_left()
            return
        link = self.link
        name = f"{room.name} (you)" if room.name else "you"
        local = {"key": "local", "name": name, "local": True,
                 "state": "connected",
                 "media": {"audio": room.local.audio.sending,
                           "video": room.local.video.sending},  # what the others are told
                 "slot": link.slot_of("local") if link else None}
        rows = [local]
        shown = (0 if self._direct else len(room.peers)) + (0 if self.capture else 1)
        if shown > self.slots:  # grow (never shrink): the page offers again with more
            self.slots = shown + SLOT_HEADROOM
        for peer in room.peers.values():
            rows.append({"key": peer.peer_id, "name": peer.name or peer.peer_id,
                         "local": False, "state": peer.state, "e2ee": peer.e2ee,
                         "media": peer.media.describe(),  # muted / camera off / unknown
                         "slot": link.slot_of(peer.peer_id) if link else None})
        if rows != self.participants:
            self.participants = rows
        self._update_sfu()

    def _update_sfu(self) -> None:
        """The room and its feeds (peer_id -> Janus feed id) for the page's viewer."""
        sfu = self._watched_sfu() if self._direct else None
        value = {} if sfu is None else {"url": sfu.url, "room": sfu.room_id,
                                         "feeds": dict(sfu.feeds)}  # a copy: engine loop's
        if value != self.sfu:
            self.sfu = value

    def _room_left(self) -> None:
        """The room left (the page's leave button or ``room.leave()`` in a cell): no tiles,
        no stats, no Janus room; the page drops its controls and says so."""
        if self.participants:
            self.participants = []
        if self.stats:
            self.stats = []
        if self.sfu:
            self.sfu = {}
        self.joined = False

    def _tick(self) -> None:
        super()._tick()
        room = self.room
        if room.closed:
            if self.joined:
                self._room_left()
            return
        local_audio: AudioFeed = room.local.audio.feed  # type: ignore[assignment]
        levels = {"local": round(local_audio.level_db, 1) if local_audio.frame_count else None}
        for peer in room.peers.values():
            levels[peer.peer_id] = round(peer.audio.level_db, 1) \
                if peer.audio.frame_count else None
        self._update_sfu()  # feeds follow Janus' publisher events: 5 Hz keeps tiles prompt
        message: dict[str, Any] = {"type": "levels", "levels": levels}
        if room.speech.available:  # voice activity, not level, names the active speaker
            message["active"] = self._active_key()
        self.send(message)
        self._expire_error()
        self._ticks += 1
        if self._ticks % 5 == 0:
            self._update_participants()
            self.stats = stats_rows(room.stats())

    def close(self) -> None:
        self.room.off("peer-joined", self._joined_cb)
        self.room.off("peer-left", self._left_cb)
        self.room.off("peer-media", self._media_cb)
        self.room.off("error", self._error_cb)
        super().close()
