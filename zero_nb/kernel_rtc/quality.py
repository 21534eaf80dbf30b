"""Quality caps for what a kernel sends: bitrate, frame size and frame rate, at runtime.

aiortc has no ``setParameters``: its VP8 encoder runs between 250 kbps and 1.5 Mbps
(H.264: 500 kbps-3 Mbps) following REMB only. :class:`Quality` caps it two ways, with no
renegotiation: frames are scaled down and skipped before the encoder (:meth:`Quality.shape`),
and each sender's encoder gets a bitrate ceiling (:meth:`Quality.cap_encoder`, through
:mod:`.encoders`). REMB below the ceiling still lowers the rate, now below aiortc's floor too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import av
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

__all__ = ["FLOOR_BPS", "Quality"]

FLOOR_BPS = 30_000  # the lowest rate REMB may ask for once a sender is capped
_MAX_BPS: dict[type, int] = {Vp8Encoder: 1_500_000, H264Encoder: 3_000_000}  # aiortc ceilings


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
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
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
        return encoder


_classes: dict[type, type] = {}


def _capped_class(base: type) -> type:
    """``base`` with a ``target_bitrate`` that honours the Quality ceiling and lets REMB
    go below aiortc's floor."""
    if base in _classes:
        return _classes[base]
    private = f"_{base.__name__}__target_bitrate"  # what base's encode() reads for bufsize

    def get(self: Any) -> int:
        cap = self._zero_nb_quality.max_bps
        value = min(self._zero_nb_estimate, cap) if cap else self._zero_nb_estimate
        setattr(self, private, value)
        return int(value)

    def put(self: Any, bitrate: int) -> None:  # from REMB
        self._zero_nb_estimate = max(FLOOR_BPS, min(int(bitrate), _MAX_BPS[base]))

    cls = _classes[base] = type(f"Capped{base.__name__}", (base,),
                                {"target_bitrate": property(get, put)})
    return cls
