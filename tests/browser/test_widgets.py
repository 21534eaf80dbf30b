"""The anywidget front end in real JupyterLab + headless Chromium, against a bot on loopback."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import sfu_support
from tests.browser.helpers import CHROMIUM, FLAGS, screenshot_path, wait_until
from tests.browser.jupyter import JupyterLab, jupyter_lab, write_notebook
from tests.conftest import UNIT, serving
from zero_nb import sources
from zero_nb.widgets.conference import ERROR_HOLD_S

pytestmark = pytest.mark.media

janus = sfu_support.janus  # real Janus (ICE on a veth holding 127.0.0.1/32) for SFU sessions
sfu_server = sfu_support.sfu_server

BLUE = (0, 0, 255)
CFG = '{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}'

# every local-link stat of the page (the hook js/widgets/link.js keeps for tests)
LINK_STATS_JS = """async () => {
  const links = [...(window.zeroNbWidgets?.links ?? [])];
  return Promise.all(links.map((l) => l.stats()));
}"""




# one server for the module: its Jupyter server gets the URL when it starts
bg_server = pytest.fixture(serving, scope="module", name="bg_server")

@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory, bg_server: Any) -> Iterator[JupyterLab]:
    """One Jupyter server for every test here (it serves Lab and, with `notebook`, Notebook 7)."""
    root = tmp_path_factory.mktemp("lab") / "nb"
    root.mkdir()
    with jupyter_lab(root, {"ZNB_URL": bg_server.url}) as lab:
        yield lab


@pytest.fixture
def lab(lab_server: JupyterLab) -> Iterator[JupyterLab]:
    """The shared server; afterwards the test's kernels and Lab workspaces are deleted."""
    yield lab_server
    lab_server.reset()


def mean_rgb(img: np.ndarray | None) -> np.ndarray | None:
    return None if img is None else img.reshape(-1, 3).mean(axis=0)


def is_red(img: np.ndarray | None) -> bool:
    if img is None:
        return False
    r, g, b = img.reshape(-1, 3).mean(axis=0)
    return r > 200 and g < 50 and b < 50


def link_stats(page, widget: str) -> dict:
    stats = [s for s in page.evaluate(LINK_STATS_JS) if s["widget"] == widget]
    return stats[0] if stats else {}


def counts(page, peer, seconds: float) -> tuple[float, float]:
    """(frames/s the bot receives from ``peer``, frames/s the Conference page decodes)."""
    got, shown = peer.video.frame_count, link_stats(page, "Conference")["framesDecoded"]
    time.sleep(seconds)
    return ((peer.video.frame_count - got) / seconds,
            (link_stats(page, "Conference")["framesDecoded"] - shown) / seconds)


