"""Mute and camera state between kernels: announced on join and on change, seen by late
joiners, unknown (not muted) for clients that never say."""

import json
import threading

import pytest
from websockets.sync.client import connect as ws_connect

import zero_nb
from tests.conftest import UNIT, wait_until
from zero_nb import sources
from zero_nb.kernel_rtc.net.peer import PeerMedia

pytestmark = pytest.mark.media


def join(server, name, media_config, **kw):
    return zero_nb.join("lab", server.url, name=name, config=media_config["dict"], **kw)


def test_mute_and_camera_off_reach_the_others(bg_server, media_config):
    """Muting audio and turning video off on one kernel shows on the other's peer.media
    (with a peer-media event), and undoing it too; what a kernel lacks reads as off."""
    a = join(bg_server, "a", media_config, video=sources.test_pattern(160, 120, 15),
             audio=sources.tone(440, -20))
    b = join(bg_server, "b", media_config, video=sources.solid((0, 0, 255)))
    events: list[PeerMedia] = []
    seen = threading.Event()
    b.on("peer-media", lambda peer, media: (events.append(media), seen.set()))
    try:
        peer_a = b.peer("a")
        assert peer_a.media == PeerMedia(audio=True, video=True)
        assert wait_until(lambda: b.peer_id in a.peers and  # peer-joined may still be on its way
                          a.peers[b.peer_id].media == PeerMedia(audio=False, video=True),
                          5 * UNIT)  # b sends no audio: off, not unknown
        a.local.audio.muted = True
        assert wait_until(lambda: peer_a.media.muted, 5 * UNIT)
        assert not peer_a.media.camera_off and a.local.audio.muted and not a.local.audio.sending
        assert seen.wait(5 * UNIT) and events[-1] == PeerMedia(audio=False, video=True)
        a.local.video.pause()
        assert wait_until(lambda: peer_a.media.camera_off, 5 * UNIT)
        a.local.audio.unmute()
        a.local.video.muted = False
        assert wait_until(lambda: peer_a.media == PeerMedia(True, True), 5 * UNIT)
    finally:
        a.leave()
        b.leave()


def test_late_joiner_sees_state_and_silent_clients_are_unknown(bg_server, media_config):
    """A kernel joining later sees an earlier one's mute at once (joined.peers); a client
    that never sends `media` is unknown (None), never shown as muted."""
    a = join(bg_server, "a", media_config, video=sources.solid((255, 0, 0)),
             audio=sources.tone(440, -20))
    with ws_connect(bg_server.url) as old_client:
        old_client.send(json.dumps({"type": "join", "session": "lab", "name": "old"}))
        assert json.loads(old_client.recv(timeout=5 * UNIT))["type"] == "joined"
        try:
            a.local.audio.mute()
            a.local.video.mute()
            assert wait_until(lambda: {p["name"]: p.get("media") for p in
                                       bg_server.sessions()["lab"]}.get("a")
                              == {"audio": False, "video": False}, 5 * UNIT)
            late = join(bg_server, "late", media_config)
            try:
                assert late.peer("a").media == PeerMedia(audio=False, video=False)
                old = late.peer("old").media
                assert old == PeerMedia() and not old.muted and not old.camera_off
            finally:
                late.leave()
        finally:
            a.leave()


def test_muted_stays_muted_across_a_source_change(bg_server, media_config):
    """A new source while muted stays muted (as a browser keeps its mute across devices)."""
    a = join(bg_server, "a", media_config, audio=sources.tone(440, -20))
    b = join(bg_server, "b", media_config)
    try:
        a.local.audio.muted = True
        assert wait_until(lambda: b.peer("a").media.muted, 5 * UNIT)
        new = sources.tone(880, -20)
        a.set_source(audio=new)
        assert new.muted and b.peer("a").media.muted
        a.set_source(audio=None)  # no source: off whether muted or not
        a.local.audio.muted = False
        assert not a.local.audio.sending
        assert wait_until(lambda: b.peer("a").media == PeerMedia(False, False), 5 * UNIT)
    finally:
        a.leave()
        b.leave()
