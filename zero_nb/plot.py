"""Matplotlib helpers for notebooks: audio levels, who spoke when, stats over time, frame
histograms, and any of them live.

matplotlib is optional and imported on first use. Figures are built with
``matplotlib.figure.Figure`` (not pyplot), so nothing piles up in pyplot's global state and a
returned figure displays exactly once in Jupyter's inline backend.

``live_levels`` keeps a plot updating without blocking the kernel: a background thread renders
the figure to PNG with the Agg canvas and assigns it to an ``ipywidgets.Image`` (or, without
ipywidgets, updates a display handle). Agg rendering works in every front end (JupyterLab,
Notebook, VS Code, nbconvert) without a front-end extension such as ipympl, and a widget
property update from a thread is just a comm message, so cells keep running meanwhile.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .errors import RoomClosed

__all__ = [
    "LiveLevels",
    "LivePlot",
    "histogram",
    "levels",
    "live",
    "live_levels",
    "live_timeline",
    "speaking_timeline",
    "stats_over_time",
]


def _figure(figsize: tuple[float, float] = (7.0, 3.0)) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("zero_nb.plot needs matplotlib: pip install matplotlib") from exc
    return Figure(figsize=figsize, layout="constrained")


def _participants(room: Any) -> list[tuple[str, Any]]:
    """(label, audio feed) for this participant (if it sends audio) and every remote peer."""
    feeds: list[tuple[str, Any]] = []
    try:
        local = room.local.audio
    except RoomClosed:  # room not joined yet: remote peers only
        local = None
    if local is not None and local.source is not None:
        feeds.append((f"{room.name or 'me'} (local)", local))
    for pid, peer in room.peers.items():
        feeds.append((peer.name or pid, peer.audio))
    return feeds


def _draw_levels(ax: Any, room: Any, seconds: float, floor_db: float) -> None:
    now = time.time()
    for label, feed in _participants(room):
        times, values = feed.level_history(seconds)
        if len(times):
            ax.plot(times - now, np.maximum(values, floor_db), label=label, linewidth=1)
    ax.set_xlim(-seconds, 0)
    ax.set_ylim(floor_db, 0)
    ax.set_xlabel("seconds ago")
    ax.set_ylabel("level (dBFS)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize="small")


def levels(room: Any, seconds: float = 30, *, floor_db: float = -80.0) -> Any:
    """A figure of every participant's audio level (dBFS) over the last ``seconds``."""
    fig = _figure()
    ax = fig.add_subplot()
    _draw_levels(ax, room, seconds, floor_db)
    ax.set_title(f"audio levels in {room.session!r}")
    return fig


def stats_over_time(records: Iterable[dict[str, Any]], *, kind: str = "video",
                    direction: str = "in") -> Any:
    """fps and bitrate over time, one line per peer, from flat ``room.stats(flat=True)``
    records collected over time (a list of records, or a list of such lists)."""
    flat: list[dict[str, Any]] = []
    for item in records:
        if isinstance(item, dict):
            flat.append(item)
        else:
            flat.extend(item)
    chosen = [r for r in flat if r.get("kind") == kind and r.get("direction") == direction]
    fig = _figure((7.0, 4.5))
    ax_fps, ax_rate = fig.subplots(2, 1, sharex=True)
    t0 = min((r["time"] for r in chosen), default=0.0)
    for label in dict.fromkeys(r.get("name") or r.get("peer_id") for r in chosen):
        rows = [r for r in chosen if (r.get("name") or r.get("peer_id")) == label]
        t = [r["time"] - t0 for r in rows]
        ax_fps.plot(t, [r.get("fps") or 0 for r in rows], marker=".", label=label)
        ax_rate.plot(t, [r.get("bitrate_kbps") or 0 for r in rows], marker=".", label=label)
    ax_fps.set_ylabel("fps")
    ax_rate.set_ylabel("bitrate (kbit/s)")
    ax_rate.set_xlabel("seconds")
    ax_fps.set_title(f"{direction}bound {kind}")
    for ax in (ax_fps, ax_rate):
        ax.grid(alpha=0.3)
    if chosen:
        ax_fps.legend(fontsize="small")
    return fig


