"""The web page in an SFU session: it talks to real Janus itself, alongside kernel bots."""

from __future__ import annotations

import numpy as np
import pytest

import zero_nb
from tests import sfu_support
from tests.browser.helpers import wait_until
from tests.conftest import MEDIA_CONFIG, UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

janus = sfu_support.janus  # the fixture: real Janus with ICE on a veth holding 127.0.0.1/32
COLOURS = {"green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
QUERY = {"autojoin": "1", "processing": "0"}


sfu_server = sfu_support.sfu_server

# frame width and frames encoded of each simulcast layer the page publishes
LAYERS_JS = """async () => { const out = [];
  const pub = window.zeroNb.topology.publisher;
  if (!pub || !pub.pc) return out;
  (await pub.pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") out.push([s.frameWidth ?? 0,
      s.framesEncoded ?? 0]); });
  return out; }"""


@pytest.fixture
def sfu_bots(sfu_server):
    """Factory: ``sfu_bots(session, name)`` -> a solid-colour bot, left at teardown."""
    rooms = []

    def join(session, name):
        room = zero_nb.join(session, sfu_server.url, name=name, config=MEDIA_CONFIG,
                            video=sources.solid(COLOURS[name], 160, 120, fps=15),
                            audio=sources.tone(440, -12))
        rooms.append(room)
        return room

    yield join
    for room in rooms:
        room.leave()


def is_red(img: np.ndarray | None) -> bool:
    rgb = None if img is None else img.reshape(-1, 3).mean(axis=0)
    return rgb is not None and rgb[0] > 200 and rgb[1] < 50 and rgb[2] < 50


def test_page_and_two_bots_exchange_media_through_janus(call_page, sfu_server, sfu_bots):
    """The page decodes both bots via Janus, both bots get its red clip, leaving unpublishes."""
    bots = [sfu_bots("sp", "green"), sfu_bots("sp", "blue")]
    page = call_page(sfu_server).open(session="sp", name="alice", **QUERY)
    page.wait_state("joined")
    stats = page.wait_decoding(["green", "blue"], 30 * UNIT)
    assert all(stats[n]["samples"] > 0 for n in ("green", "blue"))  # audio arrives too
    snap = page.snapshot()
    sfu = snap["topology"]
    assert (sfu["topology"], sfu["kind"], sfu["error"]) == ("sfu", "janus", None)
    assert sfu["state"] == "publishing"
    assert set(sfu["feeds"]) == {b.peer_id for b in bots}
    for bot in bots:
        wait_until(lambda b=bot: b.peer("alice") and is_red(b.peer("alice").video.latest()),
                   20 * UNIT, f"{bot.name} to receive the page's red clip through Janus")
        img = bot.peer("alice").video.latest()
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    page_id = snap["peerId"]
    assert all(b.topology.feeds.get(page_id) for b in bots)  # the page published as its peer_id
    page.page.evaluate("() => window.zeroNb.leave()")
    wait_until(lambda: all(page_id not in b.topology.feeds and page_id not in b.peers
                           for b in bots),
               10 * UNIT, "the page's feed to disappear from the bots after leave()")
    assert not page.console_errors


def test_janus_killed_mid_call_shows_sfu_lost_and_chat_continues(call_page, sfu_server,
                                                                 sfu_bots, janus):
    """Killing Janus mid-call: the page says 'SFU lost' (sfu-lost), chat still reaches the bot."""
    bot = sfu_bots("sk", "green")
    page = call_page(sfu_server).open(session="sk", name="alice", **QUERY)
    page.wait_decoding(["green"], 30 * UNIT)
    janus.kill()
    status = page.page.locator("#status[data-code='sfu-lost']")
    status.wait_for(timeout=10_000 * UNIT)
    assert "SFU lost" in status.inner_text()
    snap = page.snapshot()
    assert snap["state"] == "joined" and snap["topology"]["state"] == "failed"
    assert [p["state"] for p in snap["peers"]] == ["failed"]
    page.page.evaluate("() => window.zeroNb.send('still here')")
    wait_until(lambda: any(m["data"] == "still here" for m in bot.messages), 5 * UNIT,
               "chat to reach the bot after Janus died")


def test_page_publishes_simulcast_and_a_kernel_switches_layers(browser, sfu_server):
    """The page (fake camera 640x480) publishes two simulcast layers through Janus; a kernel
    subscribed at 'low' gets frames <= 320 wide, 'high' brings 640x480 within 3 s and reads
    "high" (not Janus' index name), and back."""
    from tests.browser.helpers import Page

    teacher = zero_nb.join("sim", sfu_server.url, name="teacher", config=MEDIA_CONFIG)
    try:
        context = browser(None)  # Chromium's own fake camera: 640x480, moving
        tab = context.pages[0] if context.pages else context.new_page()
        page = Page(tab, sfu_server).open(
            session="sim", name="student", **QUERY)
        page.wait_state("joined")
        teacher.subscribe(layer="low")
        peer = wait_until(lambda: teacher.peers and teacher.peer("student"), 20 * UNIT,
                          "the student in the teacher's room")
        feed = peer.video

        def width() -> int:
            img = feed.latest()
            return 0 if img is None else img.shape[1]

        wait_until(lambda: 0 < width() <= 320, 30 * UNIT, "low-layer frames (<= 320 wide)")
        assert feed.layer == "low"
        # the browser ramps its layers up with its bandwidth estimate: switch once the
        # high layer is being encoded (the 3 s is Janus' switch, not Chromium's ramp)
        wait_until(lambda: any(w == 640 and n > 30 for w, n in tab.evaluate(LAYERS_JS)),
                   15 * UNIT, "the page to encode its 640-wide layer")
        peer.set_layer("high")
        wait_until(lambda: width() == 640, 3 * UNIT + 1, "the high layer (640 wide)")
        # the top layer is "high" whatever the publisher sends (Janus calls it substream 1)
        wait_until(lambda: feed.layer == "high", 5 * UNIT, f"'high', not {feed.layer!r}")
        assert feed.latest().shape == (480, 640, 3)
        row = teacher.stats()[peer.peer_id]["in"]["video"]
        assert row["layer"] == feed.layer  # the layer is in stats too
        peer.set_layer("low")  # at once: within Janus' one-PLI-a-second window
        wait_until(lambda: 0 < width() <= 320, 3 * UNIT + 1, "the low layer again")
        assert feed.layer == "low"
        assert not page.console_errors
    finally:
        teacher.leave()


# the teacher page's view of one peer: the layer Janus says it sends, the width decoded
PEER_LAYER_JS = """async (id) => { const peer = window.zeroNb.peers.get(id);
  const s = peer ? await peer.stats() : null;
  return s ? [s.layer, s.video.width ?? 0, s.video.framesDecoded ?? 0] : null; }"""


def test_page_gallery_asks_for_thumbnails_and_the_pinned_high_layer(browser, call_page,
                                                                      sfu_server, sfu_bots):
    """Five tiles on the teacher's page: a simulcast student (fake camera 640x480) arrives as
    a thumbnail (low layer, <= 320 wide); pinning it brings the 640-wide layer, unpinning
    the low one again (js/ui/layers.js asks Janus through sfu_subscriber.js)."""
    from tests.browser.helpers import Page

    for name in COLOURS:  # three small bots: with the teacher and the student, 5 tiles
        sfu_bots("lay", name)
    context = browser(None)  # Chromium's own fake camera: 640x480, two simulcast layers
    tab = context.pages[0] if context.pages else context.new_page()
    student = Page(tab, sfu_server).open(
        session="lay", name="student", mic="0", **QUERY)  # no sound: never the active speaker
    student.wait_state("joined")
    teacher = call_page(sfu_server).open(session="lay", name="teacher", **QUERY)
    teacher.wait_decoding([*COLOURS, "student"], 30 * UNIT)
    sid = next(p["peerId"] for p in teacher.snapshot()["peers"] if p["name"] == "student")
    assert teacher.page.locator(".znb-tile").count() == 5

    def layer() -> list:
        return teacher.page.evaluate(PEER_LAYER_JS, sid) or [None, 0, 0]

    wait_until(lambda: 0 < layer()[1] <= 320 and layer(), 20 * UNIT,
               "the student as a thumbnail (<= 320 wide)")
    # Chromium ramps its layers up with its bandwidth estimate: pin once the student
    # encodes the 640-wide layer (the wait after the click is Janus' switch)
    wait_until(lambda: any(w == 640 and n > 30 for w, n in tab.evaluate(LAYERS_JS)),
               15 * UNIT, "the student to encode its 640-wide layer")
    tile = teacher.page.locator(f".znb-tile[data-peer='{sid}']")
    tile.click()
    got = wait_until(lambda: (v := layer())[1] == 640 and v, 10 * UNIT,
                     "the pinned student's 640-wide layer")
    assert got[0] == "high"  # two layers at VGA: the top one (Janus substream 1)
    tile.click()  # unpin: a thumbnail again
    got = wait_until(lambda: 0 < (v := layer())[1] <= 320 and v, 10 * UNIT,
                     "the low layer again after unpinning")
    assert got[0] == "low"
    assert not teacher.console_errors and not student.console_errors


def test_page_keeps_a_kernels_tile_while_its_layer_count_changes(call_page, sfu_server):
    """A kernel goes from 640x480 (2 layers) to 1280x720 (3) and back while a page watches
    it pinned: the tile stays, frames keep being decoded, the page gets 1280 wide at 3
    layers and 640 again at 2, all on the same subscription (no renegotiation)."""
    bot = zero_nb.join("recount", sfu_server.url, name="green", config=MEDIA_CONFIG,
                       video=sources.solid(COLOURS["green"], 640, 480, fps=15))
    try:
        page = call_page(sfu_server).open(session="recount", name="teacher", **QUERY)
        page.wait_decoding(["green"], 30 * UNIT)
        gid = next(p["peerId"] for p in page.snapshot()["peers"] if p["name"] == "green")
        tile = page.page.locator(f".znb-tile[data-peer='{gid}']")
        tile.click()  # pinned: the high layer

        def view() -> list:
            return page.page.evaluate(PEER_LAYER_JS, gid) or [None, 0, 0]

        wait_until(lambda: view()[1] == 640, 10 * UNIT, "the pinned kernel at 640 wide")
        for size, width, count in (((1280, 720), 1280, 3), ((640, 480), 640, 2)):
            before = view()[2]
            bot.set_source(video=sources.solid(COLOURS["green"], *size, fps=15))
            wait_until(lambda c=count: bot.topology.layer_count == c, 10 * UNIT,
                       f"the kernel to send {count} layers")
            wait_until(lambda w=width: view()[1] == w, 10 * UNIT, f"{width} wide at the page")
            assert view()[2] > before and tile.count() == 1
        page.wait_decoding(["green"], 5 * UNIT)
        assert not page.console_errors
    finally:
        bot.leave()
