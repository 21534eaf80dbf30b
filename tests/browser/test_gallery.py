"""The gallery (issue 15): a class of 12 on the page and in the Conference widget through real
Janus, the talking one highlighted, a click pins one large; in a mesh the widget's slots grow
past 8; the notebook's camera goes out to Janus in two layers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import zero_nb
from tests import class_support, sfu_support
from tests.browser import test_widgets
from tests.browser.helpers import Page, screenshot_path, wait_until
from tests.browser.test_widgets import CFG, link_stats
from tests.conftest import MEDIA_CONFIG, UNIT
from zero_nb import sources
from zero_nb.analysis import talk
from zero_nb.kernel_rtc.link import DEFAULT_SLOTS

pytestmark = pytest.mark.media

# the widget tests' fixtures: one signaling server and one Jupyter server for this module
bg_server = test_widgets.bg_server
lab_server = test_widgets.lab_server
lab = test_widgets.lab
janus = sfu_support.janus
sfu_server = sfu_support.sfu_server

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
           (255, 0, 255), (128, 128, 128), (255, 128, 0), (0, 128, 255), (128, 0, 255)]


def class_of(bots: Any, session: str, n: int) -> list[Any]:
    """``n`` small, slow, silent bots (a mesh)."""
    return [bots(session, f"s{i}", video=sources.solid(COLOURS[i % len(COLOURS)], 160, 120,
                                                       fps=10)) for i in range(n)]


def class_through_janus(server: Any, session: str, tmp_path: Path, n: int = 12) -> list[Any]:
    """``n`` encoded students (320x240 VP8 clips, no encoder per student) in ``session``;
    the first one talks, the others are silent."""
    clips = class_support.student_clips(tmp_path, n, seconds=2)
    speech = talk([(0.0, 3600.0)], time.time(), level_db=-10.0)
    return class_support.join_students(server.url, session, clips, MEDIA_CONFIG,
                                       audio={0: speech})


def pin_and_unpin(page: Any, grid: str, tile: str) -> None:
    """Click ``tile``: it fills the grid's width at the top; click again: unpinned."""
    page.locator(tile).click()
    wait_until(lambda: page.get_attribute(grid, "data-pinned") not in ("", None), 5 * UNIT,
               "a pinned tile")
    box, whole = page.locator(tile).bounding_box(), page.locator(grid).bounding_box()
    assert box and whole and box["width"] > 0.9 * whole["width"] and box["y"] <= whole["y"] + 10
    page.locator(tile).click()
    wait_until(lambda: page.get_attribute(grid, "data-pinned") == "", 5 * UNIT, "unpinned")


def test_page_gallery_of_twelve_through_janus(browser: Any, sfu_server: Any, red_clip: Path,
                                              tmp_path: Path) -> None:
    """The teacher's page shows 12 encoded students through real Janus: every tile decodes,
    the talking one is highlighted, a click pins one large, a student who leaves goes."""
    students: list[Any] = []
    try:
        students = class_through_janus(sfu_server, "gal", tmp_path)
        context = browser(red_clip, viewport={"width": 1000, "height": 700})
        page = Page(context.pages[0] if context.pages else context.new_page(),
                    sfu_server)
        page.open(session="gal", name="teacher", autojoin="1", mic="0")
        names = [s.name for s in students]
        page.wait_decoding(names, 60 * UNIT)
        assert page.page.locator(".znb-tile").count() == len(names) + 1
        fps = page.decoded_fps(2.0)  # the 15 fps clips, as the tiles decode them
        assert all(fps[n] >= 3 for n in names), fps
        talker = students[0].peer_id
        wait_until(lambda: page.page.get_attribute(".znb-grid", "data-active") == talker,
                   10 * UNIT, "the talking student highlighted")
        assert page.page.locator(".znb-tile.znb-active").count() == 1
        page.page.screenshot(path=str(screenshot_path("gallery.png")))
        pin_and_unpin(page.page, ".znb-grid", f".znb-tile[data-peer='{students[3].peer_id}']")
        leaver = students.pop()
        leaver.leave()
        wait_until(lambda: page.page.locator(f".znb-tile[data-peer='{leaver.peer_id}']")
                   .count() == 0, 10 * UNIT, "the student who left to lose their tile")
        assert not page.console_errors
    finally:
        for room in students:
            room.leave()


