"""Mute and camera state in the Conference widget (JupyterLab): a kernel peer's mute shows on
its tile, and the widget's own Mute / Camera off buttons reach the others (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_widgets
from tests.browser.helpers import wait_until
from tests.browser.test_widgets import CFG
from tests.conftest import UNIT
from zero_nb import sources
from zero_nb.kernel_rtc.net.peer import PeerMedia

pytestmark = pytest.mark.media

# the widget tests' fixtures: one signaling server and one Jupyter server for this module
bg_server = test_widgets.bg_server
lab_server = test_widgets.lab_server
lab = test_widgets.lab

FLAGS_JS = """(id) => document.querySelector(
  `.znb-conference figure[data-peer='${id}'] .znb-flags`)?.textContent ?? null"""


def test_widget_tiles_show_mute_and_its_buttons_announce_it(lab: Any, browser: Any,
                                                            red_clip: Path, bots: Any) -> None:
    """The teacher's Conference: the bot's tile says "muted" / "camera off" as the bot
    changes; the widget's Mute and Camera off buttons reach the bot's peer.media."""
    bot = bots("wmute", "bot", video=sources.solid((0, 0, 255), 160, 120, fps=10),
               audio=sources.tone(440, -20))
    page = browser(red_clip).new_page()
    lab.show_conference(page, "mute.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wmute', os.environ['ZNB_URL'], name='teacher', config={CFG})\n"
        "room",
    ])

    def flags() -> Any:
        return page.evaluate(FLAGS_JS, bot.peer_id)

    wait_until(lambda: flags() == "", 30 * UNIT, f"the bot's tile, no flags (now {flags()!r})")
    bot.local.audio.mute()
    wait_until(lambda: flags() == "muted", 5 * UNIT, f"'muted' on the tile ({flags()!r})")
    bot.local.video.pause()
    wait_until(lambda: flags() == "muted · camera off", 5 * UNIT, f"both ({flags()!r})")
    bot.local.audio.unmute()
    bot.local.video.resume()
    wait_until(lambda: flags() == "", 5 * UNIT, f"no flags again ({flags()!r})")
    # the page's camera and mic become the teacher's sources: then it says it sends both
    wait_until(lambda: "teacher" in {p.name for p in bot.peers.values()}, 10 * UNIT, "teacher")
    teacher = bot.peer("teacher")
    wait_until(lambda: teacher.media == PeerMedia(True, True), 20 * UNIT,
               f"the teacher's camera and mic on (now {teacher.media})")
    page.click(".znb-conference button[data-control='mute']")
    wait_until(lambda: teacher.media == PeerMedia(False, True), 5 * UNIT,
               f"the widget's Mute to reach the bot (now {teacher.media})")
    page.click(".znb-conference button[data-control='camera']")
    wait_until(lambda: teacher.media == PeerMedia(False, False), 5 * UNIT,
               f"the widget's Camera off to reach the bot (now {teacher.media})")