def test_conference_in_jupyterlab_exchanges_media_with_a_bot(lab, browser, red_clip, bots):
    """A notebook's Conference sends the browser camera to a bot as numpy, shows the bot's
    video, and keeps both flowing through a 10 s time.sleep in a cell."""
    bot = bots("wconf", "bot", video=sources.solid(BLUE), audio=sources.tone(440, -6))
    write_notebook(lab.root / "call.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wconf', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room",
        "import time\ntime.sleep(10)",
    ])
    page = browser(red_clip).new_page()
    page.set_viewport_size({"width": 900, "height": 700})
    lab.open(page, "call.ipynb")
    lab.run_cell(page, 0)
    page.wait_for_selector(".znb-conference", timeout=30_000 * UNIT)
    bot.wait_for_peers(1, timeout=30 * UNIT)
    nb = bot.peer("nb")
    wait_until(lambda: is_red(nb.video.latest()), 20 * UNIT,
               "red frames from the notebook's browser camera at the bot")
    first = wait_until(lambda: (s := link_stats(page, "Conference")).get(
        "framesDecoded", 0) > 0 and s, 20 * UNIT, "the page to decode the bot's video")
    wait_until(lambda: link_stats(page, "Conference")["framesDecoded"]
               > first["framesDecoded"] + 10, 5 * UNIT, "framesDecoded to advance")
    wait_until(lambda: nb.audio.frame_count > 10, 10 * UNIT, "the page's mic at the bot")

    # a busy cell: only signaling waits, media keeps flowing both ways. On 2 shared cores
    # the fps swings, so compare loosely with the rate just before (on the kernel's own
    # loop it would be 0 until the cell ends)
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    # Chrome's video may pause for a second or two early in a call (seen here): start
    # measuring once it has settled
    wait_until(lambda: nb.video.frame_count > 90, 20 * UNIT, "3 s of video at the bot")
    idle = counts(page, nb, 2.0)
    lab.run_cell(page, 1)
    wait_until(lambda: lab.kernel_states() == ["busy"], 5 * UNIT, "the sleeping cell")
    # four 2 s windows inside the 10 s sleep: no window may stall
    windows = [counts(page, nb, 2.0) for _ in range(4)]
    assert lab.kernel_states() == ["busy"], "the cell should still be sleeping"
    print(f"fps idle (bot, page) {idle}, during time.sleep {windows}")
    for busy in windows:
        for what, rate_idle, rate_busy in zip(("bot received", "page decoded"), idle, busy,
                                              strict=True):
            assert rate_busy > max(3.0, 0.25 * rate_idle), (
                f"{what} {rate_busy:.1f} fps while the cell slept, {rate_idle:.1f} before")
    assert is_red(nb.video.latest())

    wait_until(lambda: lab.kernel_states() == ["idle"], 15 * UNIT, "the cell to finish")
    tiles = page.locator(".znb-tile")
    assert tiles.count() == 2
    assert "bot" in page.locator(".znb-conference").inner_text()
    page.locator(".znb-conference").screenshot(path=str(screenshot_path("widget.png")))


def cell_text(page, index: int) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(
        ".jp-OutputArea").inner_text()


def test_camera_videoview_meter_and_stats_in_jupyterlab(lab, browser, red_clip, bots):
    """Camera() feeds a room as video=cam/audio=cam; VideoView shows a mapped kernel feed;
    AudioMeter and StatsPanel update; closing the widgets leaves no link open."""
    bot = bots("wcam", "bot", video=sources.solid(BLUE))
    write_notebook(lab.root / "cam.ipynb", [
        "import os, zero_nb\n"
        "from zero_nb.widgets import AudioMeter, Camera, StatsPanel, VideoView\n"
        f"cfg = {CFG}\n"
        "cam = Camera(config=cfg)\ncam",
        "room = zero_nb.join('wcam', os.environ['ZNB_URL'], name='cam', video=cam, audio=cam,"
        " config=cfg)\n"
        "inverted = cam.video.map(lambda a: 255 - a)\n"
        "display(VideoView(inverted, config=cfg), AudioMeter(cam.audio), StatsPanel(room))",
        "from zero_nb.kernel_rtc import link\n"
        "cam.close(); room.leave()\n"
        "print('live links', len([k for k in link._live if k.view != 'x']),"
        " 'red', cam.video.latest().reshape(-1, 3).mean(0).round())",
    ])
    page = browser(red_clip).new_page()
    lab.open(page, "cam.ipynb")
    lab.run_cell(page, 0)
    wait_until(lambda: link_stats(page, "Camera").get("state") == "connected", 20 * UNIT,
               "the Camera's link to connect")
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 1)
    bot.wait_for_peers(1, timeout=30 * UNIT)
    cam = bot.peer("cam")
    wait_until(lambda: is_red(cam.video.latest()), 20 * UNIT, "the Camera's red at the bot")
    wait_until(lambda: cam.audio.frame_count > 10, 10 * UNIT, "the Camera's mic at the bot")
    first = wait_until(lambda: link_stats(page, "VideoView").get("framesDecoded", 0),
                       20 * UNIT, "the VideoView to decode the mapped feed")
    wait_until(lambda: link_stats(page, "VideoView")["framesDecoded"] > first + 10,
               5 * UNIT, "VideoView framesDecoded to advance")
    wait_until(lambda: "dBFS" in page.locator(".znb-audio-meter").inner_text(), 10 * UNIT,
               "a level on the AudioMeter")
    wait_until(lambda: "bot" in page.locator(".znb-stats-table").inner_text(), 10 * UNIT,
               "the bot in the StatsPanel")
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 2)
    out = wait_until(lambda: "live links" in (t := cell_text(page, 2)) and t, 20 * UNIT,
                     "the closing cell's output")
    assert "live links 1 " in out and "red [" in out  # only the VideoView's link is left
    wait_until(lambda: [s["widget"] for s in page.evaluate(LINK_STATS_JS)] == ["VideoView"],
               10 * UNIT, "the page to drop the Camera's link")
    wait_until(lambda: not bot.peers, 10 * UNIT, "the notebook to leave the session")


