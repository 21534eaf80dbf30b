"""The aiortc adapter: every aiortc and aioice internal zero_nb touches, in one module.

aiortc has no hook for what the engine needs (an encoder per sender, a jitter buffer per
receiver, an allow-list of host candidates, a second SSRC on one transceiver), so those
parts reach into private names. They are all here, behind one version check against the
range pinned in ``pyproject.toml`` (:data:`SUPPORTED`); no other module imports an aiortc
submodule outside aiortc's public top level, nor aioice (``tests/unit/test_aiortc.py``).

Failure policy, one per feature:

=========================  ==========================================  =====================
feature                    internals                                   unsupported aiortc
=========================  ==========================================  =====================
any (version outside the   ``aiortc.__version__``, aioice's            error at import:
pinned range)                                                          :class:`UnsupportedAiortc`
encoder hooks: quality     ``RTCRtpSender.__encoder``,                 error at import
caps, E2EE sealing,        ``_next_encoded_frame``, the encoders'
simulcast layers           ``__target_bitrate``, ``Vp8Encoder._packetize``
ICE host allow-list        ``aioice.ice.get_host_addresses``           error at import
TURN probe (relay.py)      aioice's ``create_turn_endpoint``, STUN     error at import
                           errors, ``parse_stun_turn_uri``
simulcast layers (SFU)     ``RTCRtpSender._ssrc``, ``send``/``stop``   error at import
E2EE receive               ``RTCRtpReceiver.__jitter_buffer``,         error at import
                           ``__codecs``, ``RtpPacket._data``
low-latency receive path   the receiver's jitter buffer, ``__kind``,   off, one warning
                           ``JitterBuffer`` internals                  (:data:`LOW_LATENCY_PROBLEM`)
no REMB estimate on SFU    ``RTCRtpReceiver.__remote_bitrate_``        off, one warning
subscriptions              ``estimator``                               (:data:`REMB_SKIP_PROBLEM`)
=========================  ==========================================  =====================

The last two are optimisations (stock aiortc still plays, one frame later, or spends more
CPU); every other feature changes what is sent or who may read it, so it must not quietly
stop.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from collections.abc import Callable
from typing import Any

import aioice.ice
from aioice.stun import TransactionFailed, TransactionTimeout
from aioice.turn import create_turn_endpoint
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import get_encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.contrib.media import MediaRelay
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcicetransport import parse_stun_turn_uri
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import RtpPacket
from aiortc.sdp import candidate_from_sdp
from aiortc.utils import random32

from ..errors import MediaError

__all__ = [
    "AIORTC_VERSION",
    "LOW_LATENCY_PROBLEM",
    "REMB_SKIP_PROBLEM",
    "SUPPORTED",
    "H264Encoder",
    "JitterBuffer",
    "JitterFrame",
    "MediaRelay",
    "OpusEncoder",
    "RTCRtpSendParameters",
    "RtpPacket",
    "TransactionFailed",
    "TransactionTimeout",
    "UnsupportedAiortc",
    "Vp8Encoder",
    "candidate_from_sdp",
    "check_versions",
    "create_turn_endpoint",
    "get_encoder",
    "host_address_function",
    "install_host_address_function",
    "packet_payload",
    "parse_stun_turn_uri",
    "random32",
    "receiver_codecs",
    "receiver_jitter_buffer",
    "receiver_kind",
    "seal_vp8_frames",
    "sender_encoder",
    "sender_ssrc",
    "set_encoder_bitrate_field",
    "set_packet_payload",
    "set_receiver_jitter_buffer",
    "set_sender_encoder",
    "set_sender_ssrc",
    "skip_remb_estimate",
    "warn_once",
    "wrap_encoder_creation",
]

SUPPORTED = {"aiortc": ((1, 14), (1, 17)), "aioice": ((0, 10), (0, 14))}
"""``{package: (lowest, first unsupported)}``: the ranges pinned in pyproject.toml."""

AIORTC_VERSION = importlib.metadata.version("aiortc")

_SENDER_ENCODER = "_RTCRtpSender__encoder"
_RECEIVER_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RECEIVER_KIND = "_RTCRtpReceiver__kind"
_RECEIVER_CODECS = "_RTCRtpReceiver__codecs"
_RECEIVER_REMB = "_RTCRtpReceiver__remote_bitrate_estimator"

log = logging.getLogger("zero_nb.aiortc")


class UnsupportedAiortc(MediaError, ImportError):
    """The installed aiortc (or aioice) is not one zero_nb's media engine works with."""


