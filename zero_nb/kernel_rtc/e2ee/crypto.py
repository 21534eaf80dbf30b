"""End-to-end encryption of encoded media frames (format: ``docs/e2ee.md``).

Each encoded frame (a whole VP8 frame, one Opus packet) is sealed with AES-GCM after the
encoder and before RTP packetization, and opened after the jitter buffer and before the
decoder, so SFUs, TURN relays and the signaling server only ever carry ciphertext::

    clear codec header | ciphertext | GCM tag (16) | IV (12) | key id (1)

The codec header stays in clear (VP8: 10 bytes on keyframes, 3 on delta frames; Opus: the
TOC byte) and is authenticated as associated data. The IV is a random 8-byte prefix drawn
per sending encoder plus a 4-byte frame counter.

The pure part (:func:`derive_key`, :class:`Keyring`, :class:`FrameSealer`,
:func:`open_frame`) has no WebRTC in it; the hooks below it attach to aiortc per sender
and per receiver (never globally, so rooms without E2EE are untouched).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import struct
import threading
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...errors import MediaError

__all__ = [
    "CODECS",
    "E2eeError",
    "FrameAuthError",
    "FrameSealer",
    "Keyring",
    "PeerCrypto",
    "State",
    "clear_length",
    "derive_key",
    "open_frame",
]

log = logging.getLogger("zero_nb.e2ee")

SALT_PREFIX = b"zero_nb/e2ee/v1/"
PBKDF2_ITERATIONS = 100_000
KEY_BYTES = 32  # AES-256
TAG_BYTES = 16
IV_BYTES = 12
PREFIX_BYTES = 8  # random per sending encoder
TRAILER_BYTES = IV_BYTES + 1  # IV, key id
OVERHEAD = TAG_BYTES + TRAILER_BYTES
KEEP_OLD_KEYS = 4  # after a rotation, frames under the previous keys still open
CODECS = ("VP8", "OPUS")


class E2eeError(MediaError):
    """End-to-end encryption cannot protect this media (codec, key, format)."""


class FrameAuthError(E2eeError):
    """A frame did not authenticate: another key, tampered, or not encrypted at all."""


class State(str, enum.Enum):
    """``peer.e2ee``: what happens to a peer's encrypted frames here."""

    OK = "ok"
    NO_KEY = "no-key"
    WRONG_KEY = "wrong-key"


# --------------------------------------------------------------------------- pure frame crypto


def derive_key(passphrase: str, session: str) -> bytes:
    """The 32-byte frame key: PBKDF2-HMAC-SHA256 of ``passphrase``, salted with ``session``."""
    if not passphrase:
        raise E2eeError("the E2EE passphrase is empty: pass e2ee='a shared secret' or leave it "
                        "out for no end-to-end encryption")
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), SALT_PREFIX + session.encode(),
                               PBKDF2_ITERATIONS, KEY_BYTES)


class Keyring:
    """Frame keys by key id; seals with the current one, opens with any kept one."""

    def __init__(self, key: bytes, key_id: int = 0) -> None:
        self._keys: dict[int, AESGCM] = {}
        self._lock = threading.Lock()
        self.key_id = 0
        self._raw = b""
        self.set_key(key, key_id)

    @classmethod
    def from_passphrase(cls, passphrase: str, session: str, key_id: int = 0) -> Keyring:
        return cls(derive_key(passphrase, session), key_id)

    def set_key(self, key: bytes, key_id: int) -> None:
        """Rotate: seal with ``key`` under ``key_id`` (0-255) from now on."""
        if not 0 <= key_id <= 255 or len(key) not in (16, 24, 32):
            raise E2eeError("a key id is 0-255 and an AES key 16, 24 or 32 bytes")
        with self._lock:
            self._keys.pop(key_id, None)
            self._keys[key_id] = AESGCM(key)
            self._raw = key  # the Conference hands it to its own page (a watching browser)
            while len(self._keys) > KEEP_OLD_KEYS + 1:
                del self._keys[next(iter(self._keys))]
            self.key_id = key_id

    def current(self) -> tuple[int, AESGCM]:
        with self._lock:
            return self.key_id, self._keys[self.key_id]

    def current_key(self) -> tuple[int, bytes]:
        """The sealing key id and raw key: for the notebook's own browser, which opens what
        it receives from the SFU itself (zero_nb/widgets/conference.py)."""
        with self._lock:
            return self.key_id, self._raw

    def get(self, key_id: int) -> AESGCM | None:
        with self._lock:
            return self._keys.get(key_id)


