"""Simulcast from a kernel: a half-size second layer on the connection published to Janus.

aiortc sends one encoding per sender and has no simulcast (aiortc issue #676). Janus also
takes legacy SSRC simulcast: the offer lists the layers' SSRCs, lowest first, in an
``a=ssrc-group:SIM`` line. So next to the transceiver's own sender (the high layer) a second
``RTCRtpSender`` on the same DTLS transport sends a half-size copy of the same frames under
its own SSRC; it starts when the first starts (same codec, header extensions and mid; no RTX)
and stops with it. aiortc routes RTCP by SSRC, so Janus' keyframe requests and NACKs for the
low layer reach the low sender. Subscribers then pick a layer with ``configure`` as for a
browser. Cost: one more encode per frame at a quarter of the pixels.
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

__all__ = ["LOW_KBPS", "LowLayer", "declare_layers", "half_size"]

LOW_KBPS = 150  # the low layer's bitrate ceiling: a thumbnail's worth


def half_size(frame: Any) -> Any:
    """A video frame at half width and height (even sizes, same timing); anything else
    (an encoded packet, a tiny frame) as it is."""
    if not isinstance(frame, av.VideoFrame) or frame.width < 4 or frame.height < 4:
        return frame
    small = frame.reformat(width=frame.width // 4 * 2, height=frame.height // 4 * 2,
                           format="yuv420p")
    small.pts, small.time_base = frame.pts, frame.time_base
    return small


class _HalfSize(MediaStreamTrack):
    """``inner``'s frames at half width and height (even sizes); encoded packets pass."""

    kind = "video"

    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self.inner = inner

    async def recv(self) -> Any:
        return half_size(await self.inner.recv())

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


class _LowCap(Quality):
    """The low layer's bitrate ceiling: :data:`LOW_KBPS`, or a quarter of the high layer's
    cap (``set_quality(max_kbps=)``, read live) when that is lower."""

    def __init__(self, high: Quality | None) -> None:
        super().__init__()
        self.high = high

    @property
    def max_bps(self) -> int | None:
        high = self.high.max_bps if self.high is not None else None
        return min(LOW_KBPS * 1000, high // 4) if high else LOW_KBPS * 1000


class LowLayer:
    """The low layer of ``transceiver``'s video: ``track`` (a relay of the same output as the
    transceiver's) at half size, encoded through ``hooks`` (default: the high layer's, e.g.
    end-to-end encryption) and capped at :data:`LOW_KBPS` (or a quarter of the high layer's
    cap). Call :meth:`declare` on the offer sent to Janus."""

    def __init__(self, transceiver: RTCRtpTransceiver, track: MediaStreamTrack,
                 hooks: Sequence[EncoderHook] | None = None) -> None:
        self.primary = transceiver.sender
        self.track = _HalfSize(track)
        high = hooks_of(self.primary)
        # by default the high layer's hooks (end-to-end encryption...) but its bitrate cap
        self.hooks = list(hooks) if hooks is not None else [
            hook for hook in high if getattr(hook, "__func__", None) is not Quality.cap_encoder]
        caps = [getattr(hook, "__self__", None) for hook in high
                if getattr(hook, "__func__", None) is Quality.cap_encoder]
        self.ssrc = random32()
        self.quality = _LowCap(caps[0] if caps else None)
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

        # aiortc starts and stops a transceiver's sender through these two calls
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

    def declare(self, sdp: str) -> str:
        """``sdp`` (our offer) with both layers in one SIM group."""
        return declare_layers(sdp, self.primary._ssrc, self.ssrc)


def declare_layers(sdp: str, high: int, low: int) -> str:
    """Add ``a=ssrc-group:SIM low high`` and the low SSRC's cname to the media section that
    sends ``high``. Raises ValueError if no section does."""
    lines = sdp.split("\r\n")
    pattern = re.compile(rf"a=ssrc:{high} cname:(\S+)$")
    found = [(i, m.group(1)) for i, line in enumerate(lines) if (m := pattern.match(line))]
    if not found:
        raise ValueError(f"no media section sends SSRC {high}")
    index, cname = found[0]
    end = index + 1  # after this section's last ssrc line
    while end < len(lines) and lines[end].startswith(("a=ssrc:", "a=ssrc-group:")):
        end += 1
    lines[end:end] = [f"a=ssrc-group:SIM {low} {high}", f"a=ssrc:{low} cname:{cname}"]
    return "\r\n".join(lines)