def test_widget_gallery_of_twelve_through_janus(lab: Any, browser: Any, red_clip: Path,
                                                sfu_server: Any, tmp_path: Path) -> None:
    """The Conference widget in JupyterLab, a teacher with 12 encoded students through Janus:
    13 tiles, every student's video plays, the talking one highlighted (the kernel's VAD),
    a click pins one large."""
    students: list[Any] = []
    try:
        students = class_through_janus(sfu_server, "wgal12", tmp_path)
        page = browser(red_clip, viewport={"width": 1000, "height": 900}).new_page()
        lab.show_conference(page, "class12.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join('wgal12', {sfu_server.url!r}, name='teacher', "
            f"config={CFG})\n"
            "room",
        ])
        tiles = ".znb-conference .znb-tile:not(.znb-local)"
        wait_until(lambda: page.locator(tiles).count() == len(students), 40 * UNIT,
                   "a tile per student")
        wait_until(lambda: videos_playing(page, tiles) == len(students), 60 * UNIT,
                   "video playing on every student's tile")
        talker = students[0].peer_id
        wait_until(lambda: page.get_attribute(".znb-conference .znb-grid", "data-active")
                   == talker, 20 * UNIT, "the talking student highlighted")
        pin_and_unpin(page, ".znb-conference .znb-grid", f"{tiles}[data-peer='{talker}']")
    finally:
        for room in students:
            room.leave()


# how many of the selected tiles' <video>s show frames, and keep showing new ones
PLAYING_JS = """async (sel) => {
  const videos = [...document.querySelectorAll(sel + ' video')];
  const count = () => videos.map((v) => v.getVideoPlaybackQuality().totalVideoFrames);
  const before = count();
  await new Promise((r) => setTimeout(r, 500));
  const after = count();
  return videos.filter((v, i) => v.videoWidth > 0 && after[i] > before[i]).length; }"""


def videos_playing(page: Any, tiles: str) -> int:
    return page.evaluate(PLAYING_JS, tiles)


def test_widget_slots_grow_past_the_default(lab: Any, browser: Any, red_clip: Path,
                                            bots: Any) -> None:
    n = DEFAULT_SLOTS + 1
    students = class_of(bots, "wgal", n)
    page = browser(red_clip, viewport={"width": 1000, "height": 900}).new_page()
    lab.show_conference(page, "gallery.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('wgal', os.environ['ZNB_URL'], name='teacher', config={CFG})\n"
        "room",
    ])
    wait_until(lambda: page.locator(".znb-conference .znb-tile").count() == n + 1, 30 * UNIT,
               f"{n} students and the teacher on tiles")
    # every student's tile plays: each has a slot, and the link decodes that many streams
    wait_until(lambda: page.evaluate("""() => [...document.querySelectorAll(
        '.znb-conference .znb-tile:not(.znb-local) video')].filter(
        (v) => v.srcObject && v.videoWidth > 0).length""") == n, 40 * UNIT,
        f"video on all {n} student tiles")
    stats = link_stats(page, "Conference")
    assert stats["framesDecoded"] > 0 and stats["state"] == "connected"
    shown = page.evaluate("""() => [...document.querySelectorAll(
        '.znb-conference .znb-tile:not(.znb-local)')].map((t) => t.dataset.peer)""")
    assert sorted(shown) == sorted(s.peer_id for s in students)
    # No highlight check here: 9 mesh bots in this one process (72 connections on one engine
    # loop, plus the teacher's stream to each) lag the loop by 50-200 ms, so the talker's
    # audio leaves at 8-20 packets/s instead of 50 and voice activity rarely holds. The
    # highlight is asserted with a class through Janus above, and in test_widget_data.py.


def test_widget_camera_goes_out_in_two_layers(lab: Any, browser: Any, sfu_server: Any) -> None:
    """In an SFU session the notebook's camera (the widget captures, its kernel publishes)
    reaches Janus as two simulcast layers: another kernel picks 320x240 or 640x480."""
    viewer = zero_nb.join("wlayers", sfu_server.url, name="viewer", config=MEDIA_CONFIG)
    try:
        viewer.subscribe(layer="low")
        page = browser(None).new_page()  # Chromium's own fake camera: 640x480
        lab.show_conference(page, "layers.ipynb", [
            "import zero_nb\n"
            f"room = zero_nb.join('wlayers', {sfu_server.url!r}, name='teacher', "
            f"config={CFG})\n"
            "room",
        ])
        peer = wait_until(lambda: viewer.peers and viewer.peer("teacher"), 40 * UNIT,
                          "the notebook in the viewer's room")

        def width() -> int:
            img = peer.video.latest()
            return 0 if img is None else img.shape[1]

        wait_until(lambda: width() == 320, 40 * UNIT, "the low layer (320 wide)")
        peer.set_layer("high")
        wait_until(lambda: width() == 640, 10 * UNIT, "the high layer (640 wide)")
        peer.set_layer("low")
        wait_until(lambda: width() == 320, 10 * UNIT, "the low layer again")
    finally:
        viewer.leave()
