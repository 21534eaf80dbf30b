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
caps :data:`MID_KBPS` and :data:`LOW_KBPS`). Cost: one more encode per frame per layer, at
a quarter (and a sixteenth) of the pixels.

The count follows the height sent, with no renegotiation (:class:`LayerSet`): the offer
always declares three SSRCs, and a new count only changes what each one carries. A new
offer with other SSRCs does not work with Janus (1.1.2, and master): its core shows the
VideoRoom every packet under the first SSRC it saw at that SIM position (so that a changed
camera is transparent), while the VideoRoom takes the new SSRCs from the SDP; every lower
layer then went unrecognised and subscribers froze. So the positions keep their SSRCs for
the life of the publication: low is an :class:`ExtraLayer` (half or quarter size), mid the
transceiver's own sender (full or half size), high an ExtraLayer sending only at 3 layers
(Janus serves a subscriber asking for a silent layer the best one below, as for any
2-layer publisher).
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

from ..kernel_rtc.media.encoders import (
    EncoderHook,
    add_encoder_hook,
    hooks_of,
    replace_encoder_hook,
)
from ..kernel_rtc.media.quality import Quality

__all__ = ["HD_LINES", "LOW_KBPS", "MID_KBPS", "ExtraLayer", "LayerSet", "LayerSpec",
           "declare_layers", "layer_count", "layer_plan", "scalable", "scaled"]

HD_LINES = 720  # frames this tall or taller go out as 3 layers, shorter ones as 2
LOW_KBPS = 150  # the low layer's bitrate ceiling: a thumbnail's worth
MID_KBPS = 500  # the mid layer's (3 layers): 640x360 for a pinned tile or a small window


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """A lower layer: frames divided by ``divisor`` in width and height, bitrate at most
    ``kbps`` and at most the high layer's cap divided by ``share``."""

    divisor: int  # 0: the layer sends nothing
    kbps: int | None  # None: no ceiling of its own
    share: int


# lowest first, as in the SIM group; the shares follow the page's plan (top/3, top/10)
# except the 2-layer low, kept at a quarter as before
_TWO = (LayerSpec(2, LOW_KBPS, 4),)
_THREE = (LayerSpec(4, LOW_KBPS, 10), LayerSpec(2, MID_KBPS, 3))
_FULL = LayerSpec(1, None, 1)  # the top layer: the frames and cap of the video as it is
_OFF = LayerSpec(0, None, 1)


def layer_plan(height: int | None) -> tuple[LayerSpec, ...]:
    """The lower layers for video ``height`` lines tall (None: not known yet): 2 layers in
    all, or 3 from :data:`HD_LINES` up."""
    return _THREE if height is not None and height >= HD_LINES else _TWO


def layer_count(height: int | None) -> int:
    """How many layers in all video ``height`` lines tall goes out as (see :func:`layer_plan`)."""
    return 1 + len(layer_plan(height))


