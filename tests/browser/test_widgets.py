"""The anywidget front end in real JupyterLab + headless Chromium, against a bot on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.browser.helpers import wait_until
from tests.browser.jupyter import jupyter_lab, write_notebook
from tests.conftest import UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

BLUE = (0, 0, 255)
DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
CFG = '{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}'

# every local-link stat of the page (the hook js/widgets/link.js keeps for tests)
LINK_STATS_JS = """async () => {
  const links = [...(window.zeroNbWidgets?.links ?? [])];
  return Promise.all(links.map((l) => l.stats()));
}"""


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


def test_conference_in_jupyterlab_exchanges_media_with_a_bot(tmp_path, browser, red_clip,
                                                             bots, bg_server):
    """A notebook's Conference sends the browser camera to a bot as numpy, shows the bot's
    video, and keeps both flowing while a cell sleeps."""
    bot = bots("wconf", "bot", video=sources.solid(BLUE), audio=sources.tone(440, -6))
    root = tmp_path / "nb"
    root.mkdir()
    write_notebook(root / "call.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wconf', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room",
        "import time\ntime.sleep(5)",
    ])
    with jupyter_lab(root, {"ZNB_URL": bg_server.url}) as lab:
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
        busy = counts(page, nb, 3.0)
        assert lab.kernel_states() == ["busy"], "the cell should still be sleeping"
        print(f"fps idle (bot, page) {idle}, during time.sleep {busy}")
        for what, rate_idle, rate_busy in zip(("bot received", "page decoded"), idle, busy,
                                              strict=True):
            assert rate_busy > max(3.0, 0.25 * rate_idle), (
                f"{what} {rate_busy:.1f} fps while the cell slept, {rate_idle:.1f} before")
        assert is_red(nb.video.latest())

        wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "the cell to finish")
        tiles = page.locator(".znb-tile")
        assert tiles.count() == 2
        assert "bot" in page.locator(".znb-conference").inner_text()
        DOCS.mkdir(exist_ok=True)
        page.locator(".znb-conference").screenshot(path=str(DOCS / "widget.png"))


def cell_text(page, index: int) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(
        ".jp-OutputArea").inner_text()


def test_camera_videoview_meter_and_stats_in_jupyterlab(tmp_path, browser, red_clip, bots,
                                                        bg_server):
    """Camera() feeds a room as video=cam/audio=cam; VideoView shows a mapped kernel feed;
    AudioMeter and StatsPanel update; closing the widgets leaves no link open."""
    bot = bots("wcam", "bot", video=sources.solid(BLUE))
    root = tmp_path / "nb"
    root.mkdir()
    write_notebook(root / "cam.ipynb", [
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
    with jupyter_lab(root, {"ZNB_URL": bg_server.url}) as lab:
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
