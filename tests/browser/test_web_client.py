"""The standalone web client (js/) in headless Chromium against real bots on loopback."""

from __future__ import annotations

import numpy as np
import pytest

import zero_nb
from tests.browser.helpers import wait_until
from tests.conftest import UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

BLUE = (0, 0, 255)
# the page's fake audio is a beep, so levels vary: keep it unprocessed for stable values
QUERY = {"autojoin": "1", "processing": "0"}


def mean_rgb(img: np.ndarray | None) -> np.ndarray | None:
    return None if img is None else img.reshape(-1, 3).mean(axis=0)


def is_red(img: np.ndarray | None) -> bool:
    rgb = mean_rgb(img)
    return rgb is not None and rgb[0] > 200 and rgb[1] < 50 and rgb[2] < 50


def test_browser_and_bot_exchange_video(call_page, bots):
    """A bot receives the page's red clip as numpy, and the page decodes the bot's video."""
    bot = bots("t1", "bot", video=sources.solid(BLUE), audio=sources.tone(440, -6))
    page = call_page().open(session="t1", name="alice", **QUERY)
    bot.wait_for_peers(1, timeout=20 * UNIT)
    alice = bot.peer("alice")
    wait_until(lambda: is_red(alice.video.latest()), 10 * UNIT,
               f"red frames from the page (last mean {mean_rgb(alice.video.latest())})")
    img = alice.video.latest()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    wait_until(lambda: alice.audio.frame_count > 10, 10 * UNIT, "audio from the page")
    stats = page.wait_decoding(["bot"])
    assert stats["bot"]["samples"] > 0  # the bot's tone arrives too
    snap = page.snapshot()
    assert snap["state"] == "joined" and snap["local"]["video"] and snap["local"]["audio"]
    (peer,) = snap["peers"]  # the bot was there first: it offered, the page answered
    assert (peer["name"], peer["offersSent"], peer["answersSent"]) == ("bot", 0, 1)
    assert not page.console_errors


def test_two_browsers_and_a_bot_form_a_full_mesh(call_page, bots):
    """Two pages and a bot all receive each other's media in one session."""
    bot = bots("t2", "bot", video=sources.solid(BLUE), audio=sources.tone(440, -6))
    alice = call_page().open(session="t2", name="alice", **QUERY)
    alice.wait_state("joined")
    bob = call_page().open(session="t2", name="bob", **QUERY)
    bot.wait_for_peers(2, timeout=20 * UNIT)
    for name in ("alice", "bob"):
        wait_until(lambda n=name: is_red(bot.peer(n).video.latest()), 10 * UNIT,
                   f"red frames from {name}")
    alice.wait_decoding(["bot", "bob"])
    bob.wait_decoding(["bot", "alice"])
    ids = {p["name"]: p["peerId"] for p in alice.snapshot()["peers"]}
    assert ids["bob"] == bob.snapshot()["peerId"]


def test_chat_between_page_and_bot(call_page, bots):
    """Chat typed on the page reaches the bot's room.messages, and room.send reaches the page."""
    bot = bots("t3", "bot")
    page = call_page().open(session="t3", name="alice", camera="0", mic="0", **QUERY)
    page.wait_state("joined")
    wait_until(lambda: len(bot.peers) == 1, 5 * UNIT, "the bot to see the page")
    page.page.click("#btn-chat")
    page.page.fill("#chat-input", "hello from the page")
    page.page.press("#chat-input", "Enter")
    entry = wait_until(lambda: next(iter(bot.messages), None), 5 * UNIT, "chat at the bot")
    assert entry["data"] == "hello from the page" and entry["name"] == "alice"
    bot.send("hello from the bot")
    bot.send({"text": "structured", "n": 1})
    page.page.wait_for_function("() => window.zeroNb.messages.length >= 3",
                                timeout=5000 * UNIT)
    received = [m for m in page.snapshot()["messages"] if not m["self"]]
    assert [m["data"] for m in received] == ["hello from the bot", {"text": "structured",
                                                                    "n": 1}]
    assert all(m["name"] == "bot" for m in received)
    log = page.page.inner_text("#chat-log")
    assert "hello from the bot" in log and "structured" in log


def test_wrong_password_is_shown_on_the_page(call_page, bots):
    """Joining a protected session with a wrong password shows a clear message and the form."""
    bots("t4", "host", password="right")
    page = call_page().open(session="t4", name="mallory", camera="0", mic="0")
    page.page.fill("#f-password", "wrong")
    page.page.click("#join-btn")
    status = page.page.locator("#status[data-code='bad-password']")
    status.wait_for(timeout=5000 * UNIT)
    assert "password" in status.inner_text().lower()
    assert page.page.is_visible("#join-form")
    snap = page.snapshot()
    assert snap["state"] == "failed" and snap["error"]["code"] == "bad-password"


