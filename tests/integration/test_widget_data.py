"""What the Conference widget's kernel side syncs to the page, checked without a browser: the
local error banner (issue 14 item 1), the active speaker from VAD (issue 18) and the peers'
E2EE state (issue 17)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.conftest import UNIT, wait_until
from tests.integration.test_mesh import join
from zero_nb import sources
from zero_nb.analysis import talk
from zero_nb.widgets import Conference

pytestmark = pytest.mark.media


def test_local_error_banner_follows_a_failing_source(bg_server, media_config):
    """A source that raises: ``local_error`` names the failure at once, stays while it fails,
    and clears within ERROR_HOLD_S of the source working again."""
    img = np.zeros((120, 160, 3), np.uint8)
    state = {"fail": False}

    def camera(index):
        if state["fail"]:
            raise OSError("camera unplugged")
        return img

    room = join(bg_server, "a", media_config, video=camera)
    widget = Conference(room)
    try:
        assert room.local.video.source is not None
        wait_until(lambda: room.local.video.feed.frame_count > 0, 10 * UNIT)
        assert widget.local_error == ""
        state["fail"] = True
        assert wait_until(lambda: "camera unplugged" in widget.local_error, 5 * UNIT)
        assert not wait_until(lambda: widget.local_error == "", 6.0)  # still failing: stays
        state["fail"] = False
        assert wait_until(lambda: widget.local_error == "", 10 * UNIT)
    finally:
        widget.close()
        room.leave()


def test_levels_name_the_vad_active_speaker(bg_server, media_config):
    """A bot that talks (speech-like audio, zero_nb.analysis.talk): the widget's levels
    message names it as ``active`` (the kernel's voice activity detection). The teacher
    talks too, louder: the room's active speaker may be the teacher, the gallery's never is
    (a notebook's fake microphone beeps took the highlight from the student before)."""
    pytest.importorskip("webrtcvad")
    talker = join(bg_server, "talker", media_config,
                  audio=talk([(0.0, 3600.0)], time.time(), level_db=-30.0))
    room = join(bg_server, "teacher", media_config,
                audio=talk([(0.0, 3600.0)], time.time(), f0=220.0, level_db=-6.0))
    widget = Conference(room)
    sent = []
    send = widget.send
    widget.send = lambda msg, *a, **kw: (sent.append(msg), send(msg, *a, **kw))  # observe
    try:
        room.wait_for_peers(1, timeout=20 * UNIT)

        def actives():
            return [m.get("active") for m in list(sent) if m.get("type") == "levels"]

        assert wait_until(lambda: talker.peer_id in actives(), 20 * UNIT), actives()[-10:]
        assert set(actives()) <= {None, talker.peer_id}
        # the teacher is louder: the room itself names the teacher, the gallery does not
        assert wait_until(lambda: getattr(room.active_speaker(), "peer_id", None)
                          == room.peer_id, 10 * UNIT)
        assert wait_until(lambda: getattr(room.active_speaker(others=True), "peer_id", None)
                          == talker.peer_id, 10 * UNIT)
    finally:
        widget.close()
        room.leave()
        talker.leave()


def test_participants_carry_the_peers_e2ee_state(bg_server, media_config):
    """Another passphrase than the peer's: its row in ``participants`` says "wrong-key" (the
    widget's tile then reads "encrypted — wrong key")."""
    other = join(bg_server, "other", media_config, e2ee="s3cret",
                 video=sources.solid((0, 255, 0), 160, 120, fps=15))
    room = join(bg_server, "me", media_config, e2ee="not-it")
    widget = Conference(room)
    try:  # no wait_for_peers: with the wrong key no frame decodes, so none "has media"
        def e2ee_of(name):
            return next((r.get("e2ee") for r in widget.participants if r["name"] == name), None)

        assert wait_until(lambda: e2ee_of("other") == "wrong-key", 30 * UNIT), \
            widget.participants
    finally:
        widget.close()
        room.leave()
        other.leave()


def test_participants_carry_mute_and_the_page_mute_is_announced(bg_server, media_config):
    """A peer's mute / camera off reaches its row's ``media`` (the tile's flags); the page's
    own ``media`` message (mic off) mutes the room, so the others are told."""
    other = join(bg_server, "other", media_config, audio=sources.tone(440, -20),
                 video=sources.solid((0, 255, 0), 160, 120, fps=15))
    room = join(bg_server, "me", media_config)
    widget = Conference(room)
    try:
        def media_of(name):
            return next((r.get("media") for r in widget.participants if r["name"] == name),
                        None)

        assert media_of("other") == {"audio": True, "video": True, "e2ee": False}
        other.local.audio.mute()
        assert wait_until(lambda: media_of("other") == {"audio": False, "video": True,
                                                        "e2ee": False},
                          5 * UNIT), widget.participants
        widget._on_msg(widget, {"type": "media", "view": "v", "camera": True, "mic": False},
                       None)  # what js/widgets/conference.js sends on "Mute"
        assert room.local.audio.muted and not room.local.video.muted
        assert media_of("me (you)") == {"audio": False, "video": False}  # no page track yet
    finally:
        widget.close()
        room.leave()
        other.leave()
