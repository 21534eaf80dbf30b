"""A room's recording: one file per participant, late joiners too (:mod:`.media.recorder`
encodes each file)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from .media.recorder import CODECS, FeedRecorder

__all__ = ["Recording", "RecordingHost"]


class RecordingHost(Protocol):
    """What a recording reads of its room."""

    @property
    def name(self) -> str: ...
    @property
    def local(self) -> Any: ...  # ``.video`` / ``.audio``: LocalMedia
    @property
    def peers(self) -> Mapping[str, Any]: ...

    def add_peer_hook(self, hook: Callable[[Any], None]) -> Callable[[], None]: ...


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "peer"


class Recording:
    """A room's recording: one :class:`FeedRecorder` per participant, late joiners too."""

    def __init__(self, room: RecordingHost, base: Path, suffix: str, include_local: bool) -> None:
        self.room = room
        self._base, self._suffix = base, suffix
        self.recorders: dict[str, FeedRecorder] = {}
        self._lock = threading.Lock()
        self.stopped = False
        if include_local:
            local = room.local
            self._start("local", room.name or "me",
                        local.video.feed if local.video.source else None,
                        local.audio.feed if local.audio.source else None)
        for peer in room.peers.values():
            self._add(peer)
        self._unhook = room.add_peer_hook(self._add)

    @classmethod
    def for_room(cls, room: RecordingHost, path: str | Path,
                 include_local: bool = True) -> Recording:
        path = Path(path)
        if path.suffix.lower() in CODECS:  # "call.mp4" -> call-<name>-<id>.mp4
            return cls(room, path.with_suffix(""), path.suffix.lower(), include_local)
        return cls(room, path, "", include_local)  # a directory: <dir>/<name>-<id>.mp4

    def _file(self, key: str, name: str) -> Path:
        if self._suffix:
            return self._base.parent / f"{self._base.name}-{_safe(name)}-{key}{self._suffix}"
        return self._base / f"{_safe(name)}-{key}.mp4"

    def _start(self, key: str, name: str, video: Any, audio: Any) -> None:
        if video is None and audio is None:
            return
        with self._lock:
            if self.stopped or key in self.recorders:
                return
            self.recorders[key] = FeedRecorder(self._file(key, name), video, audio)

    def _add(self, peer: Any) -> None:
        self._start(peer.peer_id, peer.name, peer.video, peer.audio)

    @property
    def files(self) -> list[Path]:
        return [r.path for r in self.recorders.values()]

    def stop(self) -> list[Path]:
        """Finish every file; returns their paths."""
        with self._lock:
            self.stopped = True
        self._unhook()
        return [r.stop() for r in self.recorders.values()]

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
