"""Simulcast from a kernel: smaller copies of its video on the connection published to Janus.

aiortc sends one encoding per sender and has no simulcast (aiortc issue #676). Janus also
takes legacy SSRC simulcast: the offer lists the layers' SSRCs, lowest first, in an
``a=ssrc-group:SIM`` line. So next to the transceiver's own sender (the high layer) each
lower layer is an :class:`ExtraLayer`: an ``RTCRtpSender`` on the same DTLS transport that
sends a scaled copy of the same frames under its own SSRC; it starts when the first starts
(same codec, header extensions and mid; no RTX) and stops with it. aiortc routes RTCP by
SSRC, so Janus' keyframe requests and NACKs for a layer reach its sender. Subscribers then
pick a layer with ``configure`` as for a browser.

How many layers (:func:`layer_plan`), as Chromium does for a camera: video under
:data:`HD_LINES` lines sends 2 (full and half size; the low one capped at
:data:`LOW_KBPS`), HD and up sends 3 (full, half, quarter: 1280x720, 640x360, 320x180;
caps :data:`MID_KBPS` and :data:`LOW_KBPS`). The count is decided once, from the height of
the frames sent when the offer is made, and holds for the life of the publication (the
offer declares the SSRCs). Cost: one more encode per frame per layer, at a quarter (and a
sixteenth) of the pixels.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.utils import random32

from ..kernel_rtc.encoders import EncoderHook, add_encoder_hook, hooks_of
from ..kernel_rtc.quality import Quality

__all__ = ["HD_LINES", "LOW_KBPS", "MID_KBPS", "ExtraLayer", "LayerSpec", "declare_layers",
           "half_size", "layer_plan", "scaled"]

HD_LINES = 720  # frames this tall or taller go out as 3 layers, shorter ones as 2
LOW_KBPS = 150  # the low layer's bitrate ceiling: a thumbnail's worth
MID_KBPS = 500  # the mid layer's (3 layers): 640x360 for a pinned tile or a small window


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """A lower layer: frames divided by ``divisor`` in width and height, bitrate at most
    ``kbps`` and at most the high layer's cap divided by ``share``."""

    divisor: int
    kbps: int
    share: int


# lowest first, as in the SIM group; the shares follow the page's plan (top/3, top/10)
# except the 2-layer low, kept at a quarter as before
_TWO = (LayerSpec(2, LOW_KBPS, 4),)
_THREE = (LayerSpec(4, LOW_KBPS, 10), LayerSpec(2, MID_KBPS, 3))


def layer_plan(height: int | None) -> tuple[LayerSpec, ...]:
    """The lower layers for video ``height`` lines tall (None: not known yet): 2 layers in
    all, or 3 from :data:`HD_LINES` up."""
    return _THREE if height is not None and height >= HD_LINES else _TWO


