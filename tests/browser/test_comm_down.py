"""Kernel -> page media over the widget comm, with the browser on "another machine"
(tests/browser/remote.py: Jupyter's one port through a tunnel, no WebRTC path to the kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import remote as harness
from tests.browser.comm_support import (
    DOWN_STATS_JS,
    READ_STAMPS_JS,
    USE_COMM_JS,
    Throttle,
    canvas_rgb,
    settle,
)
from tests.browser.helpers import wait_until
from tests.browser.jupyter import JupyterLab, jupyter_lab, write_notebook
from tests.conftest import UNIT, serving
from zero_nb import sources

pytestmark = pytest.mark.media

remote = harness.remote

BLUE = (0, 0, 255)
CFG = ('{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}, '
       '"widgets": {"transport": "comm"}}')  # the comm from the start, as configured




# one server for the module: its Jupyter server gets the URL when it starts
bg_server = pytest.fixture(serving, scope="module", name="bg_server")

@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory, bg_server: Any
               ) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("clab") / "nb"
    root.mkdir()
    with jupyter_lab(root, {"ZNB_URL": bg_server.url}) as lab:
        yield lab


@pytest.fixture
def lab(lab_server: JupyterLab) -> Iterator[JupyterLab]:
    yield lab_server
    lab_server.reset()


def down_stats(page: Any) -> dict[str, Any]:
    return page.evaluate(DOWN_STATS_JS) or {}


def painted(page: Any, slot: int) -> int:
    return int(down_stats(page).get("slots", {}).get(str(slot), {}).get("painted", 0))


def slot_of(page: Any, key: str) -> int:
    return int(page.evaluate("""(key) => {
      const v = [...(window.zeroNbWidgets?.conferences ?? [])][0];
      return v ? v.link.slotOf(key) : -1;
    }""", key))


def open_conference(lab: JupyterLab, page: Any, name: str, cells: list[str],
                    base: str | None = None) -> None:
    write_notebook(lab.root / name, cells)
    page.goto(f"{base or lab.base}/lab/tree/{name}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=30_000 * UNIT)
    wait_until(lambda: lab.kernel_states() == ["idle"], 30 * UNIT, "an idle kernel")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=10_000 * UNIT)
    lab.run_cell(page, 0)
    page.wait_for_selector(".znb-conference", timeout=30_000 * UNIT)
    wait_until(lambda: page.evaluate(USE_COMM_JS, "test") > 0, 20 * UNIT, "the Conference view")


def is_colour(rgb: list[float] | None, want: tuple[int, int, int]) -> bool:
    return rgb is not None and all(abs(a - b) < 40 for a, b in zip(rgb, want, strict=True))


def test_bot_tile_and_tone_over_the_comm_behind_a_tunnel(lab, remote, red_clip, bots):
    """Behind the tunnel a bot's tile paints its colour at >= 12 of 15 fps from frames the
    kernel forwards as received, its tone is decoded and played, and its meter moves."""
    bot = bots("cdown", "bot", video=sources.solid(BLUE, 160, 120, fps=15),
               audio=sources.tone(440, -6))
    page = remote(lab.port, red_clip).new_page()
    open_conference(lab, page, "down.ipynb", [
        "import os, zero_nb\n"
        f"room = zero_nb.join('cdown', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
        "room"])
    wait_until(lambda: bot.peers, 30 * UNIT, "the notebook in the bot's session")
    key = bot.peer_id
    wait_until(lambda: slot_of(page, key) >= 0, 20 * UNIT, "the bot's slot")
    slot = slot_of(page, key)
    wait_until(lambda: is_colour(canvas_rgb(page, slot), BLUE), 20 * UNIT,
               "the bot's blue on its tile's canvas")
    assert page.locator(f'.znb-tile[data-peer="{key}"] canvas.znb-canvas').count() == 1
    wait_until(lambda: painted(page, slot) > 30, 20 * UNIT, "the tile to keep painting")
    before = painted(page, slot)
    settle(4.0)
    fps = (painted(page, slot) - before) / 4.0
    stats = down_stats(page)
    print(f"bot tile over the comm: {fps:.1f} fps; {stats}")
    assert fps >= 12, f"{fps:.1f} fps of 15 over the comm"
    assert stats["caps"] == {"video": "vp8", "audio": "opus"}
    assert stats["slots"][str(slot)]["audio"] > 50, "the bot's tone was not decoded"
    bar = page.locator(f'.znb-tile[data-peer="{key}"] .znb-meter-bar')
    wait_until(lambda: float((bar.get_attribute("style") or "0").split(":")[-1].strip(" %;")
                             or 0) > 20, 10 * UNIT, "the bot's tone on its meter")


def test_kernel_own_filtered_video_shows_over_the_comm(lab, remote, red_clip):
    """A room sending a bot source through a filter: its own tile shows the filtered frames,
    encoded by the kernel (nothing to forward)."""
    page = remote(lab.port, red_clip).new_page()
    open_conference(lab, page, "own.ipynb", [
        "import os, zero_nb\nfrom zero_nb import sources\n"
        f"room = zero_nb.join('cown', os.environ['ZNB_URL'], name='nb', config={CFG},\n"
        "                    video=sources.solid((255, 0, 0), 160, 120, fps=15))\n"
        "room.local.video.add_filter(lambda f: f[..., ::-1].copy())  # red -> blue\n"
        "room"])
    wait_until(lambda: slot_of(page, "local") >= 0, 20 * UNIT, "the local slot")
    slot = slot_of(page, "local")
    wait_until(lambda: is_colour(canvas_rgb(page, slot), BLUE), 20 * UNIT,
               "the filtered (blue) video on the local tile's canvas")


def test_a_throttled_tunnel_drops_frames_instead_of_growing_latency(lab, remote, red_clip, bots):
    """With the tunnel throttled below the video's bitrate, latency stays under 1 s (the
    kernel drops delta frames and restarts from key frames) and the tile keeps painting."""
    bot = bots("cslow", "bot", video=sources.test_pattern(320, 240, 30), audio=None)
    throttle = Throttle(lab.port)
    try:
        page = remote(throttle.port, red_clip).new_page()
        open_conference(lab, page, "slow.ipynb", [
            "import os, zero_nb\n"
            f"room = zero_nb.join('cslow', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
            "room"], base=f"http://127.0.0.1:{throttle.port}")
        wait_until(lambda: bot.peers, 30 * UNIT, "the notebook in the bot's session")
        wait_until(lambda: slot_of(page, bot.peer_id) >= 0, 20 * UNIT, "the bot's slot")
        slot = slot_of(page, bot.peer_id)
        wait_until(lambda: page.evaluate(READ_STAMPS_JS, slot), 20 * UNIT, "stamped frames")
        settle(2.0)
        fast = page.evaluate(READ_STAMPS_JS, slot)
        throttle.rate = 30_000  # bytes/s: half what the bot's video takes here
        settle(3.0)  # the throttle takes hold
        page.evaluate(READ_STAMPS_JS, slot)
        settle(8.0)
        slow = page.evaluate(READ_STAMPS_JS, slot)
    finally:
        throttle.close()
    ages = sorted(s[1] for s in slow)
    p50, top = (ages[len(ages) // 2], ages[-1]) if ages else (None, None)
    print(f"unthrottled: {len(fast)} frames in 2 s; throttled: {len(slow)} frames in 8 s, "
          f"latency ms p50 {p50} max {top}")
    assert len(slow) >= 3, "the throttled tile stopped painting"
    # the bot sends 30 fps: 240 frames in the 8 s if nothing were dropped
    assert len(slow) < 0.6 * 30 * 8, "nothing was dropped: was the tunnel throttled?"
    assert ages[-1] < 1000, f"latency grew to {ages[-1]} ms under the throttle"
