"""End-to-end encryption between kernels: mesh over real aiortc, and through real Janus."""

from __future__ import annotations

import numpy as np
import pytest

import zero_nb
from tests import sfu_support
from tests.conftest import MEDIA_CONFIG, UNIT, close_to, wait_until
from zero_nb import sources

pytestmark = pytest.mark.media

RED, BLUE = (255, 0, 0), (0, 0, 255)
janus = sfu_support.janus  # fixtures: real Janus with ICE on a veth, a server using it
sfu_server = sfu_support.sfu_server


@pytest.fixture
def sfu_e2ee_server(janus):
    """A signaling server whose Janus rooms require E2EE (sfu.require_e2ee)."""
    handle = zero_nb.serve("127.0.0.1", 0, config={
        "signaling": {"heartbeat": {"interval": 1.0, "timeout": 2.0}},
        "sfu": {"enabled": True, "url": janus.url, "require_e2ee": True}})
    yield handle
    handle.stop()


SERVERS = {"mesh": "bg_server", "sfu": "sfu_server", "sfu-required": "sfu_e2ee_server"}


def _join(server, name, session, e2ee=None, **media):
    return zero_nb.join(session, server.url, name=name, config=MEDIA_CONFIG, e2ee=e2ee,
                        **media)


def _level_ok(audio, level=-6.0):
    recent = audio.levels(seconds=1.0)
    return len(recent) > 10 and abs(float(np.median(recent)) - level) < 0.5


def _check_pair(a, b):
    """b receives a's red video and -6 dBFS tone through E2EE, and a gets b's blue."""
    b.wait_for_peers(1, timeout=20 * UNIT)
    a.wait_for_peers(1, timeout=20 * UNIT)
    assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 10 * UNIT)
    assert wait_until(lambda: close_to(a.peer("b").video.latest(), BLUE), 10 * UNIT)
    assert wait_until(lambda: _level_ok(b.peer("a").audio), 10 * UNIT)
    assert b.peer("a").e2ee == "ok" and a.peer("b").e2ee == "ok"
    stats = b.stats()[b.peer("a").peer_id]["in"]
    assert stats["video"]["e2ee"] == "ok" and stats["video"]["e2ee_dropped"] == 0


def _check_locked_out(eve, errors, state):
    """eve decodes nothing from a and says why."""
    peer = eve.peer("a")
    assert wait_until(lambda: peer.e2ee == state, 20 * UNIT), peer.e2ee
    # wait until frames have really arrived (and were dropped): under load Janus may forward
    # the publisher's first packets seconds after the announcement
    def dropped(kind):
        return eve.stats()[peer.peer_id]["in"][kind]["e2ee_dropped"]
    assert wait_until(lambda: dropped("audio") > 10 and dropped("video") > 10, 20 * UNIT), (
        dropped("audio"), dropped("video"))
    assert peer.video.frame_count == 0 and peer.video.latest() is None
    assert peer.audio.frame_count == 0
    assert peer.audio.level_db < -90  # silence, not ciphertext decoded as noise
    assert any("E2EE" in text for _, text in errors)