def scaled(frame: Any, divisor: int) -> Any:
    """A video frame at 1/``divisor`` of its width and height (even sizes, same timing);
    anything else (an encoded packet, a frame too small to divide) as it is."""
    if not isinstance(frame, av.VideoFrame) or min(frame.width, frame.height) < 2 * divisor:
        return frame
    small = frame.reformat(width=frame.width // (2 * divisor) * 2,
                           height=frame.height // (2 * divisor) * 2, format="yuv420p")
    small.pts = frame.pts
    if frame.time_base is not None:
        small.time_base = frame.time_base
    return small


def half_size(frame: Any) -> Any:
    """A video frame at half width and height (see :func:`scaled`)."""
    return scaled(frame, 2)


class _Scaled(MediaStreamTrack):
    """``inner``'s frames divided by ``divisor`` (even sizes); encoded packets pass."""

    kind = "video"

    def __init__(self, inner: MediaStreamTrack, divisor: int) -> None:
        super().__init__()
        self.inner = inner
        self.divisor = divisor

    async def recv(self) -> Any:
        return scaled(await self.inner.recv(), self.divisor)

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


class _LayerCap(Quality):
    """A lower layer's bitrate ceiling: ``kbps``, or the high layer's cap
    (``set_quality(max_kbps=)``, read live) divided by ``share`` when that is lower."""

    def __init__(self, high: Quality | None, kbps: int = LOW_KBPS, share: int = 4) -> None:
        super().__init__()
        self.high, self.kbps, self.share = high, kbps, share

    @property
    def max_bps(self) -> int | None:
        high = self.high.max_bps if self.high is not None else None
        return min(self.kbps * 1000, high // self.share) if high else self.kbps * 1000


def _is_cap(hook: EncoderHook) -> bool:
    return getattr(hook, "__func__", None) is Quality.cap_encoder


class ExtraLayer:
    """A lower layer of ``transceiver``'s video: ``track`` (a relay of the same output as the
    transceiver's) scaled by ``spec.divisor``, encoded through ``hooks`` (default: the high
    layer's, e.g. end-to-end encryption, but its cap) and capped as ``spec`` says. Put the
    layers' SSRCs in the offer with :func:`declare_layers`."""

    def __init__(self, transceiver: RTCRtpTransceiver, track: MediaStreamTrack,
                 spec: LayerSpec, hooks: Sequence[EncoderHook] | None = None) -> None:
        self.primary = transceiver.sender
        self.spec = spec
        self.track = _Scaled(track, spec.divisor)
        high = hooks_of(self.primary)
        self.hooks = list(hooks) if hooks is not None else [h for h in high if not _is_cap(h)]
        caps = [getattr(hook, "__self__", None) for hook in high if _is_cap(hook)]
        self.ssrc = random32()
        self.quality = _LayerCap(caps[0] if caps else None, spec.kbps, spec.share)
        self.sender: RTCRtpSender | None = None
        stock_send, stock_stop = self.primary.send, self.primary.stop

        async def send(parameters: RTCRtpSendParameters) -> None:
            await stock_send(parameters)
            await self._start(parameters)

        async def stop() -> None:
            await stock_stop()
            if self.sender is not None:
                await self.sender.stop()
            else:
                self.track.stop()

        # aiortc starts and stops a transceiver's sender through these two calls (a second
        # layer wraps the first's wrappers: all start and stop together)
        self.primary.send = send  # type: ignore[method-assign]
        self.primary.stop = stop  # type: ignore[method-assign]

    async def _start(self, parameters: RTCRtpSendParameters) -> None:
        if self.sender is not None:
            return
        sender = self.sender = RTCRtpSender(self.track, self.primary.transport)
        sender._ssrc = self.ssrc  # before send(): the transport routes RTCP by it
        add_encoder_hook(sender, self.quality.cap_encoder)
        for hook in self.hooks:
            add_encoder_hook(sender, hook)
        primary = parameters.codecs[0]
        await sender.send(dataclasses.replace(parameters, codecs=[primary]))


def declare_layers(sdp: str, high: int, *lower: int) -> str:
    """Add ``a=ssrc-group:SIM <lower...> high`` (``lower`` lowest first) and the lower
    SSRCs' cname to the media section that sends ``high``. Raises ValueError if no section
    does."""
    lines = sdp.split("\r\n")
    pattern = re.compile(rf"a=ssrc:{high} cname:(\S+)$")
    found = [(i, m.group(1)) for i, line in enumerate(lines) if (m := pattern.match(line))]
    if not found:
        raise ValueError(f"no media section sends SSRC {high}")
    index, cname = found[0]
    end = index + 1  # after this section's last ssrc line
    while end < len(lines) and lines[end].startswith(("a=ssrc:", "a=ssrc-group:")):
        end += 1
    lines[end:end] = [f"a=ssrc-group:SIM {' '.join(map(str, (*lower, high)))}",
                      *(f"a=ssrc:{ssrc} cname:{cname}" for ssrc in lower)]
    return "\r\n".join(lines)