def output_numbers(page, index: int, tag: str) -> list[float]:
    """The numbers after ``tag`` in cell ``index``'s output (waits for the cell to print)."""
    text = wait_until(lambda: tag in (t := cell_text(page, index)) and t, 20 * UNIT,
                      f"cell {index} to print {tag!r}")
    line = next(ln for ln in text.splitlines() if tag in ln)
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", line.split(tag, 1)[1])]


def max_level(feed, seconds: float = 1.0) -> float:
    levels = feed.levels(seconds)
    return float(np.max(levels)) if len(levels) else -120.0


def button(page, name: str):
    return page.locator(".znb-conference .znb-controls button", has_text=re.compile(f"^{name}$"))


def test_kernel_latest_filter_mute_and_camera_off(lab, browser, red_clip, bots):
    """latest() is the browser camera, a kernel filter is what the bot gets, Mute/Camera off act,
    a failing filter shows a banner on your tile until it is removed."""
    bot = bots("wfilt", "bot", video=sources.solid(BLUE))
    page = browser(red_clip).new_page()
    lab.show_conference(page, "filter.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wfilt', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room",
        "print('latest', room.local.video.latest().reshape(-1, 3).mean(0).round())",
        "room.local.video.add_filter(lambda img: 255 - img)",
        "def broken(img):\n    raise ValueError('lens cap on')\n"
        "room.local.video.add_filter(broken)",
        "room.local.video.remove_filter(broken)",
    ])
    bot.wait_for_peers(1, timeout=30 * UNIT)
    nb = bot.peer("nb")
    wait_until(lambda: is_red(nb.video.latest()), 20 * UNIT, "red at the bot")
    wait_until(lambda: max_level(nb.audio, 2.0) > -50, 10 * UNIT, "the page's mic at the bot")
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")

    # 4. the kernel reads the browser camera
    lab.run_cell(page, 1)
    r, g, b = output_numbers(page, 1, "latest")
    assert r > 200 and g < 50 and b < 50, f"room.local.video.latest() mean {(r, g, b)}"

    # 2. Mute -> silence at the bot; Unmute -> sound again
    button(page, "Mute").click()
    wait_until(lambda: nb.audio.frame_count and max_level(nb.audio, 1.0) < -60, 10 * UNIT,
               "silence at the bot after Mute")
    button(page, "Unmute").click()
    wait_until(lambda: max_level(nb.audio, 1.0) > -50, 10 * UNIT, "sound again after Unmute")

    # 2. Camera off -> black at the bot; Camera on -> red again
    button(page, "Camera off").click()
    wait_until(lambda: (m := mean_rgb(nb.video.latest())) is not None and m.max() < 30,
               10 * UNIT, "black frames at the bot after Camera off")
    button(page, "Camera on").click()
    wait_until(lambda: is_red(nb.video.latest()), 10 * UNIT, "red again after Camera on")

    # 1. a kernel filter on the browser-fed room: the bot receives inverted red (cyan)
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 2)
    wait_until(lambda: (m := mean_rgb(nb.video.latest())) is not None and m[0] < 50
               and m[1] > 200 and m[2] > 200, 15 * UNIT, "cyan (inverted red) at the bot")

    # a filter that fails: a banner on your tile while it fails, gone once it is removed
    banner = page.locator(".znb-conference .znb-local .znb-banner")
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 3)
    banner.wait_for(state="visible", timeout=10_000 * UNIT)
    assert "lens cap on" in banner.inner_text()
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 4)
    banner.wait_for(state="hidden", timeout=(ERROR_HOLD_S + 10) * 1000 * UNIT)