@pytest.mark.parametrize("topology", ["mesh", "sfu", "sfu-required"])
def test_same_passphrase_sees_colours_and_tone(request, topology):
    """Same passphrase: colours and tone level arrive right, peer.e2ee is ok."""
    server = request.getfixturevalue(SERVERS[topology])
    a = _join(server, "a", topology, "s3cret", video=sources.solid(RED),
              audio=sources.tone(440, -6))
    b = _join(server, "b", topology, "s3cret", video=sources.solid(BLUE))
    try:
        _check_pair(a, b)
        if topology != "mesh":  # a kernel's low simulcast layer is sealed too
            feed = b.peer("a").video
            full = feed.latest().shape
            b.subscribe(layer="low")
            assert wait_until(lambda: feed.latest().shape[1] == full[1] // 2, 10 * UNIT)
            assert close_to(feed.latest(), RED) and b.peer("a").e2ee == "ok"
    finally:
        a.leave()
        b.leave()


@pytest.mark.parametrize(("topology", "key", "eve_first"), [
    ("mesh", None, False), ("mesh", None, True), ("mesh", "wrong", False),
    ("sfu", None, False), ("sfu", None, True), ("sfu-required", None, False),
    ("sfu", "wrong", False)])
def test_no_key_or_wrong_key_decodes_nothing(request, topology, key, eve_first):
    """A kernel with no key or another passphrase gets no frames (its audio reads silence,
    not ciphertext as noise) and peer.e2ee says so: in mesh, and through Janus whether or
    not the room requires E2EE (the sender's announced media state says it encrypts)."""
    server = request.getfixturevalue(SERVERS[topology])
    if eve_first:
        eve = _join(server, "eve", topology, key)
    a = _join(server, "a", topology, "s3cret", video=sources.solid(RED),
              audio=sources.tone(440, -12))
    if not eve_first:
        eve = _join(server, "eve", topology, key)
    errors: list = []
    eve.on("error", lambda peer, text: errors.append((peer, text)))
    try:
        wait_until(lambda: "a" in {p.name for p in eve.peers.values()}, 10 * UNIT)
        _check_locked_out(eve, errors, "no-key" if key is None else "wrong-key")
    finally:
        a.leave()
        eve.leave()



# --------------------------------------------------------------------------- Janus's own view


def read_mjr(path):
    """(info header, RTP packets) of a Janus recording (MJR00002: header JSON, then
    "MEET" + u32 receive ms + u16 length + one RTP packet per entry)."""
    import json
    import struct

    from aiortc.rtp import RtpPacket

    data = path.read_bytes()
    assert data[:8] == b"MJR00002", data[:8]
    (size,) = struct.unpack(">H", data[8:10])
    info = json.loads(data[10:10 + size])
    pos, packets = 10 + size, []
    while pos + 10 <= len(data) and data[pos:pos + 4] == b"MEET":
        (length,) = struct.unpack(">H", data[pos + 8:pos + 10])
        packets.append(RtpPacket.parse(data[pos + 10:pos + 10 + length]))
        pos += 10 + length
    return info, packets


def vp8_frames(packets):
    """Whole VP8 frames (depacketized, in order) from RTP packets."""
    from aiortc.codecs.vpx import vp8_depayload

    frames: dict[int, list] = {}
    for p in sorted(packets, key=lambda p: p.sequence_number):
        if p.payload:
            frames.setdefault(p.timestamp, []).append(vp8_depayload(p.payload))
    return [b"".join(parts) for _, parts in sorted(frames.items())]


def decode_colours(frames):
    """Mean RGB of every frame libvpx decodes from ``frames`` (undecodable ones skipped)."""
    import av

    codec = av.CodecContext.create("vp8", "r")
    colours = []
    for data in frames:
        try:
            for frame in codec.decode(av.Packet(data)):
                colours.append(frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0))
        except av.FFmpegError:
            continue
    return colours


async def _janus_request(url, body):
    from zero_nb.sfu.janus import JanusSession

    janus = await JanusSession.connect(url)
    try:
        handle = await janus.attach()
        return await handle.request(body)
    finally:
        await janus.close()


def test_janus_records_only_ciphertext(sfu_server, janus, tmp_path):
    """Janus's recording of an E2EE room holds VP8 frames whose headers it can read but
    whose pictures do not decode to the sender's colour; with the key they do."""
    import asyncio

    from zero_nb.kernel_rtc.e2ee.crypto import Keyring, open_frame

    a = _join(sfu_server, "a", "rec", "s3cret", video=sources.solid(RED))
    b = _join(sfu_server, "b", "rec", "s3cret")
    rec_dir = tmp_path / "janus-rec"
    rec_dir.mkdir()
    try:
        assert wait_until(lambda: close_to(b.peer("a").video.latest(), RED), 20 * UNIT)
        room_id = a.topology.room_id
        asyncio.run(_janus_request(janus.url, {"request": "edit", "room": room_id,
                                                "new_rec_dir": str(rec_dir)}))
        asyncio.run(_janus_request(janus.url, {"request": "enable_recording",
                                                "room": room_id, "record": True}))
        assert wait_until(lambda: any(p.stat().st_size > 20_000
                                      for p in rec_dir.glob("*video*.mjr")), 10 * UNIT)
        assert close_to(b.peer("a").video.latest(), RED)  # the participants still see red
    finally:
        a.leave()
        b.leave()
    recordings = sorted(rec_dir.glob("*video*.mjr"), key=lambda p: p.stat().st_size)
    info, packets = read_mjr(recordings[-1])
    assert info.get("c") == "vp8"
    frames = vp8_frames(packets)
    keyframes = [f for f in frames if not f[0] & 1]
    assert keyframes and keyframes[0][3:6] == b"\x9d\x01\x2a"  # readable to Janus
    seen_by_janus = decode_colours(frames)
    assert not any(np.all(np.abs(c - RED) < 25) for c in seen_by_janus), seen_by_janus[:3]
    key = Keyring.from_passphrase("s3cret", "rec")
    opened = decode_colours([open_frame(key, "VP8", f) for f in frames[frames.index(
        keyframes[0]):]])
    assert opened and all(np.all(np.abs(c - RED) < 25) for c in opened[-5:])
