"""Per-sender encoder hooks: wrap the encoder aiortc makes for one ``RTCRtpSender``.

aiortc creates a sender's encoder lazily from the negotiated codec and offers no hook to
change it (no ``setParameters``, no frame transform). Quality caps and end-to-end encryption
both need one, for *some* senders only, so a sender carries a list of hooks; when aiortc is
about to make that sender's encoder we make it instead and pass it through the hooks. Senders
without hooks are untouched. aiortc keeps the encoder in a name-mangled attribute, so the
versions this works with are pinned in pyproject.toml and checked at install time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.codecs import get_encoder

__all__ = ["EncoderHook", "add_encoder_hook", "encoder_of", "hooks_of", "replace_encoder_hook"]

EncoderHook = Callable[[Any], Any]
"""``hook(encoder) -> encoder``: return the encoder to use (wrapped, or as is for a codec the
hook does not handle; tell codecs apart by the encoder's class)."""

_ATTR = "_RTCRtpSender__encoder"  # aiortc 1.14-1.16: where the sender keeps its encoder
_hooks: weakref.WeakKeyDictionary[RTCRtpSender, list[EncoderHook]] = (
    weakref.WeakKeyDictionary())
_stock_next_encoded_frame = RTCRtpSender._next_encoded_frame


async def _next_encoded_frame(self: RTCRtpSender, codec: Any) -> Any:
    hooks = _hooks.get(self)
    if hooks and getattr(self, _ATTR, None) is None:
        encoder = get_encoder(codec)
        for hook in hooks:
            encoder = hook(encoder)
        setattr(self, _ATTR, encoder)
    return await _stock_next_encoded_frame(self, codec)


def _check() -> None:
    if _ATTR not in RTCRtpSender.__init__.__code__.co_names:
        raise ImportError("aiortc's RTCRtpSender no longer keeps __encoder: encoder hooks "
                          "need the aiortc versions pinned in pyproject.toml")


_check()
RTCRtpSender._next_encoded_frame = _next_encoded_frame  # type: ignore[method-assign]


def add_encoder_hook(sender: RTCRtpSender, hook: EncoderHook) -> None:
    """Pass ``sender``'s encoder through ``hook`` when aiortc makes it (or now, if made)."""
    _hooks.setdefault(sender, []).append(hook)
    current = getattr(sender, _ATTR, None)
    if current is not None:  # already encoding: wrap in place (next frame uses it)
        setattr(sender, _ATTR, hook(current))


def encoder_of(sender: RTCRtpSender) -> Any:
    """The encoder ``sender`` uses now, or None before its first frame."""
    return getattr(sender, _ATTR, None)


def hooks_of(sender: RTCRtpSender) -> list[EncoderHook]:
    """The hooks ``sender``'s encoder goes through, in order (a copy)."""
    return list(_hooks.get(sender, ()))


def replace_encoder_hook(sender: RTCRtpSender, old: EncoderHook, new: EncoderHook) -> None:
    """Use ``new`` where ``sender`` had ``old`` (for the encoder aiortc makes next: call it
    before the first frame)."""
    hooks = _hooks.get(sender, [])
    hooks[hooks.index(old)] = new
