"""Where E2EE attaches to aiortc: per sender and per receiver, never globally.

* Send: an encoder hook (``encoders.add_encoder_hook``, per sender) makes the sender's
  VP8/Opus encoder seal each whole encoded frame just before RTP packetization
  (``Vp8Encoder._packetize``; each Opus payload), on that encoder instance only.
* Receive: the receiver's jitter buffer ``add`` is wrapped on the instance. Video frames are
  opened as the buffer releases them (after the jitter buffer, before the decoder queue);
  Opus packets are opened as they enter the buffer, because the low-latency audio buffer
  may repacketize several packets into one, which only works on plain Opus. Both run on the
  engine loop: AES-GCM of a frame is microseconds (benchmarks/RESULTS.md).
* Codecs: a keyed room negotiates VP8 and Opus only; an H.264 stream is dropped with an
  error instead of being decoded as garbage.
* Signaling: each participant's announced media state carries ``"e2ee": true`` when it
  encrypts, and offers and answers of a keyed room carry it too (Janus: the JSEP flag), so a
  peer without the key drops those frames before the decoder (no ciphertext decoded as
  noise) and says ``no-key`` — in mesh and through Janus, which does not tell subscribers.

Call order in ``pc.on("track")``: after ``lowlatency.install``, which replaces the buffer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from ..media.encoders import add_encoder_hook
from ..net.hooks import MediaHooks
from .crypto import E2eeError, FrameSealer, Keyring, PeerCrypto, clear_length

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver

    from ..net.peer import RemotePeer

__all__ = ["E2eeHooks", "hooks_for", "room_keyring", "seal_encoder"]

log = logging.getLogger("zero_nb.e2ee")

_JB_ATTR = "_RTCRtpReceiver__jitter_buffer"
_CODECS_ATTR = "_RTCRtpReceiver__codecs"
_ALLOWED = {"video": ("VP8", "RTX"), "audio": ("OPUS",)}


def room_keyring(passphrase: str | None, session: str) -> Keyring | None:
    """The room's keyring for ``passphrase`` (None: no E2EE)."""
    return None if passphrase is None else Keyring.from_passphrase(passphrase, session)


# --------------------------------------------------------------------------- send


class _Refusing:
    """Stands in for an encoder E2EE cannot protect: sends nothing, still paces the track."""

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], None]:
        return [], None

    def pack(self, packet: Any) -> tuple[list[bytes], None]:
        return [], None


def _seal_vp8(encoder: Vp8Encoder, sealer: FrameSealer) -> None:
    packetize = type(encoder)._packetize  # the classmethod, bound to the class

    def sealed_packetize(buffer: bytes, picture_id: int) -> list[bytes]:
        return packetize(sealer.seal("VP8", buffer), picture_id) if buffer else []

    # an instance attribute shadows the classmethod for this encoder only; encode() and
    # pack() both call self._packetize with the whole frame
    encoder._packetize = sealed_packetize  # type: ignore[method-assign]


def _seal_opus(encoder: OpusEncoder, sealer: FrameSealer) -> None:
    encode, pack = encoder.encode, encoder.pack

    def sealed_encode(frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], Any]:
        payloads, timestamp = encode(frame, force_keyframe)
        return [sealer.seal("OPUS", p) for p in payloads], timestamp

    def sealed_pack(packet: Any) -> tuple[list[bytes], Any]:
        payloads, timestamp = pack(packet)
        return [sealer.seal("OPUS", p) for p in payloads], timestamp

    encoder.encode = sealed_encode  # type: ignore[method-assign]
    encoder.pack = sealed_pack  # type: ignore[method-assign]


def seal_encoder(encoder: Any, keyring: Keyring, report: Callable[[str], None]) -> Any:
    """An encoder hook (``encoders.add_encoder_hook``): seal every frame ``encoder`` makes.
    VP8 and Opus only; any other codec is replaced by one that sends nothing (reported)."""
    if isinstance(encoder, Vp8Encoder):
        _seal_vp8(encoder, FrameSealer(keyring))
        return encoder
    if isinstance(encoder, OpusEncoder):
        _seal_opus(encoder, FrameSealer(keyring))
        return encoder
    name = type(encoder).__name__.removesuffix("Encoder").upper()
    try:
        clear_length(name, b"")
    except E2eeError as exc:
        report(f"not sending {name}: {exc}")
    return _Refusing()


def _restrict_codecs(transceiver: RTCRtpTransceiver, kind: str) -> None:
    allowed = _ALLOWED[kind]
    caps = [c for c in RTCRtpSender.getCapabilities(kind).codecs
            if c.name.upper() in allowed]
    transceiver.setCodecPreferences(caps)


