"""Mute and camera state on the web page's tiles: page to page, page to kernel, kernel to
page, and for a late joiner (the signaling `media` / `peer-media` messages)."""

from __future__ import annotations

from typing import Any

import pytest

import zero_nb
from tests import sfu_support
from tests.browser.helpers import Page, wait_until
from tests.conftest import MEDIA_CONFIG, UNIT
from zero_nb import sources
from zero_nb.kernel_rtc.net.peer import PeerMedia

pytestmark = pytest.mark.media

QUERY = {"autojoin": "1", "processing": "0"}

janus = sfu_support.janus  # real Janus for the SFU case (fixtures, used by name)
sfu_server = sfu_support.sfu_server


def media_of(room: Any, name: str) -> PeerMedia | None:
    """``peer.media`` of the peer called ``name`` in a kernel's room (None: not there yet)."""
    return next((p.media for p in room.peers.values() if p.name == name), None)


def flags(page: Page, peer_id: str) -> str:
    """The media flags of ``peer_id``'s tile ("" when it shows none or there is no tile);
    the class role badges ("host", a raised hand) are not media state and are left out."""
    text = page.page.evaluate(
        "(id) => document.querySelector(`figure[data-peer='${id}'] .znb-flags`)"
        "?.textContent ?? ''", peer_id)
    parts = [p for p in text.split(" · ") if p and p != "host" and not p.startswith("✋")]
    return " · ".join(parts)


def wait_flags(page: Page, peer_id: str, expected: str) -> None:
    wait_until(lambda: flags(page, peer_id) == expected, 5 * UNIT,
               f"tile {peer_id} flags {expected!r} (now {flags(page, peer_id)!r})")


def test_mute_and_camera_off_show_on_the_other_page_and_the_kernel(call_page, bots):
    """Clicking Mute and Camera off on one page: the other page's tile of it says "muted ·
    camera off", a kernel sees peer.media; undoing clears both."""
    bot = bots("m1", "bot")
    alice = call_page().open(session="m1", name="alice", **QUERY)
    alice.wait_state("joined")
    bob = call_page().open(session="m1", name="bob", **QUERY)
    bob.wait_state("joined")
    alice_id = alice.snapshot()["peerId"]
    wait_until(lambda: len(bob.snapshot()["peers"]) == 2, 5 * UNIT, "bob to list alice, bot")
    assert flags(bob, alice_id) == ""  # a page says it sends both
    wait_until(lambda: media_of(bot, "alice") == PeerMedia(audio=True, video=True), 5 * UNIT,
               "the kernel to see alice with camera and mic on")
    alice.page.click("#btn-mute")
    wait_flags(bob, alice_id, "muted")
    alice.page.click("#btn-camera")
    wait_flags(bob, alice_id, "muted · camera off")
    wait_until(lambda: media_of(bot, "alice") == PeerMedia(audio=False, video=False),
               5 * UNIT, "the kernel to see alice muted with her camera off")
    alice.page.click("#btn-mute")
    alice.page.click("#btn-camera")
    wait_flags(bob, alice_id, "")
    (row,) = [p for p in bob.snapshot()["peers"] if p["name"] == "alice"]
    assert row["media"] == {"audio": True, "video": True, "e2ee": False}
    assert not alice.console_errors and not bob.console_errors


def test_a_muted_kernel_and_a_late_joiner(call_page, bots):
    """A kernel that mutes and turns its video off shows so on the page's tile; a page that
    joins later sees an earlier page's mute at once; a kernel without sources reads as off."""
    bot = bots("m2", "bot", video=sources.solid((0, 0, 255)), audio=sources.tone(440, -20))
    silent = bots("m2", "silent")
    alice = call_page().open(session="m2", name="alice", **QUERY)
    alice.wait_state("joined")
    wait_until(lambda: len(alice.snapshot()["peers"]) == 2, 5 * UNIT, "alice to list both")
    wait_flags(alice, bot.peer_id, "")
    wait_flags(alice, silent.peer_id, "muted · camera off")
    bot.local.audio.mute()
    wait_flags(alice, bot.peer_id, "muted")
    bot.local.video.pause()
    wait_flags(alice, bot.peer_id, "muted · camera off")
    bot.local.audio.unmute()
    wait_flags(alice, bot.peer_id, "camera off")
    alice.page.click("#btn-mute")
    wait_until(lambda: media_of(bot, "alice") == PeerMedia(False, True), 5 * UNIT,
               "the kernel to see the mute")
    late = call_page().open(session="m2", name="late", **QUERY)
    late.wait_state("joined")
    wait_flags(late, alice.snapshot()["peerId"], "muted")
    wait_flags(late, bot.peer_id, "camera off")


def test_mute_state_in_an_sfu_session(call_page, sfu_server):
    """Through Janus the state travels the same way (signaling): a kernel's mute shows on
    the page's tile, the page's Camera off reaches the kernel."""
    bot = zero_nb.join("msfu", sfu_server.url, name="bot", config=MEDIA_CONFIG,
                       video=sources.solid((0, 255, 0), 160, 120, fps=15),
                       audio=sources.tone(440, -12))
    try:
        alice = call_page(sfu_server).open(session="msfu", name="alice", **QUERY)
        alice.wait_state("joined")
        wait_flags(alice, bot.peer_id, "")
        bot.local.audio.mute()
        wait_flags(alice, bot.peer_id, "muted")
        wait_until(lambda: media_of(bot, "alice") == PeerMedia(True, True), 5 * UNIT,
                   "the kernel to see alice's camera and mic on")
        alice.page.click("#btn-camera")
        wait_until(lambda: media_of(bot, "alice") == PeerMedia(True, False), 5 * UNIT,
                   "the kernel to see alice's camera off")
        assert alice.snapshot()["topology"]["topology"] == "sfu"
    finally:
        bot.leave()
