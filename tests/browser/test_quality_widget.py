"""The Conference widget's data saver in real JupyterLab: the page's choice reaches the kernel,
which publishes the browser camera, and a bot receiving it measures the cap."""

from __future__ import annotations

import pytest

from tests.browser import test_widgets
from tests.browser.helpers import wait_until
from tests.conftest import UNIT
from tests.stats_support import received_video_kbps

pytestmark = pytest.mark.media

# the widget tests' fixtures: one signaling server and one JupyterLab for the module
bg_server = test_widgets.bg_server
lab_server = test_widgets.lab_server
lab = test_widgets.lab
CFG = test_widgets.CFG


def test_conference_data_saver_caps_the_kernel_publisher(lab, browser, bots):
    """Chromium's 640x480 fake camera through a notebook's Conference to a bot: the widget's
    Data saver makes the kernel send <= 320-wide frames at <= 180 kbit/s, and off lifts it."""
    bot = bots("wsaver", "bot", video=None, audio=None)
    page = browser(None).new_page()
    page.set_viewport_size({"width": 900, "height": 700})
    lab.show_conference(page, "saver.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wsaver', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room",
    ])
    bot.wait_for_peers(1, timeout=30 * UNIT)
    nb = bot.peer("nb")

    def width() -> int:
        frame = nb.video.latest()
        return 0 if frame is None else int(frame.shape[1])

    def kbps() -> float:
        return received_video_kbps(bot, nb.peer_id, 2.0, 10 * UNIT)

    wait_until(lambda: width() == 640, 30 * UNIT, "640-wide frames from the notebook")
    full = wait_until(lambda: (k := kbps()) > 250 and k, 20 * UNIT, "over 250 kbit/s")
    page.locator(".znb-conference details.znb-more > summary").click()
    page.locator(".znb-conference [data-control=data-saver]").check()
    wait_until(lambda: 0 < width() <= 320, 10 * UNIT, "<= 320-wide frames (data saver)")
    saved = wait_until(lambda: (k := kbps()) <= 180 and k, 20 * UNIT, "under 180 kbit/s")
    page.locator(".znb-conference [data-control=data-saver]").uncheck()
    # wider than the cap again: how wide is the browser's choice (on 2 busy cores Chromium
    # may send the local link less than 640 wide by then, "limit: cpu")
    wait_until(lambda: width() > 320, 10 * UNIT, "wider frames again")
    back = wait_until(lambda: (k := kbps()) > 180 and k, 20 * UNIT, "over 180 kbit/s again")
    print(f"kernel-published kbit/s: before {full:.0f}, data saver {saved:.0f}, off {back:.0f}"
          f" at {width()} wide")