def test_page_survives_a_server_restart(call_page, bots, bg_server):
    """When the server restarts on the same port, the page re-joins and rebuilds its mesh."""
    bots("t5", "bot", video=sources.solid(BLUE))
    page = call_page().open(session="t5", name="alice", **QUERY)
    page.wait_decoding(["bot"])
    old_id = page.snapshot()["peerId"]
    port = bg_server.port
    bg_server.stop()
    page.wait_state("reconnecting", timeout=10 * UNIT)
    status = page.page.locator("#status[data-code='server-gone']")
    assert "reconnecting" in status.inner_text(timeout=2000 * UNIT).lower()
    server = zero_nb.serve("127.0.0.1", port)
    try:
        snap = page.wait_state("joined", timeout=20 * UNIT)
        assert snap["peerId"] != old_id and snap["rejoins"] == 1
        wait_until(lambda: {p["name"] for p in server.sessions().get("t5", [])}
                   == {"alice", "bot"}, 20 * UNIT, "page and bot back in the session")
        ids = {p["name"]: p["peer_id"] for p in server.sessions()["t5"]}
        assert ids["alice"] == page.snapshot()["peerId"]
        stats = page.wait_decoding(["bot"])
        assert stats["bot"]["id"] == ids["bot"]
        assert page.page.locator("#conn").inner_text() == "connected"
    finally:
        server.stop()


def test_page_loads_without_leaving_the_machine(call_page, bots, bg_server):
    """Loading and joining fetches only from the local server: no CDN, no outside request."""
    bots("t6", "bot", video=sources.solid(BLUE))
    page = call_page()
    requests: list[str] = []
    failed: list[str] = []
    page.page.on("request", lambda r: requests.append(r.url))
    page.page.on("websocket", lambda ws: requests.append(ws.url))
    page.page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.open(session="t6", name="alice", **QUERY)
    page.wait_decoding(["bot"])
    local = (f"http://127.0.0.1:{bg_server.port}/", f"ws://127.0.0.1:{bg_server.port}/")
    outside = [u for u in requests if not u.startswith(local) and not u.startswith("data:")]
    assert not outside, outside
    assert any(u.endswith("/rtc/mesh.js") for u in requests) and not failed, failed
    assert not page.console_errors


def test_mute_and_camera_off_reach_the_bot_without_renegotiation(call_page, bots):
    """Mute and camera off silence and blacken what the bot receives, with no new offer."""
    page = call_page().open(session="t7", name="alice", **QUERY)
    page.wait_state("joined")
    bot = bots("t7", "bot")  # the newcomer: this time the page offers to the kernel
    bot.wait_for_peers(1, timeout=20 * UNIT)
    alice = bot.peer("alice")
    wait_until(lambda: is_red(alice.video.latest()), 10 * UNIT, "red frames from the page")
    wait_until(lambda: alice.audio.levels(1.0).max(initial=-200) > -60, 10 * UNIT,
               "the page's beep at the bot")
    before = page.snapshot()["peers"][0]
    page.page.click("#btn-mute")
    page.page.click("#btn-camera")
    wait_until(lambda: (m := mean_rgb(alice.video.latest())) is not None and m.max() < 20,
               10 * UNIT, f"black frames (last mean {mean_rgb(alice.video.latest())})")
    wait_until(lambda: (lv := alice.audio.levels(1.0)).size > 10 and lv.max() < -90,
               10 * UNIT, "silence at the bot")
    page.page.click("#btn-camera")
    wait_until(lambda: is_red(alice.video.latest()), 10 * UNIT, "red frames again")
    after = page.snapshot()["peers"][0]
    assert before["offersSent"] == 1 and before["answersSent"] == 0
    assert (after["offersSent"], after["answersSent"], after["restarts"]) == (1, 0, 0)
    assert page.page.inner_text("#btn-mute") == "Unmute"


def test_sfu_session_is_refused_clearly(browser, red_clip):
    """A `joined` carrying an `sfu` field shows a clear 'not supported' message, no breakage."""
    from zero_nb._loop import LoopThread
    from zero_nb.signaling.core import SessionHooks
    from zero_nb.signaling.server import SignalingServer

    hooks = SessionHooks(joined_extra=lambda s: {"sfu": {"room": 1234}})
    server = SignalingServer("127.0.0.1", 0, hooks=hooks)
    thread = LoopThread("sfu-test-server")
    try:
        thread.run(server.start(), 10.0, "starting the server")
        page = browser(red_clip).new_page()
        page.goto(server.link("s1", name="alice", autojoin="1", camera="0", mic="0"))
        status = page.locator("#status[data-code='sfu-unsupported']")
        status.wait_for(timeout=5000 * UNIT)
        assert "SFU" in status.inner_text()
        snap = page.evaluate("() => window.zeroNb.snapshot()")
        assert snap["state"] == "failed" and snap["peers"] == []
        # the page left again: the session is empty
        wait_until(lambda: thread.run(_sessions(server), 5.0, "reading sessions") == {},
                   5 * UNIT, "the page to leave the SFU session")
    finally:
        thread.run(server.stop(), 10.0, "stopping the server")
        thread.stop()


async def _sessions(server):
    return server.sessions()