def scaled(frame: Any, divisor: int) -> Any:
    """A video frame at 1/``divisor`` of its width and height (even sizes, same timing);
    anything else (an encoded packet, a frame too small to divide, a divisor of 1) as it is."""
    if not isinstance(frame, av.VideoFrame) or divisor == 1 or \
            min(frame.width, frame.height) < 2 * divisor:
        return frame
    small = frame.reformat(width=frame.width // (2 * divisor) * 2,
                           height=frame.height // (2 * divisor) * 2, format="yuv420p")
    small.pts = frame.pts
    if frame.time_base is not None:
        small.time_base = frame.time_base
    return small


class _Scaled(MediaStreamTrack):
    """``inner``'s frames divided by ``divisor`` (even sizes; 0: none pass, so the sender
    reading it sends nothing and encodes nothing); encoded packets pass. ``divisor`` may
    change at any time: the encoder starts again at the new size, with a key frame."""

    kind = "video"

    def __init__(self, inner: MediaStreamTrack, divisor: int) -> None:
        super().__init__()
        self.inner = inner
        self.divisor = divisor

    async def recv(self) -> Any:
        while True:
            frame = await self.inner.recv()
            if self.divisor:
                return scaled(frame, self.divisor)

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


class _LayerCap(Quality):
    """A lower layer's bitrate ceiling: ``kbps``, or the high layer's cap
    (``set_quality(max_kbps=)``, read live) divided by ``share`` when that is lower."""

    def __init__(self, high: Quality | None, kbps: int | None = LOW_KBPS,
                 share: int = 4) -> None:
        super().__init__()
        self.high, self.kbps, self.share = high, kbps, share

    @property
    def max_bps(self) -> int | None:
        high = self.high.max_bps if self.high is not None else None
        limits = [v for v in (self.kbps and self.kbps * 1000, high and high // self.share) if v]
        return min(limits) if limits else None

    def follow(self, spec: LayerSpec) -> None:
        self.kbps, self.share = spec.kbps, spec.share


def _is_cap(hook: EncoderHook) -> bool:
    return getattr(hook, "__func__", None) is Quality.cap_encoder


def _cap_hook(sender: RTCRtpSender) -> EncoderHook | None:
    """``sender``'s bitrate-cap hook (the user's ``set_quality``), if it has one."""
    return next((hook for hook in hooks_of(sender) if _is_cap(hook)), None)


def _quality_of(hook: EncoderHook | None) -> Quality | None:
    return getattr(hook, "__self__", None)


class ExtraLayer:
    """A lower layer of ``transceiver``'s video: ``track`` (a relay of the same output as the
    transceiver's) scaled by ``spec.divisor``, encoded through the high layer's hooks (e.g.
    end-to-end encryption) but its cap, and capped as ``spec`` says. Put the layers' SSRCs in
    the offer with :func:`declare_layers`."""

    def __init__(self, transceiver: RTCRtpTransceiver, track: MediaStreamTrack,
                 spec: LayerSpec) -> None:
        self.primary = transceiver.sender
        self.track = _Scaled(track, spec.divisor)
        self.hooks = [hook for hook in hooks_of(self.primary) if not _is_cap(hook)]
        self.ssrc = random32()
        self.quality = _LayerCap(_quality_of(_cap_hook(self.primary)), spec.kbps, spec.share)
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

    def follow(self, spec: LayerSpec) -> None:
        """Send frames and keep the bitrate as ``spec`` says from the next frame on."""
        self.track.divisor = spec.divisor
        self.quality.follow(spec)

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


def declare_layers(sdp: str, sent: int, group: Sequence[int]) -> str:
    """``sdp`` (our offer) with ``a=ssrc-group:SIM <group>`` (lowest first) and cnames for
    ``group``'s other SSRCs, in the media section that sends ``sent``. Raises ValueError if
    no section does."""
    lines = sdp.split("\r\n")
    pattern = re.compile(rf"a=ssrc:{sent} cname:(\S+)$")
    found = [(i, m.group(1)) for i, line in enumerate(lines) if (m := pattern.match(line))]
    if not found:
        raise ValueError(f"no media section sends SSRC {sent}")
    index, cname = found[0]
    end = index + 1  # after this section's last ssrc line
    while end < len(lines) and lines[end].startswith(("a=ssrc:", "a=ssrc-group:")):
        end += 1
    lines[end:end] = [f"a=ssrc-group:SIM {' '.join(map(str, group))}",
                      *(f"a=ssrc:{ssrc} cname:{cname}" for ssrc in group if ssrc != sent)]
    return "\r\n".join(lines)


class LayerSet:
    """``transceiver``'s video as three simulcast positions that keep their SSRCs (see the
    module doc): ``low`` and ``high`` are :class:`ExtraLayer` s of relays from ``relay()``,
    mid the transceiver's own sender, whose track must be ``scalable(track)``. Declare them
    with :meth:`declare` in the offer, then :meth:`follow` the sent height: 2 layers send
    half and full size (high silent), 3 send quarter, half and full."""

    def __init__(self, transceiver: RTCRtpTransceiver, relay: Any, height: int | None) -> None:
        self.primary = transceiver.sender
        track = self.primary.track
        if not isinstance(track, _Scaled):
            raise TypeError("LayerSet: give the transceiver a scalable(track)")
        self.mid_track = track
        self.low = ExtraLayer(transceiver, relay(), _TWO[0])
        self.high = ExtraLayer(transceiver, relay(), _OFF)
        # the mid position's ceiling depends on its role: the user's cap at 2 layers, the
        # mid layer's at 3 (it wraps the user's Quality and reads it live)
        cap = _cap_hook(self.primary)
        self.mid_cap = _LayerCap(_quality_of(cap), None, 1)
        if cap is not None:
            replace_encoder_hook(self.primary, cap, self.mid_cap.cap_encoder)
        else:
            add_encoder_hook(self.primary, self.mid_cap.cap_encoder)
        self.count = 0
        self.follow(height)

    @property
    def ssrcs(self) -> tuple[int, int, int]:
        return self.low.ssrc, self.primary._ssrc, self.high.ssrc

    def top_sender(self) -> RTCRtpSender | None:
        """The sender of the full-size layer (None: not started)."""
        return self.high.sender if self.count == 3 else self.primary

    def declare(self, sdp: str) -> str:
        """``sdp`` with the three positions' SIM group (see :func:`declare_layers`)."""
        return declare_layers(sdp, self.primary._ssrc, self.ssrcs)

    def follow(self, height: int | None) -> bool:
        """Send as many layers as ``height`` lines call for (None: keep the count, or 2 at
        first); True if the count changed. No signaling: each sender resizes on its next
        frame (a key frame), the high one starts or stops."""
        if height is None and self.count:
            return False
        if layer_count(height) == self.count:
            return False
        self.count = layer_count(height)
        plan = layer_plan(height)
        mid = plan[1] if self.count == 3 else _FULL
        self.low.follow(plan[0])
        self.mid_track.divisor = mid.divisor
        self.mid_cap.follow(mid)
        self.high.follow(_FULL if self.count == 3 else _OFF)
        return True


def scalable(track: MediaStreamTrack) -> MediaStreamTrack:
    """``track`` as the mid position of a :class:`LayerSet` (full size until told)."""
    return _Scaled(track, 1)
