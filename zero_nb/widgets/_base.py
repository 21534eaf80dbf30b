"""What every widget shares: a ticker thread for kernel->page updates, and the local link.

Kernel->page messages (traitlets, custom messages) may be sent from a background thread and
flow even while a cell runs; page->kernel comm messages (the link's offer, button presses,
``m.up`` media) run on the comm's own kernel subshell thread where the front end opens one
(JupyterLab >= 4.4 with ipykernel >= 7), else between cells. Media never waits: it runs on the
engine loop and, over the comm transport, on a decode thread per view.

The link's transport (``transport`` argument, else ``widgets.transport`` in the config):
``webrtc`` (a peer connection between page and kernel), ``comm`` (media as encoded frames on
the widget's own comm: works wherever Jupyter works — SSH tunnel, JupyterHub) or ``auto``
(WebRTC first; the page moves to the comm when ICE has not connected within
``widgets.webrtc_timeout`` seconds, or fails later). The ``transport`` and
``transport_reason`` traits say which is in use and why. The comm's two halves:
comm_up.py (the page's camera and mic) and comm_down.py (the tiles).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import anywidget
import traitlets

from ..config import load_config
from ..errors import ConfigError
from ..kernel_rtc.engine import get_engine
from ..kernel_rtc.link import DEFAULT_SLOTS, LocalLink
from ..kernel_rtc.media.feeds import AudioFeed, VideoFeed
from . import comm_down
from ._bundle import bundle, js_dir
from .comm_up import CommUplink

__all__ = ["TRANSPORTS", "LinkWidget", "TickingWidget", "json_safe"]

TRANSPORTS = ("auto", "webrtc", "comm")

log = logging.getLogger("zero_nb.widgets")


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: the page gets null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _css() -> str:
    """The UI styles shared with the page, then the widgets' own."""
    return "\n".join((js_dir() / rel).read_text(encoding="utf-8")
                     for rel in ("ui/ui.css", "widgets/widgets.css"))


def route_by_header(comm: Any) -> None:
    """Let the front end choose the thread that handles ``comm``'s page->kernel messages.

    ipykernel 7.4 routes a comm's incoming messages not by their header's ``subshell_id`` but
    by the parent request of the comm's last *outgoing* message (``Comm._reply_subshell_for``,
    meant for a cell in a subshell awaiting a widget's reply). Our widgets send from
    background threads, whose parent is whatever request the kernel dispatched last: one tile
    sent while a cell runs, and every later ``m.up`` queues behind that cell on the main
    shell (measured: 0 camera frames reached the kernel during ``time.sleep(10)``). Our
    messages carry no replies to route, so the header decides, as the front end intended.
    """
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = lambda _data, default: default


class TickingWidget(anywidget.AnyWidget):
    """A widget whose :meth:`_tick` runs every ``_interval`` seconds on a daemon thread."""

    _interval = 1.0

    def __init__(self, **kwargs: Any) -> None:
        # anywidget reads _esm/_css before it adds them as synced traits
        self._esm = bundle(self._module)
        self._css = _css()
        super().__init__(**kwargs)
        route_by_header(self.comm)
        self._stop = threading.Event()
        self._tick_failed = False
        self._ticker = threading.Thread(target=self._run_ticker, daemon=True,
                                        name=f"zero_nb-{type(self).__name__}")
        self._ticker.start()

    _module = ""

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._interval):
            if self.comm is None:  # closed
                return
            try:
                self._tick()
            except Exception:  # keep ticking; say it once, loudly, then quietly
                failed, self._tick_failed = self._tick_failed, True
                (log.debug if failed else log.warning)(
                    "%s update failed (the widget keeps trying)", type(self).__name__,
                    exc_info=True)

    def _tick(self) -> None:
        pass

    def close(self) -> None:
        self._stop.set()
        super().close()


