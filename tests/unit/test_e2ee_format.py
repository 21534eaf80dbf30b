"""Frame crypto of zero_nb.kernel_rtc.e2ee.crypto: pure, no sockets."""

from __future__ import annotations

import contextlib
import fractions

import av
import numpy as np
import pytest

from zero_nb.errors import MediaError
from zero_nb.kernel_rtc.e2ee.crypto import (
    OVERHEAD,
    E2eeError,
    FrameAuthError,
    FrameSealer,
    Keyring,
    PeerCrypto,
    State,
    clear_length,
    derive_key,
    open_frame,
)


def _vp8_frames(count: int = 3) -> list[bytes]:
    """Real libvpx frames: the first is a keyframe, the rest delta frames."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.options = {"deadline": "realtime", "lag-in-frames": "0"}
    out = []
    for i in range(count):
        rgb = np.full((48, 64, 3), (200, 30 * i, 40), np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in codec.encode(frame)]
    return out


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return Keyring.from_passphrase("correct horse", "lab")


def test_key_is_salted_with_the_session() -> None:
    """The same passphrase gives different keys in different sessions."""
    assert derive_key("pw", "a") == derive_key("pw", "a")
    assert derive_key("pw", "a") != derive_key("pw", "b")
    assert len(derive_key("pw", "a")) == 32


def test_empty_passphrase_refused() -> None:
    """An empty passphrase is an error that says what to do."""
    with pytest.raises(E2eeError, match="passphrase is empty"):
        derive_key("", "lab")


def test_round_trip_vp8_and_opus(keyring: Keyring) -> None:
    """Sealed frames open to the same bytes, for VP8 and Opus."""
    sealer = FrameSealer(keyring)
    for codec, frame in [("VP8", f) for f in _vp8_frames()] + [("OPUS", b"\x78" + bytes(80))]:
        sealed = sealer.seal(codec, frame)
        assert len(sealed) == len(frame) + OVERHEAD
        assert open_frame(keyring, codec, sealed) == frame


def test_keyframe_and_delta_clear_bytes(keyring: Keyring) -> None:
    """VP8 keyframes keep 10 bytes (start code 9d 01 2a readable), delta frames 3, Opus 1."""
    key, delta, _ = _vp8_frames()
    assert clear_length("VP8", key) == 10 and key[3:6] == b"\x9d\x01\x2a"
    assert clear_length("VP8", delta) == 3
    sealer = FrameSealer(keyring)
    sealed_key, sealed_delta = sealer.seal("VP8", key), sealer.seal("VP8", delta)
    assert sealed_key[:10] == key[:10] and sealed_key[10:20] != key[10:20]
    assert sealed_delta[:3] == delta[:3] and sealed_delta[3:13] != delta[3:13]
    opus = b"\xfc" + bytes(range(60))
    sealed_opus = sealer.seal("OPUS", opus)
    assert sealed_opus[:1] == b"\xfc" and sealed_opus[1:61] != opus[1:]


def test_wrong_key_and_tamper_fail(keyring: Keyring) -> None:
    """Another passphrase, a flipped ciphertext bit or a changed clear header do not open."""
    frame = _vp8_frames(1)[0]
    sealed = FrameSealer(keyring).seal("VP8", frame)
    other = Keyring.from_passphrase("wrong horse", "lab")
    with pytest.raises(FrameAuthError):
        open_frame(other, "VP8", sealed)
    body = bytearray(sealed)
    body[20] ^= 1
    with pytest.raises(FrameAuthError):
        open_frame(keyring, "VP8", bytes(body))
    head = bytearray(sealed)
    head[6] ^= 1  # width byte: in clear but authenticated
    with pytest.raises(FrameAuthError):
        open_frame(keyring, "VP8", bytes(head))
    with pytest.raises(FrameAuthError):
        open_frame(keyring, "VP8", frame)  # a plain frame is not accepted either


def test_ivs_unique_across_senders_and_frames(keyring: Keyring) -> None:
    """Each sender draws its own IV prefix; its counter never repeats an IV."""
    ivs = set()
    for _ in range(20):
        sealer = FrameSealer(keyring)
        for _ in range(50):
            ivs.add(sealer.seal("OPUS", b"\x78abc")[-13:-1])
    assert len(ivs) == 20 * 50


def test_key_rotation_keeps_recent_keys() -> None:
    """After a rotation frames use the new key id; frames under the old one still open."""
    ring = Keyring(derive_key("one", "s"), 0)
    old = FrameSealer(ring).seal("OPUS", b"\x78old")
    ring.set_key(derive_key("two", "s"), 1)
    new = FrameSealer(ring).seal("OPUS", b"\x78new")
    assert new[-1] == 1 and old[-1] == 0
    assert open_frame(ring, "OPUS", old) == b"\x78old"
    assert open_frame(ring, "OPUS", new) == b"\x78new"


def test_h264_refused() -> None:
    """H.264 cannot be protected: the error names VP8 as the way out."""
    with pytest.raises(E2eeError, match="choose VP8"):
        clear_length("H264", b"\x00\x00\x00\x01")
    assert issubclass(E2eeError, MediaError)


def test_peer_state_and_counts(keyring: Keyring) -> None:
    """Receive state: ok, wrong-key, no-key; dropped frames are counted and reported once."""
    reports: list[str] = []
    sealed = FrameSealer(keyring).seal("OPUS", b"\x78hello")
    good = PeerCrypto(keyring, reports.append)
    assert good.open("audio", "OPUS", sealed) == b"\x78hello" and good.state is State.OK
    wrong = PeerCrypto(Keyring.from_passphrase("nope", "lab"), reports.append)
    for _ in range(3):
        assert wrong.open("audio", "OPUS", sealed) is None
    assert wrong.state is State.WRONG_KEY and wrong.dropped["audio"] == 3
    nokey = PeerCrypto(None, reports.append)
    assert nokey.open("video", "VP8", sealed) is None and nokey.state is State.NO_KEY
    assert len(reports) == 2  # one per state change, not per frame


def test_sealing_vp8_encoder_packets_open_and_decode(keyring: Keyring) -> None:
    """The sender hook's VP8 encoder: its RTP payloads, depacketized and opened with the
    key, decode to the source colour; unopened, they never do (libvpx mostly refuses them)."""
    from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

    from zero_nb.kernel_rtc.e2ee.rtc import seal_encoder

    encoder = seal_encoder(Vp8Encoder(), keyring, print)
    assert Vp8Encoder._packetize(b"x" * 10, 1) != encoder._packetize(b"x" * 10, 1)
    codec = av.CodecContext.create("vp8", "r")
    plain_codec = av.CodecContext.create("vp8", "r")
    colours, garbage = [], []
    for i in range(5):
        rgb = np.full((48, 64, 3), (220, 20, 30), np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        data = b"".join(vp8_depayload(p) for p in payloads)
        for out in codec.decode(av.Packet(open_frame(keyring, "VP8", data))):
            colours.append(out.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0))
        with contextlib.suppress(av.FFmpegError):
            garbage += [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                        for f in plain_codec.decode(av.Packet(data))]
    assert colours and all(np.all(np.abs(c - (220, 20, 30)) < 25) for c in colours)
    assert not any(np.all(np.abs(c - (220, 20, 30)) < 25) for c in garbage)


def test_sealing_opus_encoder_seals_each_packet(keyring: Keyring) -> None:
    """The sender hook's Opus encoder seals every packet, keeping the TOC byte in clear."""
    from aiortc.codecs.opus import OpusEncoder

    from zero_nb.kernel_rtc.e2ee.rtc import seal_encoder

    pcm = (8000 * np.sin(np.arange(960) / 48000 * 2 * np.pi * 440)).astype(np.int16)

    def frame() -> av.AudioFrame:
        f = av.AudioFrame.from_ndarray(np.repeat(pcm, 2)[None, :], format="s16",
                                       layout="stereo")
        f.sample_rate, f.pts, f.time_base = 48000, 0, fractions.Fraction(1, 48000)
        return f

    sealed, _ = seal_encoder(OpusEncoder(), keyring, print).encode(frame())
    plain, _ = OpusEncoder().encode(frame())
    assert len(sealed) == len(plain) == 1
    assert sealed[0][0] == plain[0][0] and len(sealed[0]) == len(plain[0]) + OVERHEAD
    assert open_frame(keyring, "OPUS", sealed[0])[:1] == plain[0][:1]


def test_h264_encoder_is_refused(keyring: Keyring) -> None:
    """An H.264 encoder is replaced by one that sends nothing, and the reason is reported."""
    from aiortc.codecs.h264 import H264Encoder

    from zero_nb.kernel_rtc.e2ee.rtc import seal_encoder

    reports: list[str] = []
    encoder = seal_encoder(H264Encoder(), keyring, reports.append)
    assert encoder.encode(None) == ([], None)
    assert reports and "choose VP8" in reports[0]
