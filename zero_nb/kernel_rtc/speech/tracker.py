"""Who speaks when: voice activity per participant, live, off the media loop.

``room.speech`` is a :class:`SpeechTracker`. It follows every participant's audio feed with
``feed.subscribe``; the callback (on the engine loop) only converts the 20 ms block and hands
it to a worker thread through a bounded queue, where WebRTC's VAD and the segmenter
(:mod:`.vad`) run. State changes set ``peer.audio.speaking``, fire ``room.on("speaking",
cb(peer, speaking))`` and end up as segments in ``room.timeline()``; ``room.turns()`` derives
turn-taking figures from them (:mod:`.turns`). Without the ``[analysis]`` extra the room works
as before and these calls raise :class:`~zero_nb.errors.MissingExtra`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..media.feeds import AudioFeed
from . import turns as turns_mod
from .vad import Change, VadSettings, VoiceDetector, load_webrtcvad

__all__ = ["LocalParticipant", "SpeechHost", "SpeechTracker"]

log = logging.getLogger("zero_nb.speech")

QUEUE_BLOCKS = 500  # 10 s of 20 ms blocks across all streams; the oldest go first
TICK_S = 0.1  # how often the worker looks for streams that stopped delivering


@dataclasses.dataclass(eq=False)
class LocalParticipant:
    """This participant, as passed to ``speaking`` callbacks (``peer_id``, ``name``,
    ``audio``) when it sends audio itself."""

    peer_id: str
    name: str
    audio: Any

    def __repr__(self) -> str:
        return f"<LocalParticipant {self.peer_id} {self.name!r}>"


class _Stream:
    """One participant's audio under analysis."""

    def __init__(self, who: Any, feed: AudioFeed, settings: VadSettings) -> None:
        self.who = who
        self.feed = feed
        self.detector = VoiceDetector(settings)
        self.opened: float | None = None  # start of the segment in progress
        self.last_arrival = 0.0
        self.unsubscribe: Callable[[], None] = lambda: None