def clear_length(codec: str, frame: bytes) -> int:
    """Bytes of ``frame`` left in clear: the codec header an SFU may read."""
    name = codec.upper()
    if name == "VP8":
        # VP8 frame tag bit 0 is the inverse keyframe flag (RFC 6386 section 9.1): a keyframe
        # keeps tag + start code + dimensions (10 bytes) readable, a delta frame its tag (3).
        return 10 if frame and not frame[0] & 1 else 3
    if name == "OPUS":
        return 1  # the TOC byte
    raise E2eeError(f"{codec} frames cannot be end-to-end encrypted here: E2EE supports VP8 "
                    "video and Opus audio (H.264 is refused; choose VP8)")


class FrameSealer:
    """Seals one sender's frames; its IVs never repeat (random prefix + counter)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._prefix = os.urandom(PREFIX_BYTES)
        self._counter = 0
        self.frames = 0

    def _next_iv(self) -> bytes:
        if self._counter > 0xFFFFFFFF:  # 4.5 years at 30 fps; never reuse an IV
            self._prefix, self._counter = os.urandom(PREFIX_BYTES), 0
        iv = self._prefix + struct.pack(">I", self._counter)
        self._counter += 1
        return iv

    def seal(self, codec: str, frame: bytes) -> bytes:
        """``frame`` sealed in the zero_nb frame format (see the module docstring)."""
        clear = clear_length(codec, frame)
        if len(frame) <= clear:
            clear = len(frame)
        key_id, aead = self.keyring.current()
        iv = self._next_iv()
        head = frame[:clear]
        self.frames += 1
        return b"".join((head, aead.encrypt(iv, frame[clear:], head), iv, bytes([key_id])))


def open_frame(keyring: Keyring, codec: str, data: bytes) -> bytes:
    """The plain frame inside ``data``; raises :class:`FrameAuthError` if it does not open."""
    if len(data) < OVERHEAD:
        raise FrameAuthError("frame shorter than the E2EE trailer: not encrypted")
    clear = min(clear_length(codec, data), len(data) - OVERHEAD)
    key_id = data[-1]
    aead = keyring.get(key_id)
    if aead is None:
        raise FrameAuthError(f"no key with id {key_id}")
    iv = data[-TRAILER_BYTES:-1]
    head = data[:clear]
    try:
        return head + aead.decrypt(iv, data[clear:-TRAILER_BYTES], head)
    except InvalidTag:
        raise FrameAuthError("frame does not authenticate with this key") from None


# --------------------------------------------------------------------------- per-peer state


class PeerCrypto:
    """One remote peer's E2EE receive state and per-kind counters (``peer.e2ee``, stats)."""

    def __init__(self, keyring: Keyring | None, report: Callable[[str], None]) -> None:
        self.keyring = keyring
        self.remote_e2ee = False  # its offer/answer (or Janus JSEP) says that it encrypts
        self.announced = False  # its media state (signaling) says that it encrypts
        self.opened = {"video": 0, "audio": 0}
        self.dropped = {"video": 0, "audio": 0}
        self.state: State | None = None
        self._report = report
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether this peer's frames go through :meth:`open` at all."""
        return self.keyring is not None or self.remote_e2ee or self.announced

    def open(self, kind: str, codec: str, data: bytes) -> bytes | None:
        """The plain frame, or None when it must be dropped (counted)."""
        if not data:
            return data  # nothing to protect (empty payload)
        if self.keyring is None:
            self._drop(kind, State.NO_KEY, "encrypted media and no key: join with "
                       "e2ee='the passphrase' to see it")
            return None
        try:
            plain = open_frame(self.keyring, codec, data)
        except FrameAuthError as exc:
            self._drop(kind, State.WRONG_KEY, f"{exc}: a different passphrase, or the peer "
                       "does not encrypt; its frames are dropped")
            return None
        except E2eeError as exc:  # a codec E2EE cannot carry (H.264)
            self._drop(kind, State.WRONG_KEY, f"{exc}; its frames are dropped")
            return None
        with self._lock:
            self.opened[kind] += 1
            self.state = State.OK
        return plain

    def _drop(self, kind: str, state: State, why: str) -> None:
        with self._lock:
            self.dropped[kind] += 1
            changed, self.state = self.state is not state, state
        if changed:
            self._report(why)

    def counters(self, kind: str) -> dict[str, Any]:
        """Stats fields for received ``kind``."""
        return {"e2ee": None if self.state is None else self.state.value,
                "e2ee_dropped": self.dropped[kind]}
