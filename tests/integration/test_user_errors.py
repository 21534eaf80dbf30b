"""What a new user meets first: waiting for a peer that sends nothing, recording where no
directory can be made. Real server, real aiortc peers."""

import pytest

from tests.conftest import UNIT
from tests.integration.test_mesh import RED, join
from zero_nb import sources
from zero_nb.errors import MediaError, Timeout

pytestmark = pytest.mark.media


def test_waiting_for_a_peer_that_sends_nothing_names_it(bg_server, media_config):
    """A peer that joined with no video and no audio: wait_for_peers(1) says it is there but
    announces no media, by name; wait_for_peers(1, media=False) returns it."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    quiet = join(bg_server, "quiet", media_config)  # receive-only: no video, no audio
    try:
        [peer] = a.wait_for_peers(1, timeout=20 * UNIT, media=False)
        assert peer.name == "quiet"
        with pytest.raises(Timeout) as info:
            a.wait_for_peers(1, timeout=2 * UNIT)
        text = str(info.value)
        assert "'quiet'" in text and "announces no media" in text
        assert "media=False" in text
    finally:
        quiet.leave()
        a.leave()


def test_recording_where_no_directory_can_be_made(bg_server, media_config, tmp_path):
    """room.record(path) under a regular file: MediaError naming the path, no file made."""
    a = join(bg_server, "a", media_config, video=sources.solid(RED))
    here = tmp_path / "rec"
    here.mkdir()
    blocker = here / "not-a-dir"
    blocker.write_text("x")
    try:
        for path in (blocker / "sub" / "call.mp4", blocker / "sub"):
            with pytest.raises(MediaError, match="not-a-dir") as info:
                a.record(str(path))
            assert info.value.__cause__ is None and "choose" in str(info.value)
        assert sorted(p.name for p in here.rglob("*")) == ["not-a-dir"]
    finally:
        a.leave()
