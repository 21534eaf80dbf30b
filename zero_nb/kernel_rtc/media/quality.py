"""Quality caps for what a kernel sends: bitrate, frame size and frame rate, at runtime.

aiortc has no ``setParameters``: its VP8 encoder runs between 250 kbps and 1.5 Mbps
(H.264: 500 kbps-3 Mbps) following REMB only. :class:`Quality` caps it two ways, with no
renegotiation: frames are scaled down and skipped before the encoder (:meth:`Quality.shape`),
and each sender's encoder gets a bitrate ceiling (:meth:`Quality.cap_encoder`, through
:mod:`.encoders`). REMB below the ceiling still lowers the rate, now below aiortc's floor too.

aiortc's rate control is REMB only, and its receivers' REMB is delay-based: packet loss alone
never lowers it (measured: 15 % loss, the target kept climbing). :func:`watch_loss` adds the
loss-based half of Google's congestion control from the receiver reports each sender already
gets: over 10 % loss the rate drops by half the loss, under 2 % it grows 5 % a second.

:func:`limitation` says, from what the encoder knows, whether the network holds it back
(``room.stats()``'s ``quality_limitation``); :data:`DATA_SAVER` is the page's data-saver
choice as kernel caps (the Conference widget applies it with :meth:`Quality.data_saver`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

__all__ = ["DATA_SAVER", "FLOOR_BPS", "USED_SHARE", "Quality", "limitation", "loss_step",
           "watch_loss"]

FLOOR_BPS = 30_000  # the lowest rate REMB may ask for once a sender is capped
_MAX_BPS: dict[type, int] = {Vp8Encoder: 1_500_000, H264Encoder: 3_000_000}  # aiortc ceilings
# the browsers' data saver (js/rtc/send_quality.js DATA_SAVER): 150 kbps, half of VGA
DATA_SAVER: dict[str, Any] = {"max_kbps": 150.0, "width": 320, "height": 240}
# an encoder sending less than this share of the REMB estimate is held back by its picture,
# not the network: aiortc's REMB grants up to 1.5x what arrives (an easy picture: ~2/3)
USED_SHARE = 0.8


class Quality:
    """Caps for one local video output; ``None`` means no cap. Thread-safe."""

    def __init__(self) -> None:
        self.max_kbps: float | None = None
        self.width: int | None = None
        self.height: int | None = None
        self.fps: float | None = None
        self.skipped = 0  # frames dropped to meet the fps cap
        self._lock = threading.Lock()
        self._due = 0.0
        self._before_saver: dict[str, Any] | None = None  # the caps data saver replaced

    def set(self, max_kbps: float | None = None, width: int | None = None,
            height: int | None = None, fps: float | None = None) -> None:
        """Replace every cap (``None``: none). Sizes are maxima: frames keep their aspect."""
        for name, value in (("max_kbps", max_kbps), ("width", width), ("height", height),
                            ("fps", fps)):
            if value is not None and not value > 0:
                raise ValueError(f"set_quality({name}={value!r}): give a positive number, "
                                 "or None for no cap")
        with self._lock:
            self.max_kbps, self.fps = max_kbps, fps
            self.width = int(width) if width else None
            self.height = int(height) if height else None
            self._due = 0.0

    @property
    def max_bps(self) -> int | None:
        return int(self.max_kbps * 1000) if self.max_kbps else None

    def as_dict(self) -> dict[str, Any]:
        return {"max_kbps": self.max_kbps, "width": self.width, "height": self.height,
                "fps": self.fps}

    def data_saver(self, on: bool) -> None:
        """Data saver on: at most :data:`DATA_SAVER` (tighter caps stay); off: the caps
        from before it went on."""
        with self._lock:
            before, caps = self._before_saver, self.as_dict()
            self._before_saver = (before or caps) if on else None
        if on and before is None:
            self.set(**{k: min(v for v in (caps[k], DATA_SAVER[k]) if v)
                        for k in ("max_kbps", "width", "height")}, fps=caps["fps"])
        elif not on and before is not None:
            self.set(**before)

    # -- before the encoder ---------------------------------------------------------------------
    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The largest even size within the caps with the frame's aspect (never larger)."""
        scale = 1.0
        if self.width:
            scale = min(scale, self.width / width)
        if self.height:
            scale = min(scale, self.height / height)
        if scale >= 1.0:
            return width, height
        return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)

    def shape(self, frame: av.VideoFrame, now: float | None = None) -> av.VideoFrame | None:
        """Scale ``frame`` down to the size caps; None when the fps cap skips it. Encoded
        packets (``sources.from_file(encoded=True)``) pass as they are."""
        if not isinstance(frame, av.VideoFrame):
            return frame
        if self.fps:
            now = time.monotonic() if now is None else now
            with self._lock:
                interval = 1.0 / self.fps
                if now + 0.25 * interval < self._due:
                    self.skipped += 1
                    return None
                # catch up after a pause instead of sending a burst
                self._due = max(self._due + interval, now)
        size = self.size_for(frame.width, frame.height)
        if size != (frame.width, frame.height):
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts = frame.pts
            if frame.time_base is not None:
                scaled.time_base = frame.time_base
            return scaled
        return frame

    # -- the encoder ----------------------------------------------------------------------------
    def cap_encoder(self, encoder: Any) -> Any:
        """An encoder hook (:func:`.encoders.add_encoder_hook`): VP8/H.264 encoders get the
        bitrate ceiling; other codecs pass through."""
        base = type(encoder)
        if base not in _MAX_BPS:
            return encoder
        estimate = encoder.target_bitrate
        encoder.__class__ = _capped_class(base)
        encoder._zero_nb_quality = self
        encoder._zero_nb_estimate = estimate
        encoder._zero_nb_loss_bps = None  # the loss-based limit (watch_loss), None: none
        return encoder