def test_conference_renders_in_notebook7(lab, browser, red_clip, bots):
    """The Conference renders in Notebook 7 (/notebooks/...) and sends the camera to a bot."""
    pytest.importorskip("notebook", minversion="7")
    bot = bots("wnb7", "bot", video=sources.solid(BLUE))
    write_notebook(lab.root / "nb7.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wnb7', os.environ['ZNB_URL'], name='nb7', config={CFG})\n"
        "room",
        "print('done', 7 * 6)",
    ])
    page = browser(red_clip).new_page()
    lab.run_all_notebook7(page, "nb7.ipynb")
    page.wait_for_selector(".znb-conference", timeout=30_000 * UNIT)
    wait_until(lambda: "done 42" in cell_text(page, 1), 20 * UNIT, "the second cell's output")
    bot.wait_for_peers(1, timeout=30 * UNIT)
    nb = bot.peer("nb7")
    wait_until(lambda: is_red(nb.video.latest()), 20 * UNIT, "red from Notebook 7 at the bot")
    start = nb.video.frame_count
    wait_until(lambda: nb.video.frame_count > start + 30, 10 * UNIT, "frames to keep coming")
    wait_until(lambda: link_stats(page, "Conference").get("framesDecoded", 0) > 10, 20 * UNIT,
               "the page to decode the bot's video")
    assert page.locator(".znb-conference .znb-tile").count() == 2


@pytest.fixture
def denying_browser(tmp_path: Path) -> Iterator[Any]:
    """A Chromium context that denies camera and microphone (no fake-UI auto-accept)."""
    from playwright.sync_api import sync_playwright

    flags = [f for f in FLAGS if f != "--use-fake-ui-for-media-stream"]
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "denied"), executable_path=CHROMIUM, headless=True,
            args=[*flags, "--deny-permission-prompts"], permissions=[],
            viewport={"width": 900, "height": 700})
        context.clear_permissions()
        try:
            yield context
        finally:
            context.close()


def test_permission_denied_shows_message_and_kernel_goes_on(lab, denying_browser):
    """Denied camera/mic: Conference and Camera say so, the room's `error` event hears it
    (the Conference tells the kernel), and the next cell still runs."""
    write_notebook(lab.root / "denied.ipynb", [
        "import os, zero_nb\n"
        "from zero_nb.widgets import Camera\n"
        f"cfg = {CFG}\n"
        "room = zero_nb.join('wdeny', os.environ['ZNB_URL'], name='nb', config=cfg)\n"
        "errors = []\n"
        "room.on('error', lambda peer, text: errors.append((peer, text)))\n"
        "room",
        "cam = Camera(config=cfg)\ncam",
        "print('after', room.closed, cam.video.frame_count)",
        "print('errors', errors, 'camera error', repr(cam.error))",
    ])
    page = denying_browser.new_page()
    lab.open(page, "denied.ipynb")
    for i in range(3):
        lab.run_cell(page, i)
    out = wait_until(lambda: "after" in (t := cell_text(page, 2)) and t, 30 * UNIT,
                     "the cell after the widgets to finish")
    assert "after False 0" in out
    for widget in (".znb-conference", ".znb-camera"):
        wait_until(lambda w=widget: "permission denied" in page.locator(
            f"{w} .znb-status").inner_text().lower(), 10 * UNIT, f"the message in {widget}")
    # the message stays once the (receive-only) local link has connected
    wait_until(lambda: [s["state"] for s in page.evaluate(LINK_STATS_JS)]
               == ["connected", "connected"], 20 * UNIT, "both links to connect")
    time.sleep(1)
    for widget in (".znb-conference", ".znb-camera"):
        assert "permission denied" in page.locator(f"{widget} .znb-status").inner_text().lower()
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    # the page's report reached the kernel before its link's offer (one ordered comm)
    lab.run_cell(page, 3)
    out = wait_until(lambda: "errors" in (t := cell_text(page, 3)) and t, 20 * UNIT,
                     "the errors cell's output")
    errors, camera = out.split("camera error", 1)
    assert "errors [(None, " in errors and "browser media: Camera/microphone permission denied" \
        in errors, out
    assert "browser media: Camera/microphone permission denied" in camera, out


