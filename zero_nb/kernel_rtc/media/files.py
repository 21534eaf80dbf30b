"""``sources.from_file``: a file played decoded (:mod:`.sources`) or sent as it is
(:mod:`.encoded`)."""

from __future__ import annotations

from pathlib import Path

from .encoded import encoded_from_file
from .sources import AudioSource, VideoSource, decoded_from_file

__all__ = ["from_file"]


def from_file(path: str | Path, *, loop: bool = False, encoded: bool = False
              ) -> tuple[VideoSource | None, AudioSource | None]:
    """``(video, audio)`` sources playing a media file (either may be None); ``loop=True``
    repeats it; ``encoded=True`` sends its VP8/H.264/Opus packets unchanged (no decode, no
    encode: :mod:`.encoded`). Use as ``zero_nb.join(..., video=v, audio=a)``."""
    if encoded:
        return encoded_from_file(path, loop=loop)
    return decoded_from_file(path, loop=loop)