_classes: dict[type, type] = {}


def _stock_max(encoder: Any) -> int:
    """aiortc's own ceiling for a capped encoder (its class is aiortc's, subclassed)."""
    return _MAX_BPS[type(encoder).__mro__[1]]


def _capped_class(base: type) -> type:
    """``base`` with a ``target_bitrate`` that honours the Quality ceiling and lets REMB
    go below aiortc's floor."""
    if base in _classes:
        return _classes[base]
    private = f"_{base.__name__}__target_bitrate"  # what base's encode() reads for bufsize

    def get(self: Any) -> int:
        limits = [self._zero_nb_estimate, self._zero_nb_quality.max_bps,
                  self._zero_nb_loss_bps]
        value = max(FLOOR_BPS, min(v for v in limits if v))
        setattr(self, private, value)
        return int(value)

    def put(self: Any, bitrate: int) -> None:  # from REMB
        self._zero_nb_estimate = max(FLOOR_BPS, min(int(bitrate), _MAX_BPS[base]))

    cls = _classes[base] = type(f"Capped{base.__name__}", (base,),
                                {"target_bitrate": property(get, put)})
    return cls


def limitation(encoder: Any, sent_kbps: float | None) -> str | None:
    """Why a capped encoder sends what it sends: ``"bandwidth"`` when the network holds its
    target below the ceiling (the user's cap, else aiortc's maximum) — the loss rule's limit,
    or a REMB estimate the encoder uses (it sends at least :data:`USED_SHARE` of it: REMB
    grants up to 1.5x what arrives, so an easy picture idles below the estimate) —
    ``"none"`` otherwise; None for an encoder without caps (not encoding, encoded source)."""
    quality = getattr(encoder, "_zero_nb_quality", None)
    if quality is None:
        return None
    top = _stock_max(encoder)
    ceiling = quality.max_bps or top
    loss = encoder._zero_nb_loss_bps
    remb = min(encoder._zero_nb_estimate, top)
    used = sent_kbps is not None and sent_kbps * 1000 >= USED_SHARE * remb
    return "bandwidth" if (loss is not None and loss < ceiling) or (remb < ceiling and used) \
        else "none"


def loss_step(current: float, loss: float, ceiling: float) -> float | None:
    """GCC's loss-based rule for one report: the new limit in bits/s, or None once it is
    back above ``ceiling`` (no limit)."""
    if loss > 0.10:
        current *= 1 - 0.5 * loss
    elif loss < 0.02:
        current *= 1.05
    return None if current >= ceiling else max(FLOOR_BPS, current)


async def watch_loss(sender: RTCRtpSender, interval: float = 1.0) -> None:
    """Apply :func:`loss_step` to ``sender``'s capped encoder from the fraction lost in its
    receiver reports, once per ``interval``, until the sender's transport closes."""
    from .encoders import encoder_of

    while getattr(sender.transport, "state", "closed") not in ("closed", "failed"):
        await asyncio.sleep(interval)
        encoder = encoder_of(sender)
        if encoder is None or not hasattr(encoder, "_zero_nb_loss_bps"):
            continue
        lost = [s.fractionLost for s in (await sender.getStats()).values()
                if s.type == "remote-inbound-rtp" and s.fractionLost is not None]
        if not lost:
            continue
        ceiling = _stock_max(encoder)
        current = encoder._zero_nb_loss_bps or encoder.target_bitrate
        encoder._zero_nb_loss_bps = loss_step(current, max(lost) / 256, ceiling)