# the Conference's own Janus subscriptions (js/rtc/sfu_viewer.js, the hook link.js keeps)
VIEWER_STATS_JS = """async () => { const out = {};
  for (const viewer of window.zeroNbWidgets?.viewers ?? []) {
    for (const [id, s] of Object.entries(await viewer.stats())) {
      out[viewer.peers.get(id)?.name ?? id] = { state: s?.state ?? null,
        frames: s?.video?.framesDecoded ?? 0, samples: s?.audio?.samples ?? 0,
        e2ee: viewer.peers.get(id)?.e2ee ?? null, id,
        width: s?.video?.width ?? 0, layer: s?.layer ?? null,
        pcs: viewer.peers.get(id)?.pc?.getTransceivers().map((t) => t.direction) };
    }
  }
  return out; }"""


@pytest.mark.parametrize("e2ee", [None, "s3cret"], ids=["plain", "e2ee"])
def test_conference_in_an_sfu_session_receives_from_janus_itself(lab, browser, red_clip,
                                                                   sfu_server, janus, e2ee):
    """In an SFU session the Conference's browser decodes the others straight from Janus
    (its own recvonly subscriptions; with E2EE it opens the frames with the kernel's key),
    the kernel link carries only the page's camera and mic (no slots, nothing re-encoded),
    the bots still get the notebook's camera, and a lost Janus shows an error in the widget."""
    import zero_nb
    from tests.conftest import MEDIA_CONFIG

    session = f"wsfu{'e' if e2ee else ''}"
    bots = [zero_nb.join(session, sfu_server.url, name=name, config=MEDIA_CONFIG, e2ee=e2ee,
                         video=sources.solid(rgb, 160, 120, fps=15),
                         audio=sources.tone(440, -12))
            for name, rgb in (("green", (0, 255, 0)), ("blue", BLUE))]
    try:
        page = browser(red_clip).new_page()
        lab.show_conference(page, "sfu.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join({session!r}, {sfu_server.url!r}, name='nb', config={CFG}, "
            f"e2ee={e2ee!r})\n"
            "w = room.widget()\nw",
            "sent = sum(t.sent for pair in w.link._tracks for t in pair)\n"
            "print('kernel link: slots', w.slots, len(w.link._tracks), 'sent', sent)",
        ])
        for bot in bots:
            wait_until(lambda b=bot: b.peer("nb") and is_red(b.peer("nb").video.latest()),
                       30 * UNIT, f"{bot.name} to receive the notebook's red camera")

        def decoding(floor: dict) -> dict | bool:
            stats = page.evaluate(VIEWER_STATS_JS)
            ok = all(stats.get(n, {}).get("state") == "connected"
                     and stats[n]["frames"] > floor.get(n, 0) for n in ("green", "blue"))
            return stats if ok else False

        first = wait_until(lambda: decoding({}), 30 * UNIT,
                           "the widget's browser to decode both bots from Janus")
        wait_until(lambda: decoding({n: first[n]["frames"] + 10 for n in first}), 5 * UNIT,
                   "framesDecoded from Janus to advance")
        for name in ("green", "blue"):
            assert first[name]["pcs"] == ["recvonly", "recvonly"]
            assert first[name]["e2ee"] == ("ok" if e2ee else None)
        wait_until(lambda: page.evaluate("""() => [...document.querySelectorAll(
            '.znb-conference .znb-tile:not(.znb-local) video')].filter(
            (v) => v.srcObject && v.videoWidth > 0).length""") == 2, 10 * UNIT,
            "video on both bots' tiles")
        link = link_stats(page, "Conference")
        assert link["state"] == "connected" and link["framesSent"] > 0
        assert link["framesDecoded"] == 0 and link["bytesReceived"] == 0  # nothing forwarded
        wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
        lab.run_cell(page, 1)
        assert output_numbers(page, 1, "kernel link: slots") == [0, 0, 0]
        # Janus goes away: the widget says so (its viewer and the kernel both notice)
        janus.kill()
        wait_until(lambda: "SFU lost" in page.locator(".znb-conference").inner_text(),
                   15 * UNIT, "the widget to show that the SFU was lost")
    finally:
        for bot in bots:
            bot.leave()