def _parse(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def check_versions(versions: dict[str, str]) -> None:
    """Raise :class:`UnsupportedAiortc` naming any ``{package: version}`` outside
    :data:`SUPPORTED`."""
    for package, version in versions.items():
        low, high = SUPPORTED[package]
        parsed = _parse(version)
        if parsed is None or not low <= parsed < high:
            raise UnsupportedAiortc(
                f"{package} {version} is installed; zero_nb's media engine needs "
                f"{package}>={low[0]}.{low[1]},<{high[0]}.{high[1]} (it uses {package}'s "
                f"internals): pip install '{package}>={low[0]}.{low[1]},<{high[0]}.{high[1]}'")


def _uses(cls: type, method: str, names: set[str]) -> set[str]:
    """Which of ``names`` ``cls.method``'s bytecode does not mention (name mangling is
    compile time, so mangled attributes show up there without building an object)."""
    code = getattr(getattr(cls, method, None), "__code__", None)
    return names - set(code.co_names if code is not None else ())


def _check_required() -> None:
    """What the error-policy features need, present or :class:`UnsupportedAiortc`."""
    missing = [
        f"RTCRtpSender.{m} no longer uses {sorted(n)}" for m, n in (
            ("__init__", _uses(RTCRtpSender, "__init__", {_SENDER_ENCODER, "_ssrc"})),
            ("_next_encoded_frame", _uses(RTCRtpSender, "_next_encoded_frame",
                                          {_SENDER_ENCODER})),
            ("_handle_rtp_packet", _uses(RTCRtpReceiver, "_handle_rtp_packet",
                                         {_RECEIVER_JITTER_BUFFER, _RECEIVER_CODECS})),
        ) if n]
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        missing.append("aioice.ice.get_host_addresses is gone")
    if not hasattr(Vp8Encoder, "_packetize"):
        missing.append("Vp8Encoder._packetize is gone")
    for cls in (Vp8Encoder, H264Encoder):
        if not isinstance(getattr(cls, "target_bitrate", None), property):
            missing.append(f"{cls.__name__}.target_bitrate is no property")
    if missing:
        raise UnsupportedAiortc(f"aiortc {AIORTC_VERSION} lacks what zero_nb uses: "
                                f"{'; '.join(missing)}; install the aiortc pinned in "
                                "pyproject.toml")


def _low_latency_problem() -> str | None:
    """Why the low-latency receive path cannot run on this aiortc, or None."""
    try:
        add = list(inspect.signature(JitterBuffer.add).parameters)
        if add != ["self", "packet"]:
            return f"JitterBuffer.add has signature {add}, expected (self, packet)"
        remove = list(inspect.signature(JitterBuffer._remove_frame).parameters)
        if remove != ["self", "sequence_number"]:
            return f"JitterBuffer._remove_frame has signature {remove}"
        probe = JitterBuffer(capacity=16, is_video=True)
        for name in ("_origin", "_packets", "_capacity", "_is_video", "capacity", "remove",
                     "smart_remove"):
            if not hasattr(probe, name):
                return f"aiortc JitterBuffer has no {name!r}"
        frame = JitterFrame(data=b"", timestamp=0)
        if not (hasattr(frame, "data") and hasattr(frame, "timestamp")):
            return "aiortc JitterFrame lacks data/timestamp"
        if lacking := _uses(RTCRtpReceiver, "__init__", {_RECEIVER_JITTER_BUFFER,
                                                         _RECEIVER_KIND}):
            return f"RTCRtpReceiver.__init__ no longer uses {sorted(lacking)}"
        if lacking := _uses(RTCRtpReceiver, "receive", {_RECEIVER_CODECS}):
            return f"RTCRtpReceiver.receive no longer uses {sorted(lacking)}"
    except Exception as exc:  # any surprise means "do not patch"
        return f"cannot inspect aiortc internals ({type(exc).__name__}: {exc})"
    return None


check_versions({"aiortc": AIORTC_VERSION, "aioice": importlib.metadata.version("aioice")})
_check_required()

LOW_LATENCY_PROBLEM: str | None = _low_latency_problem()
"""Why the low-latency receive path is off (it warns once), or None: it can run."""

REMB_SKIP_PROBLEM: str | None = (
    f"RTCRtpReceiver.__init__ of aiortc {AIORTC_VERSION} no longer sets {_RECEIVER_REMB}"
    if _uses(RTCRtpReceiver, "__init__", {_RECEIVER_REMB}) else None)
"""Why SFU subscriptions keep aiortc's REMB estimator (it warns once), or None."""
_warned: set[str] = set()


def warn_once(feature: str, problem: str) -> None:
    """The one warning of an optimisation that is off on this aiortc."""
    if feature not in _warned:
        _warned.add(feature)
        log.warning("%s is off: %s", feature, problem)


# --------------------------------------------------------------------------- senders


def sender_encoder(sender: RTCRtpSender) -> Any:
    """The encoder ``sender`` uses now, or None before its first frame."""
    return getattr(sender, _SENDER_ENCODER, None)


def set_sender_encoder(sender: RTCRtpSender, encoder: Any) -> None:
    setattr(sender, _SENDER_ENCODER, encoder)


def wrap_encoder_creation(make: Callable[[RTCRtpSender, Any], Any | None]) -> None:
    """Before a sender makes its encoder, ask ``make(sender, codec)`` for one (None: let
    aiortc make its own). Installed once, for every sender."""
    stock = RTCRtpSender._next_encoded_frame

    async def next_encoded_frame(self: RTCRtpSender, codec: Any) -> Any:
        if sender_encoder(self) is None and (encoder := make(self, codec)) is not None:
            set_sender_encoder(self, encoder)
        return await stock(self, codec)

    RTCRtpSender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]


