"""A session on one timeline: one WebM file per participant segment, every file on one
session clock, and ``manifest.jsonl``, a line per fact as it happens (docs/recording.md).

Time 0 of the session is the ``time.monotonic()`` at :meth:`SessionRecording.start`. Each
file starts at 0 at its segment's ``offset`` (session seconds, in the manifest): a frame at
time ``x`` in a file happened at session time ``offset + x``. Frames are stamped when they
reach the kernel (decoded, then re-encoded to VP8/Opus), so a remote file lags its sender by
the network and jitter-buffer delay.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ..errors import MediaError
from .media.recorder import FeedRecorder

__all__ = ["MANIFEST", "SCHEMA_VERSION", "SessionHost", "SessionRecording"]

MANIFEST = "manifest.jsonl"
SCHEMA_VERSION = 1
LOCAL = "local"


class SessionHost(Protocol):
    """What a session recording reads of its room."""

    @property
    def name(self) -> str: ...
    @property
    def session(self) -> str | None: ...
    @property
    def peer_id(self) -> str | None: ...
    @property
    def local(self) -> Any: ...  # ``.video`` / ``.audio``: LocalMedia
    @property
    def peers(self) -> Mapping[str, Any]: ...

    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]: ...
    def off(self, event: str, callback: Callable[..., Any]) -> None: ...


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "peer"


def _codecs(video: Any, audio: Any) -> dict[str, str | None]:
    return {"video": "vp8" if video is not None else None,
            "audio": "opus" if audio is not None else None}


class SessionRecording:
    """Record a room's session into ``directory`` until :meth:`stop` (or a ``with`` block
    ends). Late joiners get their file when they join; a participant who leaves and comes
    back (the same peer id, or a new one under the name of someone who left) gets a new
    segment of the same participant."""

    def __init__(self, room: SessionHost, directory: str | Path, *,
                 include_local: bool = True) -> None:
        self.room = room
        self.directory = Path(directory)
        self.include_local = include_local
        self.recorders: dict[str, FeedRecorder] = {}
        self.origin: float | None = None
        self.stopped = False
        self._lock = threading.Lock()
        self._segments: dict[str, int] = {}
        self._present: set[str] = set()
        self._keys: dict[str, str] = {}  # peer id -> participant key in the manifest
        self._left_names: dict[str, str] = {}  # name of someone gone -> their key
        self._manifest: Any = None
        self._handlers: list[tuple[str, Callable[..., Any]]] = []

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> SessionRecording:
        """Open the manifest, start a file per participant present, follow the room."""
        if self.origin is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self._manifest = open(self.directory / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115
        self.origin, wall = time.monotonic(), time.time()
        self._write({"type": "session", "version": SCHEMA_VERSION, "session": self.room.session,
                     "self": self.room.peer_id, "name": self.room.name, "started_unix": wall,
                     "started_utc": datetime.datetime.fromtimestamp(
                         wall, datetime.timezone.utc).isoformat(),
                     "monotonic_origin": self.origin, "clock": "offset-per-file"})
        for event, handler in (("peer-joined", self._joined), ("peer-left", self._left),
                               ("peer-media", self._media), ("message", self._message),
                               ("speaking", self._speaking), ("error", self._error)):
            self.room.on(event, handler)
            self._handlers.append((event, handler))
        if self.include_local:
            local = self.room.local
            self._segment(LOCAL, self.room.name or "me", "kernel",
                          local.video.feed if local.video.source else None,
                          local.audio.feed if local.audio.source else None)
        for peer in self.room.peers.values():
            self._joined(peer)
        return self

    def stop(self) -> list[Path]:
        """Finish every file and close the manifest; returns the files."""
        with self._lock:
            if self.stopped or self.origin is None:
                return self.files
            self.stopped = True
        end = self.now()
        for event, handler in self._handlers:
            self.room.off(event, handler)
        failed = [error for key in list(self.recorders) if (error := self._finish(key))]
        self._write({"type": "end", "t": end})
        with self._lock:
            self._manifest.close()
        if failed:
            raise failed[0]
        return self.files

    def _finish(self, key: str) -> MediaError | None:
        """Stop one file; a failed encoder is an ``error`` event (and returned)."""
        try:
            self.recorders[key].stop()
        except MediaError as exc:
            self._write({"type": "event", "t": self.now(), "event": "error",
                         "participant": key.split("/")[0], "text": str(exc)})
            return exc
        return None

    def __enter__(self) -> SessionRecording:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the clock and the manifest -----------------------------------------------------
    def now(self) -> float:
        """Seconds on the session clock."""
        assert self.origin is not None
        return round(time.monotonic() - self.origin, 4)

    @property
    def files(self) -> list[Path]:
        return [r.path for r in self.recorders.values()]

    def _write(self, record: dict[str, Any]) -> None:
        # one line per fact, flushed and synced: a killed kernel loses no finished line
        with self._lock:
            if self._manifest is None or self._manifest.closed:  # stopped
                return
            self._manifest.write(json.dumps(record, default=str) + "\n")
            self._manifest.flush()
            os.fsync(self._manifest.fileno())

    def event(self, kind: str, participant: str | None = None, **data: Any) -> None:
        """Add a timed event to the manifest (also for user annotations)."""
        if self.origin is not None and not self.stopped:
            self._write({"type": "event", "t": self.now(), "event": kind,
                         "participant": participant, **data})

    def _key(self, peer_id: str | None) -> str | None:
        """The manifest's participant for a peer id (a rejoiner keeps the first one's)."""
        if peer_id is None:
            return None
        if self.include_local and peer_id == self.room.peer_id:
            return LOCAL
        return self._keys.get(peer_id, peer_id)

    def _segment(self, key: str, name: str, kind: str, video: Any, audio: Any,
                 peer_id: str | None = None) -> None:
        assert self.origin is not None
        with self._lock:
            if self.stopped:
                return
            index = self._segments.get(key, 0)
            self._present.add(key)
            self._segments[key] = index + 1
        path = self.directory / f"{_safe(name)}-{key}-{index}.webm"
        if video is not None or audio is not None:
            offset = self.now()
            recorder = FeedRecorder(path, video, audio, origin=self.origin + offset)
            with self._lock:
                self.recorders[f"{key}/{index}"] = recorder
        else:
            offset = self.now()
        self._write({"type": "participant", "participant": key, "name": name, "kind": kind,
                     "peer_id": peer_id, "segment": index,
                     "file": path.name if video or audio else None,
                     "offset": offset, "codecs": _codecs(video, audio), "fps": 30})
        self.event("join", key, name=name)

    # -- room events (on the room's worker thread) ----------------------------------------
    def _joined(self, peer: Any) -> None:
        with self._lock:
            if self._key(peer.peer_id) in self._present:
                return  # listed when we started and announced again
            # a new connection under the name of someone who left: the same person back
            key = self._left_names.pop(peer.name, peer.peer_id) if peer.name else peer.peer_id
            if key in self._present:
                key = peer.peer_id
            self._keys[peer.peer_id] = key
        self._segment(key, peer.name, "peer", peer.video, peer.audio, peer.peer_id)

    def _left(self, peer: Any) -> None:
        key = self._key(peer.peer_id)
        assert key is not None
        with self._lock:
            mine = [k for k in self.recorders if k.startswith(key + "/")]
            self._present.discard(key)
            if peer.name:
                self._left_names[peer.name] = key
        for recorder in mine:
            self._finish(recorder)
        self.event("leave", key)

    def _media(self, peer: Any, media: Any) -> None:
        key = self._key(peer.peer_id)
        if media.audio is not None:
            self.event("unmute" if media.audio else "mute", key)
        if media.video is not None:
            self.event("camera-on" if media.video else "camera-off", key)

    def _message(self, entry: dict[str, Any]) -> None:
        self.event("chat", self._key(entry.get("from")), name=entry.get("name"),
                   data=entry.get("data"), to=entry.get("to"))

    def _speaking(self, peer: Any, speaking: bool) -> None:
        # the speech tracker names us by our peer id; the manifest calls us "local"
        self.event("speaking-start" if speaking else "speaking-end",
                   self._key(getattr(peer, "peer_id", None)))

    def _error(self, peer: Any, text: str) -> None:
        self.event("error", self._key(getattr(peer, "peer_id", None)), text=text)
