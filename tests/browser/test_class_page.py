"""The web page's class controls against a host kernel on a real server: the hand button (and
the H key) in order, the host's spotlight pinned, the muted notice, a removal that sticks."""

from __future__ import annotations

import pytest

from tests.browser.helpers import Page, wait_until
from tests.conftest import UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

QUERY = {"autojoin": "1", "processing": "0"}


def status(page: Page) -> tuple[str, str]:
    """The page's status line: (data-code, text)."""
    code, text = page.page.evaluate(
        "() => { const s = document.getElementById('status');"
        " return [s?.dataset.code ?? '', s?.textContent ?? '']; }")
    return code, text


def teacher(bots):
    """The session's creator, so its host: a kernel with a cheap tone and no video."""
    return bots("klass", "teacher", audio=sources.tone(440, -20))


def test_hands_go_up_in_order_and_the_host_kernel_sees_them(call_page, bots):
    """The hand button and the H key raise hands; the host kernel lists them in order and
    the page's button shows its place; the host lowers all."""
    host = teacher(bots)
    ana = call_page().open(session="klass", name="ana", **QUERY)
    ana.wait_state("joined")
    ben = call_page().open(session="klass", name="ben", **QUERY)
    ben.wait_state("joined")
    ana_id, ben_id = ana.snapshot()["peerId"], ben.snapshot()["peerId"]
    ben.page.click("#hand")
    wait_until(lambda: host.hands == [ben_id], 5 * UNIT, f"hands [ben] (now {host.hands})")
    ana.page.keyboard.press("h")
    wait_until(lambda: host.hands == [ben_id, ana_id], 5 * UNIT,
               f"hands [ben, ana] (now {host.hands})")
    wait_until(lambda: "(2)" in ana.page.inner_text("#hand"), 5 * UNIT, "ana's place 2")
    badge = ben.page.evaluate(
        "(id) => document.querySelector(`figure[data-peer='${id}'] .znb-flags`)"
        "?.textContent ?? ''", ana_id)
    assert "✋ 2" in badge
    host.lower_hand("all")
    wait_until(lambda: ana.page.inner_text("#hand").strip() == "✋ Raise hand", 5 * UNIT,
               "ana's button back to Raise hand")
    assert not ana.console_errors and not ben.console_errors


def test_spotlight_pins_and_mute_is_told(call_page, bots):
    """The host's spotlight pins that tile on the page (and unpins); the host's mute mutes
    the page and says so."""
    host = teacher(bots)
    ana = call_page().open(session="klass", name="ana", **QUERY)
    ana.wait_state("joined")
    wait_until(lambda: len(host.peers) == 1, 5 * UNIT, "the host to see ana")
    ana_id = ana.snapshot()["peerId"]
    host.spotlight(host.peer_id)
    pinned = "() => document.querySelector('.znb-grid, [data-pinned]')?.dataset.pinned ?? ''"
    wait_until(lambda: ana.page.evaluate(pinned) == host.peer_id, 5 * UNIT,
               "the host's tile pinned on ana's page")
    host.spotlight(None)
    wait_until(lambda: ana.page.evaluate(pinned) == "", 5 * UNIT, "the pin gone")
    host.mute(ana_id)
    wait_until(lambda: status(ana)[0] == "muted-by-host", 5 * UNIT, "the muted notice")
    assert ana.snapshot()["local"]["muted"]
    wait_until(lambda: host.peers[ana_id].media.muted, 5 * UNIT, "the host to see ana muted")