def _configure_transceiver(keyring: Keyring, room: Any, transceiver: RTCRtpTransceiver,
                           kind: str) -> None:
    """In a keyed room, negotiate VP8/Opus only and seal everything the sender encodes."""
    source = getattr(room.local_media(kind), "source", None)
    mime = str(getattr(source, "mime_type", "") or "")
    if mime and mime.split("/")[-1].upper() not in _ALLOWED[kind]:
        room.report_error(f"E2EE: {mime} from {source!r} cannot be encrypted end to end "
                          "(VP8 and Opus only): nothing is sent; use a VP8 file or a "
                          "decoded source")
        add_encoder_hook(transceiver.sender, lambda encoder: _Refusing())
        return
    _restrict_codecs(transceiver, kind)
    add_encoder_hook(transceiver.sender,
                     lambda encoder: seal_encoder(encoder, keyring, room.report_error))


# --------------------------------------------------------------------------- receive


def _crypto(peer: RemotePeer, keyring: Keyring | None) -> PeerCrypto:
    crypto: PeerCrypto | None = peer.addons.get("e2ee")
    if crypto is None:
        def report(text: str) -> None:
            peer.room.report_error(f"E2EE, {peer.name or peer.peer_id}: {text}", peer)

        crypto = peer.addons["e2ee"] = PeerCrypto(keyring, report)
    return crypto


def _wrap_receiver(receiver: RTCRtpReceiver, kind: str, crypto: PeerCrypto) -> None:
    buffer = getattr(receiver, _JB_ATTR)
    if getattr(buffer, "_zero_nb_e2ee", False):
        return
    inner_add = buffer.add
    codecs: dict[int, Any] = getattr(receiver, _CODECS_ATTR)  # filled in place later

    def codec_of(packet: Any) -> str:
        codec = codecs.get(packet.payload_type)
        return "" if codec is None else str(codec.name)

    def add_audio(packet: Any) -> tuple[bool, Any]:
        plain = crypto.open("audio", codec_of(packet), packet._data)
        if plain is None:
            return False, None
        packet._data = plain
        return inner_add(packet)  # type: ignore[no-any-return]

    def add_video(packet: Any) -> tuple[bool, Any]:
        pli, frame = inner_add(packet)
        if frame is not None:
            plain = crypto.open("video", codec_of(packet), frame.data)
            if plain is None:
                return pli, None
            frame.data = plain
        return pli, frame

    buffer.add = add_video if kind == "video" else add_audio
    buffer._zero_nb_e2ee = True


class E2eeHooks(MediaHooks):
    """The E2EE add-on on a room's media paths. With ``keyring`` None (no passphrase) it
    still notes who encrypts, so a keyless receiver drops sealed frames and says so."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring

    def configure_transceiver(self, host: Any, transceiver: Any, kind: str) -> None:
        if self.keyring is not None:
            _configure_transceiver(self.keyring, host, transceiver, kind)

    def on_track(self, peer: Any, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        """Open (or drop) ``peer``'s frames when E2EE is in play."""
        crypto = _crypto(peer, self.keyring)
        if not crypto.active:
            return
        for transceiver in pc.getTransceivers():
            if transceiver.receiver.track is track:
                _wrap_receiver(transceiver.receiver, track.kind, crypto)

    def outgoing(self, message: dict[str, Any]) -> dict[str, Any]:
        """Flag an offer/answer (or a Janus JSEP) of a keyed room with ``"e2ee": true``."""
        if self.keyring is not None:
            message["e2ee"] = True
        return message

    def incoming(self, peer: Any, message: dict[str, Any] | None) -> None:
        """Remember whether ``peer``'s offer/answer (or Janus JSEP) says it encrypts."""
        if message is not None and message.get("type") in ("offer", "answer"):
            _crypto(peer, self.keyring).remote_e2ee = bool(message.get("e2ee"))

    def announced(self, peer: Any, encrypts: bool) -> None:
        """``peer``'s media state says whether it encrypts: without the key its frames are
        dropped from now on, on the receivers it already has too."""
        crypto = _crypto(peer, self.keyring)
        if crypto.announced == encrypts:
            return
        crypto.announced = encrypts
        pc = peer.pc
        if crypto.active and pc is not None:
            for transceiver in pc.getTransceivers():
                track = transceiver.receiver.track
                if track is not None:
                    _wrap_receiver(transceiver.receiver, track.kind, crypto)

    def status(self, peer: Any) -> str | None:
        """"ok", "no-key", "wrong-key", or None (no E2EE frame seen)."""
        crypto: PeerCrypto | None = peer.addons.get("e2ee")
        if crypto is None:
            return None
        if crypto.state is None:
            # it says it encrypts and we have no key: known before (or without) any frame
            return "no-key" if crypto.keyring is None and crypto.announced else None
        return crypto.state.value

    def counters(self, peer: Any, kind: str) -> dict[str, Any]:
        """State and dropped frames (empty when E2EE is not in play)."""
        crypto: PeerCrypto | None = peer.addons.get("e2ee")
        return {} if crypto is None or not crypto.active else crypto.counters(kind)


def hooks_for(passphrase: str | None, session: str) -> E2eeHooks:
    """The room's E2EE hooks once its session is known (the key is salted with it)."""
    return E2eeHooks(room_keyring(passphrase, session))
