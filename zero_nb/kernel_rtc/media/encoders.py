"""Per-sender encoder hooks: wrap the encoder aiortc makes for one ``RTCRtpSender``.

aiortc creates a sender's encoder lazily from the negotiated codec and offers no hook to
change it (no ``setParameters``, no frame transform). Quality caps and end-to-end encryption
both need one, for *some* senders only, so a sender carries a list of hooks; when aiortc is
about to make that sender's encoder we make it instead and pass it through the hooks. Senders
without hooks are untouched. aiortc keeps the encoder in a name-mangled attribute, reached
through the aiortc adapter (``kernel_rtc._aiortc``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender

from .. import _aiortc

__all__ = ["EncoderHook", "add_encoder_hook", "encoder_of", "hooks_of", "replace_encoder_hook"]

EncoderHook = Callable[[Any], Any]
"""``hook(encoder) -> encoder``: return the encoder to use (wrapped, or as is for a codec the
hook does not handle; tell codecs apart by the encoder's class)."""

_hooks: weakref.WeakKeyDictionary[RTCRtpSender, list[EncoderHook]] = (
    weakref.WeakKeyDictionary())


def _make_encoder(sender: RTCRtpSender, codec: Any) -> Any:
    hooks = _hooks.get(sender)
    if not hooks:
        return None  # aiortc makes its own
    encoder = _aiortc.get_encoder(codec)
    for hook in hooks:
        encoder = hook(encoder)
    return encoder


_aiortc.wrap_encoder_creation(_make_encoder)


def add_encoder_hook(sender: RTCRtpSender, hook: EncoderHook) -> None:
    """Pass ``sender``'s encoder through ``hook`` when aiortc makes it (or now, if made)."""
    _hooks.setdefault(sender, []).append(hook)
    current = _aiortc.sender_encoder(sender)
    if current is not None:  # already encoding: wrap in place (next frame uses it)
        _aiortc.set_sender_encoder(sender, hook(current))


def encoder_of(sender: RTCRtpSender) -> Any:
    """The encoder ``sender`` uses now, or None before its first frame."""
    return _aiortc.sender_encoder(sender)


def hooks_of(sender: RTCRtpSender) -> list[EncoderHook]:
    """The hooks ``sender``'s encoder goes through, in order (a copy)."""
    return list(_hooks.get(sender, ()))


def replace_encoder_hook(sender: RTCRtpSender, old: EncoderHook, new: EncoderHook) -> None:
    """Use ``new`` where ``sender`` had ``old`` (for the encoder aiortc makes next: call it
    before the first frame)."""
    hooks = _hooks.get(sender, [])
    hooks[hooks.index(old)] = new