class SpeechHost(Protocol):
    """What the tracker uses of its room (``room.host``)."""

    @property
    def peer_id(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...

    def local_feed(self, kind: str) -> Any: ...
    def emit(self, event: str, *args: Any) -> None: ...
    def add_peer_hook(self, hook: Callable[[Any], None]) -> Callable[[], None]: ...


class SpeechTracker:
    """Voice activity of every participant of a room (``room.speech``), through its host."""

    def __init__(self, room: SpeechHost, settings: VadSettings | None = None,
                 max_segments: int = 100_000) -> None:
        self.room = room
        self.settings = settings or VadSettings()
        self.dropped = 0  # audio blocks dropped because the worker fell behind
        self._segments: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=max_segments)
        self._streams: dict[str, _Stream] = {}
        self._queue: collections.deque[tuple[_Stream, np.ndarray, int, float]] = \
            collections.deque()
        self._cond = threading.Condition()
        self._lock = threading.RLock()  # streams and segments
        self._thread: threading.Thread | None = None
        try:
            load_webrtcvad()
            self.available = True
        except ImportError:
            self.available = False
        else:
            room.add_peer_hook(self.attach)

    # -- following participants (engine loop) -------------------------------------------------
    def attach(self, peer: Any) -> None:
        """Analyse ``peer.audio`` (a room peer hook; also picks up the local participant)."""
        self._attach_local()
        self._follow(peer.peer_id, peer, peer.audio)

    def _attach_local(self) -> None:
        feed = self.room.local_feed("audio")
        pid = self.room.peer_id
        if feed is None or pid is None or pid in self._streams:
            return
        assert isinstance(feed, AudioFeed)
        with self._lock:  # our id changed (a re-join): stop following under the old one
            for key, stream in list(self._streams.items()):
                if isinstance(stream.who, LocalParticipant):
                    self._close_stream(stream)
                    del self._streams[key]
        self._follow(pid, LocalParticipant(pid, self.room.name or "me", feed), feed)

    def _follow(self, key: str, who: Any, feed: AudioFeed) -> None:
        if not self.available:
            return
        with self._lock:
            old = self._streams.get(key)
            if old is not None and old.feed is feed:
                return
            if old is not None:
                self._close_stream(old)
            stream = self._streams[key] = _Stream(who, feed, self.settings)

        def on_frame(frame: Any) -> None:  # engine loop: convert (µs) and hand over
            self._put(stream, AudioFeed.to_float(frame), frame.sample_rate)

        stream.unsubscribe = feed.subscribe(on_frame)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="zero_nb-vad", daemon=True)
            self._thread.start()

    def _put(self, stream: _Stream, samples: np.ndarray, rate: int) -> None:
        with self._cond:
            if len(self._queue) >= QUEUE_BLOCKS:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((stream, samples, rate, time.time()))
            self._cond.notify()

    # -- the worker thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(TICK_S)
                items = list(self._queue)
                self._queue.clear()
            with self._lock:
                for stream, samples, rate, arrival in items:
                    if self._streams.get(stream.who.peer_id) is not stream:
                        continue  # detached meanwhile
                    stream.last_arrival = arrival
                    self._apply(stream, stream.detector.push(samples, rate, arrival))
                self._expire(time.time())
                if self.room.closed:
                    for stream in list(self._streams.values()):
                        self._close_stream(stream)
                    self._thread = None
                    return

    def _expire(self, now: float) -> None:
        """Close segments of streams that ended or stopped delivering audio."""
        for key, stream in list(self._streams.items()):
            if stream.feed.ended:
                self._close_stream(stream)
                del self._streams[key]
            elif now - stream.last_arrival > TICK_S:
                self._apply(stream, stream.detector.segmenter.expire(now))

    def _close_stream(self, stream: _Stream) -> None:
        stream.unsubscribe()
        self._apply(stream, stream.detector.segmenter.close())

    def _apply(self, stream: _Stream, changes: list[Change]) -> None:
        for change in changes:
            if change.speaking:
                stream.opened = change.time
            else:
                if stream.opened is not None:
                    self._segments.append(self._record(stream, stream.opened, change.time))
                stream.opened = None
            stream.feed.speaking = change.speaking
            self.room.emit("speaking", stream.who, change.speaking)

    @staticmethod
    def _record(stream: _Stream, start: float, end: float) -> dict[str, Any]:
        return {"peer_id": stream.who.peer_id, "name": stream.who.name, "start": start,
                "end": end}

    # -- what people ask (any thread) ------------------------------------------------------------
    def configure(self, **settings: Any) -> VadSettings:
        """Change :class:`~zero_nb.kernel_rtc.vad.VadSettings` (``aggressiveness``,
        ``hangover_s``, ``min_segment_s``, ``frame_ms``); segments in progress end now."""
        self.require()
        with self._lock:
            self.settings = dataclasses.replace(self.settings, **settings)
            for stream in self._streams.values():
                self._apply(stream, stream.detector.segmenter.close())
                stream.detector = VoiceDetector(self.settings)
        return self.settings

    def require(self) -> None:
        """Raise :class:`~zero_nb.errors.MissingExtra` without the ``[analysis]`` extra."""
        if not self.available:
            load_webrtcvad()

    def timeline(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Speech segments ``{peer_id, name, start, end}`` (wall-clock s), oldest first;
        a segment in progress ends now. ``seconds``: only the last ones, cut to that window."""
        self.require()
        self._attach_local()
        now = time.time()
        with self._lock:
            rows = list(self._segments)
            rows += [self._record(s, s.opened, now) for s in self._streams.values()
                     if s.opened is not None]
        return turns_mod.clip(rows, None if seconds is None else now - seconds)

    def turns(self, seconds: float | None = None) -> dict[str, Any]:
        """Turn-taking figures over :meth:`timeline` (see :func:`.turns.turns`)."""
        return turns_mod.turns(self.timeline(seconds))

    def speaking(self) -> list[Any]:
        """Participants speaking now."""
        self.require()
        with self._lock:
            return [s.who for s in self._streams.values() if s.detector.speaking]

    def states(self) -> dict[str, bool]:
        """``{peer_id: speaking}`` for everyone followed (e.g. for a gallery highlight)."""
        if not self.available:
            return {}
        with self._lock:
            return {key: s.detector.speaking for key, s in self._streams.items()}

    def active_speaker(self, *, others: bool = False) -> Any:
        """The loudest participant speaking now (by VAD, not level alone), or None;
        ``others``: leave this participant out (a gallery highlights the others)."""
        talking = [who for who in self.speaking()
                   if not (others and isinstance(who, LocalParticipant))]
        return max(talking, key=lambda who: who.audio.level_db) if talking else None

    def __repr__(self) -> str:
        if not self.available:
            return "<SpeechTracker unavailable: pip install 'zero_nb[analysis]'>"
        return (f"<SpeechTracker {len(self._streams)} streams, {len(self._segments)} segments, "
                f"{self.dropped} dropped>")