def sender_ssrc(sender: RTCRtpSender) -> int:
    return sender._ssrc


def set_sender_ssrc(sender: RTCRtpSender, ssrc: int) -> None:
    """Give ``sender`` this SSRC (before ``send()``: the transport routes RTCP by it)."""
    sender._ssrc = ssrc


def set_encoder_bitrate_field(encoder: Any, base: type, value: int) -> None:
    """Set what ``base.encode()`` reads for its buffer size (the encoder's private target)."""
    setattr(encoder, f"_{base.__name__}__target_bitrate", value)


def seal_vp8_frames(encoder: Vp8Encoder, seal: Callable[[bytes], bytes]) -> None:
    """Make this VP8 encoder pass each whole encoded frame through ``seal`` right before
    RTP packetization (an instance attribute shadows the classmethod for it alone)."""
    packetize = type(encoder)._packetize

    def sealed_packetize(buffer: bytes, picture_id: int) -> list[bytes]:
        return packetize(seal(buffer), picture_id) if buffer else []

    encoder._packetize = sealed_packetize  # type: ignore[method-assign]


# --------------------------------------------------------------------------- receivers


def receiver_jitter_buffer(receiver: RTCRtpReceiver) -> Any:
    return getattr(receiver, _RECEIVER_JITTER_BUFFER, None)


def set_receiver_jitter_buffer(receiver: RTCRtpReceiver, buffer: Any) -> None:
    setattr(receiver, _RECEIVER_JITTER_BUFFER, buffer)


def skip_remb_estimate(receiver: RTCRtpReceiver) -> None:
    """Stop ``receiver`` estimating bandwidth for REMB (an SFU ignores it)."""
    if REMB_SKIP_PROBLEM is not None:
        warn_once("skipping the REMB estimate of SFU subscriptions", REMB_SKIP_PROBLEM)
        return
    setattr(receiver, _RECEIVER_REMB, None)


def receiver_kind(receiver: RTCRtpReceiver) -> str | None:
    return getattr(receiver, _RECEIVER_KIND, None)


def receiver_codecs(receiver: RTCRtpReceiver) -> dict[int, Any]:
    """Payload type -> codec of ``receiver`` (filled in place by ``receive()``, after
    ``pc.on("track")``: read it at packet time)."""
    return getattr(receiver, _RECEIVER_CODECS, {})  # type: ignore[no-any-return]


def packet_payload(packet: RtpPacket) -> bytes:
    return packet._data  # type: ignore[attr-defined, no-any-return]


def set_packet_payload(packet: RtpPacket, data: bytes) -> None:
    packet._data = data  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- ICE


def host_address_function() -> Callable[..., Any]:
    """aioice's host-address enumeration as installed now."""
    return aioice.ice.get_host_addresses  # type: ignore[no-any-return]


def install_host_address_function(fn: Callable[..., Any]) -> None:
    """Make aioice enumerate host addresses with ``fn`` (every connection of the process)."""
    aioice.ice.get_host_addresses = fn