def test_a_removed_page_is_told_and_cannot_rejoin(call_page, bots):
    """A removed page says so and leaves; its resume secret is refused, so it stays out."""
    host = teacher(bots)
    ana = call_page().open(session="klass", name="ana", **QUERY)
    ana.wait_state("joined")
    ana_id = ana.snapshot()["peerId"]
    wait_until(lambda: ana_id in host.peers, 5 * UNIT, "the host to see ana")
    # what the page would resume with (its client forgets both when it leaves)
    secret = ana.page.evaluate("() => window.zeroNb.signaling.resumeSecret")
    host.remove(ana_id, "testing")
    wait_until(lambda: status(ana)[0] == "removed", 5 * UNIT, "the removed notice")
    assert "testing" in status(ana)[1]
    wait_until(lambda: ana.snapshot()["state"] in ("left", "failed"), 5 * UNIT,
               "ana's page to leave")
    wait_until(lambda: ana_id not in host.peers, 5 * UNIT, "ana gone from the host's roster")
    refused = ana.page.evaluate(
        """async ([id, secret, token]) => {
             const s = window.zeroNb.signaling;
             const ws = new WebSocket(s.url);
             await new Promise((ok) => ws.addEventListener('open', ok));
             const reply = new Promise((ok) => ws.addEventListener('message',
               (e) => ok(JSON.parse(e.data))));
             ws.send(JSON.stringify({type: 'join', session: 'klass', name: 'ana',
               resume: id, resume_secret: secret, token}));
             const r = await reply; ws.close(); return r;
           }""", [ana_id, secret, host.token])
    assert refused["type"] == "error" and refused["code"] == "removed", refused
    assert ana_id not in host.peers


def banner(page: Page) -> dict[str, str]:
    return page.page.evaluate(
        "() => { const b = document.getElementById('breakout');"
        " return {hidden: String(b.hidden), group: b.dataset.group ?? '',"
        " left: b.dataset.left ?? '', text: b.textContent}; }")


def test_a_page_is_moved_to_its_group_and_back(call_page, bots):
    """breakout() moves the page into its group (a banner with the group and a countdown,
    the group's kernel on its tiles, nobody else), a broadcast shows, gather() brings it
    back (banner gone); its link keeps the class's session."""
    host = teacher(bots)
    mate = bots("klass", "mate", audio=sources.tone(440, -20))
    other = bots("klass", "other", audio=sources.tone(440, -20))
    ana = call_page().open(session="klass", name="ana", **QUERY)
    ana.wait_state("joined")
    ana_id = ana.snapshot()["peerId"]
    wait_until(lambda: len(host.peers) == 3, 10 * UNIT, "the host to see everyone")
    host.breakout({"A": [ana_id, mate.peer_id], "B": [other.peer_id]}, minutes=2)
    wait_until(lambda: banner(ana)["group"] == "A" and banner(ana)["hidden"] == "false",
               5 * UNIT, f"the banner for group A (now {banner(ana)})")
    left = int(banner(ana)["left"])
    assert 100 < left <= 120 and "Breakout room A" in banner(ana)["text"]
    wait_until(lambda: int(banner(ana)["left"]) < left, 5 * UNIT, "the countdown to tick")
    wait_until(lambda: [p["name"] for p in ana.snapshot()["peers"]] == ["mate"], 5 * UNIT,
               f"ana's tiles: only mate (now {ana.snapshot()['peers']})")
    assert ana.snapshot()["session"] == "klass.A" and mate.session == "klass.A"
    wait_until(lambda: ana_id in mate.peers and mate.peers[ana_id].has_media, 10 * UNIT,
               "mate to get ana's media in the group")
    assert "session=klass&" in ana.page.url + "&"
    host.broadcast("1 minute left")
    wait_until(lambda: status(ana) == ("broadcast", "📣 1 minute left"), 5 * UNIT,
               f"the broadcast (now {status(ana)})")
    host.gather()
    wait_until(lambda: banner(ana)["hidden"] == "true", 5 * UNIT, "the banner gone")
    wait_until(lambda: ana.snapshot()["session"] == "klass"
               and len(ana.snapshot()["peers"]) == 3, 10 * UNIT,
               f"ana back with everyone (now {ana.snapshot()['peers']})")
    assert not ana.console_errors, ana.console_errors