def histogram(img: np.ndarray, *, bins: int = 64) -> Any:
    """Per-channel (R, G, B) histogram of an ``(H, W, 3)`` uint8 frame."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"histogram() takes an (H, W, 3) RGB frame; got shape {arr.shape}")
    fig = _figure()
    ax = fig.add_subplot()
    edges = np.linspace(0, 256, bins + 1)
    for channel, color in enumerate(("red", "green", "blue")):
        counts, _ = np.histogram(arr[..., channel], bins=edges)
        ax.stairs(counts, edges, color=color, label=color[0].upper())
    ax.set_xlim(0, 256)
    ax.set_xlabel("value")
    ax.set_ylabel("pixels")
    ax.legend(fontsize="small")
    return fig


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class LivePlot:
    """A plot that refreshes from a background thread: ``.stop()``, ``.running``,
    ``.widget``, ``.frames`` (PNGs rendered), ``.error`` (what stopped it, if anything).

    ``draw(ax)`` fills a fresh axes each time; it runs on that thread."""

    def __init__(self, draw: Callable[[Any], None], interval: float, room: Any = None,
                 figsize: tuple[float, float] = (7.0, 3.0)) -> None:
        self.draw = draw
        self.room = room
        self.interval = interval
        self.figsize = figsize
        self.frames = 0  # PNGs rendered so far
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._handle: Any = None
        self.widget: Any = None
        self._image: Any = None
        try:
            import ipywidgets as w
        except ImportError:
            w = None
        if w is not None:
            self._image = w.Image(format="png")
            button = w.Button(description="stop", icon="stop", layout=w.Layout(width="80px"))
            button.on_click(lambda _b: self.stop())
            self.widget = w.VBox([self._image, button])
        self._thread = threading.Thread(target=self._run, name="zero_nb-live-plot",
                                        daemon=True)

    def _render(self) -> bytes:
        fig = _figure(self.figsize)
        self.draw(fig.add_subplot())
        return _png(fig)

    def _show(self, png: bytes) -> None:
        if self._image is not None:
            self._image.value = png
            return
        from IPython.display import Image, display

        if self._handle is None:
            self._handle = display(Image(png), display_id=True)
        else:
            self._handle.update(Image(png))

    def _run(self) -> None:
        while not self._stop.is_set():
            if getattr(self.room, "closed", False):
                break
            try:
                self._show(self._render())
                self.frames += 1
            except Exception as exc:  # keep the kernel alive; report on the handle
                self.error = exc
                break
            self._stop.wait(self.interval)

    def start(self) -> LivePlot:
        if self.widget is not None:
            from IPython.display import display

            display(self.widget)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop updating (the last image stays)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {state}, {self.frames} frames>"


class LiveLevels(LivePlot):
    """Handle of :func:`live_levels`."""

    def __init__(self, room: Any, seconds: float, interval: float, floor_db: float) -> None:
        self.seconds = seconds
        self.floor_db = floor_db

        def draw(ax: Any) -> None:
            _draw_levels(ax, room, seconds, floor_db)
            ax.set_title(f"live audio levels in {room.session!r}")

        super().__init__(draw, interval, room)


def live(draw: Callable[[Any], None], interval: float = 0.5, *, room: Any = None,
         figsize: tuple[float, float] = (7.0, 3.0)) -> LivePlot:
    """Display a plot that ``draw(ax)`` refills every ``interval`` s from a background
    thread (stops by itself when ``room`` closes); returns the :class:`LivePlot`."""
    return LivePlot(draw, interval, room, figsize).start()


def live_levels(room: Any, seconds: float = 30, interval: float = 0.5, *,
                floor_db: float = -80.0) -> LiveLevels:
    """Display an audio-level plot that refreshes every ``interval`` s from a background
    thread (the kernel stays free); returns a handle with ``.stop()``."""
    handle = LiveLevels(room, seconds, interval, floor_db)
    handle.start()
    return handle


# -- who spoke when (room.timeline(), needs the [analysis] extra) -------------------------------

def _draw_timeline(ax: Any, room: Any, segments: list[dict[str, Any]], origin: float) -> None:
    """One row of bars per participant; x in seconds from ``origin``."""
    names = [label.removesuffix(" (local)") for label, _ in _participants(room)]
    names = list(dict.fromkeys([*names, *(g["name"] or g["peer_id"] for g in segments)]))
    colors = [f"C{i % 10}" for i in range(len(names))]
    for row, name in enumerate(names):
        bars = [(g["start"] - origin, g["end"] - g["start"]) for g in segments
                if (g["name"] or g["peer_id"]) == name]
        ax.broken_barh(bars, (row - 0.35, 0.7), color=colors[row])
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.6, max(len(names), 1) - 0.4)
    ax.invert_yaxis()  # first participant on top
    ax.grid(axis="x", alpha=0.3)


def speaking_timeline(room: Any, seconds: float | None = None) -> Any:
    """A figure of who spoke when: one row per participant, a bar per speech segment
    (``room.timeline(seconds)``), x in seconds since the room joined."""
    segments = room.timeline(seconds)
    origin = getattr(room, "joined_at", None) or min(
        (g["start"] for g in segments), default=time.time())
    fig = _figure((7.0, 1.0 + 0.5 * max(1, len(room.peers) + 1)))
    ax = fig.add_subplot()
    _draw_timeline(ax, room, segments, origin)
    ax.set_xlabel("seconds since joining")
    ax.set_title(f"who spoke when in {room.session!r}")
    return fig


def live_timeline(room: Any, seconds: float = 30, interval: float = 0.5) -> LivePlot:
    """:func:`speaking_timeline` scrolling live over the last ``seconds``; ``.stop()``."""
    room.speech.require()  # fail here, in the cell, not later in the thread

    def draw(ax: Any) -> None:
        now = time.time()
        _draw_timeline(ax, room, room.timeline(seconds), now)
        ax.set_xlim(-seconds, 0)
        ax.set_xlabel("seconds ago")
        ax.set_title(f"who is speaking in {room.session!r}")

    return live(draw, interval, room=room, figsize=(7.0, 1.0 + 0.5 * max(2, len(room.peers))))
