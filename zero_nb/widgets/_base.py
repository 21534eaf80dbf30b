"""What every widget shares: a ticker thread for kernel->page updates, and the local link.

Kernel->page messages (traitlets, custom messages) may be sent from a background thread and
flow even while a cell runs; page->kernel comm messages (the link's offer, button presses)
wait until the kernel is idle. Media never waits: it runs on the engine loop.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import anywidget
import traitlets

from ..kernel_rtc.engine import get_engine
from ..kernel_rtc.link import DEFAULT_SLOTS, LocalLink
from ..kernel_rtc.media.feeds import AudioFeed, VideoFeed
from . import comm_down
from ._bundle import bundle, js_dir

__all__ = ["LinkWidget", "TickingWidget", "json_safe"]

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


class TickingWidget(anywidget.AnyWidget):
    """A widget whose :meth:`_tick` runs every ``_interval`` seconds on a daemon thread."""

    _interval = 1.0

    def __init__(self, **kwargs: Any) -> None:
        # anywidget reads _esm/_css before it adds them as synced traits
        self._esm = bundle(self._module)
        self._css = _css()
        super().__init__(**kwargs)
        self._stop = threading.Event()
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
            except Exception:
                log.debug("%s tick failed", type(self).__name__, exc_info=True)

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

    def __init__(self, *, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._config = config
        self.engine = get_engine()
        self.link: LocalLink | None = None
        self._downlink: Any = None  # comm_down: the tiles' media over the comm
        self.video = VideoFeed("browser camera")
        self.audio = AudioFeed("browser mic")
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        if kind == "m.ctl" and comm_down.route(self, content, self._forward_from()):
            return
        if kind == "offer":
            old, self.link = self.link, LocalLink(
                self.send, view=str(content.get("view")), slots=self.slots,
                config=self._link_config(), video=self.video, audio=self.audio,
                on_track=self._on_page_track, engine=self.engine)
            self.engine.submit(self._start(old, self.link, content))
        elif kind == "close":
            link = self.link
            if link is not None and link.view == str(content.get("view")):
                self.link = None
                self.engine.submit(link.close())
        else:
            self._on_command(content)

    async def _start(self, old: LocalLink | None, link: LocalLink,
                     offer: dict[str, Any]) -> None:
        if old is not None:  # a newer view took over: one connection per widget
            await old.close()
        self._attach(link)
        await link.handle(offer)

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
        comm_down.stop(self)
        link, self.link = self.link, None
        if link is not None:
            link.close_sync()
        super().close()
