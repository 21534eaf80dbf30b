"""The Conference's kernel side in an SFU session, checked without a browser: the page is told
the room and every peer's Janus feed (the ``sfu`` trait) and gets no slots; the room's pin and
the E2EE frame key go only as the reply to ``sfu-pin``, never into widget state (which can be
saved into the notebook)."""

from __future__ import annotations

import base64
import json

import pytest

import zero_nb
from tests import sfu_support
from tests.conftest import MEDIA_CONFIG, UNIT, wait_until
from zero_nb import sources
from zero_nb.kernel_rtc.e2ee.crypto import derive_key
from zero_nb.widgets import Conference

pytestmark = pytest.mark.media

janus = sfu_support.janus
sfu_server = sfu_support.sfu_server


def test_sfu_conference_syncs_feeds_and_keeps_secrets_out_of_state(sfu_server):
    """``sfu`` = {url, room, feeds}, 0 slots; ``sfu-pin`` answers the asking view with the pin
    and the frame key; neither appears in the widget's state."""
    other = zero_nb.join("wsec", sfu_server.url, name="other", config=MEDIA_CONFIG,
                         e2ee="s3cret", video=sources.solid((0, 255, 0), 160, 120, fps=15))
    room = zero_nb.join("wsec", sfu_server.url, name="me", config=MEDIA_CONFIG, e2ee="s3cret")
    widget = Conference(room)
    sent: list[dict] = []
    widget.send = sent.append  # type: ignore[method-assign]  # what would go to the page
    try:
        assert wait_until(lambda: widget.sfu.get("feeds", {}).get(other.peer_id), 20 * UNIT), \
            widget.sfu
        sfu = room.topology
        assert widget.sfu["url"] == sfu.url and widget.sfu["room"] == sfu.room_id
        assert widget.slots == 0  # the page captures; the others come from Janus
        widget._on_msg(widget, {"type": "sfu-pin", "view": "v1"}, [])
        reply = next(m for m in sent if m.get("type") == "sfu-pin")
        assert reply["view"] == "v1" and reply["pin"] == sfu.pin
        key = reply["e2ee"]["key"]
        assert base64.b64decode(key) == derive_key("s3cret", "wsec")
        assert reply["e2ee"]["key_id"] == 0
        state = json.dumps({k: v for k, v in widget.get_state().items()
                            if k not in ("_esm", "_css")})
        assert sfu.pin not in state and key not in state and "s3cret" not in state
    finally:
        widget.close()
        room.leave()
        other.leave()