def test_conference_gallery_asks_janus_for_thumbnails_and_the_pinned_layer(
        lab, browser, red_clip, sfu_server):
    """Five tiles in the Conference of an SFU session: the bots (kernels simulcast 320x240
    and a half-size layer) arrive as low-layer thumbnails; pinning one brings its 320-wide
    layer, unpinning the thumbnail again (js/ui/layers.js through the widget's viewer)."""
    import zero_nb
    from tests.conftest import MEDIA_CONFIG

    bots = [zero_nb.join("wlay", sfu_server.url, name=f"b{i}", config=MEDIA_CONFIG,
                         video=sources.test_pattern(320, 240, fps=15), audio=None)
            for i in range(4)]
    try:
        page = browser(red_clip, viewport={"width": 1000, "height": 900}).new_page()
        lab.show_conference(page, "lay.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join('wlay', {sfu_server.url!r}, name='nb', config={CFG})\n"
            "room",
        ])

        def widths() -> dict:
            return {n: s["width"] for n, s in page.evaluate(VIEWER_STATS_JS).items()}

        wait_until(lambda: len(w := widths()) == 4 and all(0 < x <= 160 for x in w.values()),
                   40 * UNIT, "every bot as a low-layer thumbnail (<= 160 wide)")
        target = page.evaluate(VIEWER_STATS_JS)["b2"]["id"]
        tile = page.locator(f".znb-conference .znb-tile[data-peer='{target}']")
        tile.click()
        wait_until(lambda: widths()["b2"] == 320, 10 * UNIT, "the pinned bot's 320-wide layer")
        assert page.evaluate(VIEWER_STATS_JS)["b2"]["layer"] in ("mid", "high")
        assert all(x <= 160 for n, x in widths().items() if n != "b2")  # still thumbnails
        tile.click()
        wait_until(lambda: widths()["b2"] <= 160, 10 * UNIT, "the thumbnail again")
        assert page.evaluate(VIEWER_STATS_JS)["b2"]["layer"] == "low"
    finally:
        for bot in bots:
            bot.leave()


# per remote tile of the Conference: its meter's title ("-12.3 dBFS" or "no audio")
METERS_JS = """() => Object.fromEntries([...document.querySelectorAll(
  '.znb-conference .znb-tile:not(.znb-local)')].map((t) => [t.dataset.peer,
  t.querySelector('.znb-meter')?.title ?? null]))"""


def test_conference_levels_and_speaker_from_its_viewer_when_the_kernel_subscribes_to_none(
        lab, browser, red_clip, sfu_server):
    """A teacher's `room.subscribe([])` in an SFU session: the kernel receives nobody, so the
    Conference's tiles take their level meters from its own Janus viewer (getStats), and the
    talking bot is highlighted by the loudest-recent rule over those levels."""
    import zero_nb
    from tests.conftest import MEDIA_CONFIG
    from zero_nb.analysis import talk

    script = [(4.0 * k, 4.0 * k + 2.5) for k in range(900)]  # 2.5 s talk, 1.5 s pause
    bots = [zero_nb.join("wlvl", sfu_server.url, name=f"b{i}", config=MEDIA_CONFIG,
                         video=sources.solid(BLUE, 160, 120, fps=10),
                         audio=talk(script if i == 0 else [], time.time(), level_db=-10.0))
            for i in range(3)]  # b0 talks, b1 and b2 send silence
    talker, silent = bots[0].peer_id, [b.peer_id for b in bots[1:]]
    try:
        page = browser(red_clip).new_page()
        lab.show_conference(page, "lvl.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join('wlvl', {sfu_server.url!r}, name='nb', config={CFG})\n"
            "room.subscribe([])\n"
            "room.widget()",
            "print('kernel decodes', sum(p.audio.frame_count for p in room.peers.values()))",
        ])
        wait_until(lambda: page.get_attribute(".znb-conference .znb-grid", "data-active")
                   == talker, 40 * UNIT, "the talking bot highlighted")
        seen: set[float] = set()  # the talker's meter readings (-120: no audio)

        def meter_moves() -> bool:
            meters = page.evaluate(METERS_JS)
            assert all(meters.get(p) == "no audio" for p in silent), meters
            title = meters.get(talker) or ""
            seen.add(float(title.split()[0]) if title.endswith("dBFS") else -120.0)
            return max(seen) > -30 and min(seen) < -40  # its talk and its pauses

        wait_until(meter_moves, 20 * UNIT, "the talking bot's meter to move")
        wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
        lab.run_cell(page, 1)
        assert output_numbers(page, 1, "kernel decodes") == [0]  # the levels came from Janus
    finally:
        for bot in bots:
            bot.leave()


