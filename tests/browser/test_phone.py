"""The page on a phone: a 390x844 touch viewport (Chromium's phone emulation), in a call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import Page, screenshot_path, wait_until
from tests.conftest import UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

PHONE = {"width": 390, "height": 844}
# phones have no getDisplayMedia: take it away as a phone's browser would not offer it
NO_SCREEN_SHARE = "delete MediaDevices.prototype.getDisplayMedia;"

BOXES_JS = """() => [...document.querySelectorAll(
    '#controls-bar button, #controls-bar select, #controls-bar summary')]
  .filter((el) => el.offsetParent !== null)
  .map((el) => { const r = el.getBoundingClientRect();
    return { name: el.id || el.textContent.trim(), left: r.left, right: r.right, top: r.top,
             bottom: r.bottom }; })"""


def outside(boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in boxes if b["left"] < 0 or b["top"] < 0 or b["right"] > PHONE["width"]
            or b["bottom"] > PHONE["height"]]


def test_call_page_fits_a_phone(browser: Any, bg_server: Any, bots: Any, red_clip: Path) -> None:
    bots("phone", "bot", video=sources.solid((0, 0, 255)), audio=sources.tone(440, -12))
    context = browser(red_clip, viewport=PHONE, is_mobile=True, has_touch=True,
                      device_scale_factor=2)
    context.add_init_script(NO_SCREEN_SHARE)
    page = Page(context.pages[0] if context.pages else context.new_page(),
                bg_server)
    page.open(session="phone", name="alice", autojoin="1")
    page.wait_decoding(["bot"])
    # the stats line and the bot tile's info line (same modules as the widget's)
    wait_until(lambda: "bot: " in page.page.inner_text(".stage .znb-stats"), 5 * UNIT,
               f"the stats line (hidden: {page.page.evaluate('() => document.hidden')})")
    wait_until(lambda: "fps" in page.page.inner_text(".znb-tile:not(.znb-local) .znb-info"),
               5 * UNIT, "the bot tile's info line")

    assert page.page.locator("#btn-share").is_hidden(), "no Share screen without getDisplayMedia"
    for name in ("btn-mute", "btn-camera", "btn-chat", "btn-leave"):
        assert page.page.locator(f"#{name}").is_visible(), name
    boxes = page.page.evaluate(BOXES_JS)
    assert len(boxes) >= 5 and not outside(boxes), outside(boxes)
    # the menu's devices, resolution and invite link are reachable too
    page.page.click("#controls-bar summary")
    for name in ("sel-camera", "sel-resolution", "btn-invite"):
        assert page.page.locator(f"#{name}").is_visible(), name
    boxes = page.page.evaluate(BOXES_JS)
    assert not outside(boxes), outside(boxes)
    page.page.click("#controls-bar summary")
    # nothing scrolls sideways; the tiles use the width
    width = page.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"
    tiles = page.page.evaluate("""() => [...document.querySelectorAll('.znb-tile')].map(
        (t) => t.getBoundingClientRect().width)""")
    assert len(tiles) == 2 and min(tiles) > 0.9 * PHONE["width"], tiles
    # the controls work by touch
    page.page.tap("#btn-mute")
    wait_until(lambda: page.page.inner_text("#btn-mute") == "Unmute", 5 * UNIT, "muted")
    page.page.tap("#btn-mute")
    wait_until(lambda: page.page.inner_text("#btn-mute") == "Mute", 5 * UNIT, "unmuted")
    page.page.tap("#btn-chat")
    chat = page.page.locator("#chat").bounding_box()
    assert chat is not None and chat["x"] >= 0 and chat["x"] + chat["width"] <= PHONE["width"]
    page.page.tap("#chat-close")
    page.page.screenshot(path=str(screenshot_path("phone.png")))
    assert not page.console_errors