class LinkWidget(TickingWidget):
    """A widget with a local link to the page: the newest view owns the one connection."""

    capture = traitlets.Bool(True).tag(sync=True)  # the page sends camera + mic
    slots = traitlets.Int(DEFAULT_SLOTS).tag(sync=True)
    resolution = traitlets.Unicode("VGA").tag(sync=True)  # VGA, HD or FullHD
    link_state = traitlets.Unicode("new").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    transport_mode = traitlets.Unicode("auto").tag(sync=True)  # what was asked: TRANSPORTS
    webrtc_timeout = traitlets.Float(5.0).tag(sync=True)  # auto: ICE gets this long
    transport = traitlets.Unicode("").tag(sync=True)  # in use: "webrtc", "comm" ("" before)
    transport_reason = traitlets.Unicode("").tag(sync=True)  # why (the page says)

    def __init__(self, *, config: dict[str, Any] | None = None, transport: str | None = None,
                 **kwargs: Any) -> None:
        widgets = load_config(config if config is not None else self._default_config()
                              )["widgets"]
        mode = transport if transport is not None else widgets["transport"]
        if mode not in TRANSPORTS:
            raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)}; got {mode!r}")
        super().__init__(transport_mode=mode, webrtc_timeout=float(widgets["webrtc_timeout"]),
                         **kwargs)
        self._config = config
        self.engine = get_engine()
        self.link: LocalLink | None = None
        self.uplink: CommUplink | None = None  # the page's media over the comm
        self._downlink: Any = None  # comm_down: the tiles' media over the comm
        self._comm_views: set[str] = set()  # views that moved to the comm (they stay)
        self.video = VideoFeed("browser camera")
        self.audio = AudioFeed("browser mic")
        self.on_msg(self._on_msg)

    def _default_config(self) -> dict[str, Any] | None:
        """The config when none is given (Conference: the room's)."""
        return None

    def _on_msg(self, _widget: Any, content: dict[str, Any], buffers: Any) -> None:
        kind = content.get("type")
        view = str(content.get("view"))
        if kind == "m.up":
            uplink = self.uplink
            if uplink is not None and uplink.view == view:
                uplink.receive(content, list(buffers or ()))
        elif kind == "m.ctl":
            # the tiles' half takes its acks and key-frame requests, and starts or stops on
            # `transport`, which the camera's half (and the traits) hear too
            if not comm_down.route(self, content, self._forward_from()):
                self._on_ctl(view, content)
        elif kind == "offer":
            old, self.link = self.link, self._new_link(view)
            self.engine.submit(self._start(old, self.link, content))
        elif kind == "close":
            link = self.link
            if link is not None and link.view == view:
                self.link = None
                self._stop_uplink(view)
                comm_down.stop(self, view)
                self.engine.submit(link.close())
        else:
            self._on_command(content)

    def _new_link(self, view: str) -> LocalLink:
        return LocalLink(self.send, view=view, slots=self.slots, config=self._link_config(),
                         video=self.video, audio=self.audio, on_track=self._on_page_track,
                         engine=self.engine)

    async def _start(self, old: LocalLink | None, link: LocalLink,
                     offer: dict[str, Any] | None) -> None:
        if old is not None and old is not link:  # a newer view took over: one per widget
            await old.close()
        self._attach(link)
        if offer is not None:
            await link.handle(offer)

    # -- the comm transport ---------------------------------------------------------------
    def _on_ctl(self, view: str, content: dict[str, Any]) -> None:
        if content.get("op") != "transport":
            return
        transport = str(content.get("transport") or "")
        if transport == "webrtc" and view in self._comm_views:
            return  # a view never moves back: its tiles' half closing says so
        self.transport_reason = str(content.get("reason") or "")  # first: read together
        self.transport = transport
        log.info("%s: transport %s (%s)", type(self).__name__, transport,
                 self.transport_reason)
        if transport == "comm" and view not in self._comm_views:
            self._comm_views.add(view)
            self._start_comm(view)

    def _start_comm(self, view: str) -> None:
        """The page moved ``view`` to the comm: the link keeps its slots without a peer
        connection (the downlink sends them) and the page's media decodes on a CommUplink."""
        link = self.link
        if link is None or link.view != view:  # `comm` from the start: no offer came
            old, link = link, self._new_link(view)
            self.link = link
            self.engine.submit(self._start(old, link, None))
        self._stop_uplink()
        loop = self.engine.loop

        def on_track(kind: str) -> None:  # decode thread -> engine loop
            loop.call_soon_threadsafe(self._on_page_track, kind)

        self.uplink = CommUplink(self.send, view=view, video=self.video, audio=self.audio,
                                 on_track=on_track)
        self.engine.submit(link.to_comm())

    def _stop_uplink(self, view: str | None = None) -> None:
        uplink = self.uplink
        if uplink is not None and view in (None, uplink.view):
            self.uplink = None
            uplink.close()

    def _link_config(self) -> dict[str, Any] | None:
        return self._config

    def _forward_from(self) -> Any:
        """``resolve`` for the comm downlink: where a slot's encoded frames can be
        forwarded from (None: every slot is encoded from its feed)."""
        return None

    def _attach(self, link: LocalLink) -> None:
        """Put feeds in the link's slots (engine loop), before it answers."""

    def _on_page_track(self, kind: str) -> None:
        """The page's camera or mic arrived (engine loop)."""

    def _on_command(self, content: dict[str, Any]) -> None:
        if content.get("type") == "error":  # the page's camera/mic: denied, missing, unplugged
            self._on_page_error(f"browser media: {content.get('message') or content.get('code')}")
            return
        log.debug("%s: unknown message %r", type(self).__name__, content.get("type"))

    def _on_page_error(self, text: str) -> None:
        """The page could not capture (kernel side: the ``error`` trait and the log)."""
        log.warning("%s: %s", type(self).__name__, text)
        self.error = text

    def _tick(self) -> None:
        link = self.link
        state = link.state if link is not None else "new"
        if state != self.link_state:
            self.link_state = state

    def close(self) -> None:
        self._stop_uplink()
        comm_down.stop(self)
        link, self.link = self.link, None
        if link is not None:
            link.close_sync()
        super().close()