def test_conference_whose_room_left_says_so(lab, browser, red_clip, bots):
    """room.leave() in a later cell: the Conference drops its tiles and controls, shows no
    "waiting for participants", releases the camera and says the room left."""
    bot = bots("wleft", "bot", video=sources.solid(BLUE))
    page = browser(red_clip).new_page()
    lab.show_conference(page, "left.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wleft', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room",
        "room.leave()",
    ])
    bot.wait_for_peers(1, timeout=30 * UNIT)
    conference = page.locator(".znb-conference")
    wait_until(lambda: conference.locator(".znb-tile").count() == 2, 20 * UNIT, "two tiles")
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 1)
    wait_until(lambda: "left the session" in conference.inner_text(), 15 * UNIT,
               "the widget to say the room left")
    text = conference.inner_text()
    assert "waiting for participants" not in text, text
    assert "zero_nb.join" in text
    assert conference.locator(".znb-tile").count() == 0
    assert not conference.locator(".znb-controls button:visible").count()
    wait_until(lambda: not page.evaluate("""() => [...document.querySelectorAll(
        '.znb-conference video, .znb-conference audio')].length"""), 5 * UNIT, "no media")
    wait_until(lambda: not bot.peers, 10 * UNIT, "the notebook to leave the session")


@pytest.mark.parametrize("topology", ["mesh", "sfu"])
def test_conference_without_key_says_how_to_add_it(lab, browser, red_clip, request, topology):
    """A notebook that joins with no passphrase, a bot that encrypts: the Conference's tile
    for the bot reads "encrypted — no key" with how to add it (join(..., e2ee=...)) and its
    sound is muted, in a mesh and through Janus; the kernel says no-key too."""
    import zero_nb
    from tests.conftest import MEDIA_CONFIG

    server = request.getfixturevalue("bg_server" if topology == "mesh" else "sfu_server")
    session = f"wnokey{topology}"
    bot = zero_nb.join(session, server.url, name="green", config=MEDIA_CONFIG, e2ee="s3cret",
                       video=sources.solid((0, 255, 0), 160, 120, fps=15),
                       audio=sources.tone(440, -12))
    try:
        page = browser(red_clip).new_page()
        lab.show_conference(page, f"nokey{topology}.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join({session!r}, {server.url!r}, name='nb', config={CFG})\n"
            "room",
            "print('e2ee', room.peer('green').e2ee)",
        ])
        tile = page.locator(".znb-conference .znb-tile:not(.znb-local)")
        notice = tile.locator(".znb-notice")
        notice.wait_for(state="visible", timeout=30_000 * UNIT)
        text = notice.inner_text()
        assert text.startswith("encrypted — no key") and "e2ee=" in text, text
        assert tile.locator("audio").evaluate("a => a.muted")
        wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
        lab.run_cell(page, 1)
        wait_until(lambda: "e2ee no-key" in cell_text(page, 1), 20 * UNIT,
                   "the kernel to say no-key")
    finally:
        bot.leave()
