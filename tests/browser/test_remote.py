"""The widgets with the browser on "another machine" (tests/browser/remote.py): JupyterLab's one
port through a tunnel, no other path to the kernel; and the transport switch."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import remote as harness
from tests.browser.comm_support import canvas_rgb
from tests.browser.firefox import Firefox, firefox_or_skip
from tests.browser.helpers import wait_until
from tests.browser.jupyter import JupyterLab, jupyter_lab, write_notebook
from tests.conftest import UNIT, serving
from zero_nb import sources
from zero_nb.kernel_rtc.net.peer import PeerMedia

pytestmark = pytest.mark.media

remote = harness.remote  # the browser behind the tunnel

CFG = '{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}'




# one server for the module: its Jupyter server gets the URL when it starts
bg_server = pytest.fixture(serving, scope="module", name="bg_server")

@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory, bg_server: Any) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("rlab") / "nb"
    root.mkdir()
    # jupyter.test: a host name that is not loopback, so a page there is no secure context
    with jupyter_lab(root, {"ZNB_URL": bg_server.url},
                     ("--ServerApp.local_hostnames=['localhost', 'jupyter.test']",)) as lab:
        yield lab


@pytest.fixture
def lab(lab_server: JupyterLab) -> Iterator[JupyterLab]:
    yield lab_server
    lab_server.reset()


def test_harness_reaches_jupyter_only_through_the_tunnel(lab, remote, red_clip, bg_server):
    """Behind the tunnel the page loads JupyterLab and runs a cell, is a secure context with
    WebCodecs and a camera, and cannot reach any other port of the kernel's machine."""
    page = remote(lab.port, red_clip).new_page()
    write_notebook(lab.root / "h.ipynb", ["print('ran', 6 * 7)"])
    lab.open(page, "h.ipynb")
    lab.run_cell(page, 0)
    wait_until(lambda: "ran 42" in page.inner_text(".jp-Notebook"), 20 * UNIT, "the cell output")
    probe = page.evaluate("""async (url) => {
        let other = "reached";
        try { await fetch(url, { mode: "no-cors" }); } catch (e) { other = "unreachable"; }
        return { secure: window.isSecureContext, encoder: typeof VideoEncoder,
                 camera: Boolean(navigator.mediaDevices?.getUserMedia), other };
    }""", f"http://127.0.0.1:{bg_server.port}/")
    assert probe == {"secure": True, "encoder": "function", "camera": True,
                     "other": "unreachable"}


BLUE = (0, 0, 255)

# a kernel thread that writes what the kernel has of the page's media to a JSON file every
# 0.1 s: the test reads it while cells run (and while a cell sleeps: another thread)
PROBE = """
import json, os, threading, time
def _probe(path, conf, room):
    while True:
        img = room.local.video.latest()
        audio = room.local.audio.feed
        up = conf.uplink
        info = {"rgb": None if img is None else [float(x) for x in img.reshape(-1, 3).mean(0)],
                "frames": room.local.video.frame_count, "audio_frames": audio.frame_count,
                "level": audio.level_db, "transport": conf.transport,
                "reason": conf.transport_reason, "up": None if up is None else up.stats()}
        with open(path + ".tmp", "w") as f:
            json.dump(info, f)
        os.replace(path + ".tmp", path)
        time.sleep(0.1)
threading.Thread(target=_probe, args=(PROBE_PATH, conf, room), daemon=True).start()
"""


def conference_cells(session: str, probe: Path, transport: str | None = None,
                     name: str = "nb") -> list[str]:
    """A notebook whose first cell joins ``session`` and shows its Conference (with
    ``transport``), with the probe thread writing to ``probe``; the second sleeps 10 s
    between writing ``probe``.started and ``probe``.done (with subshells the kernel's
    execution state says idle whenever a comm's subshell goes idle: no use here)."""
    arg = "" if transport is None else f", transport={transport!r}"
    return [
        "import os, zero_nb\nfrom zero_nb.widgets import Conference\n"
        f"room = zero_nb.join({session!r}, os.environ['ZNB_URL'], name={name!r}, config={CFG})\n"
        f"conf = Conference(room{arg})\nPROBE_PATH = {str(probe)!r}\n" + PROBE + "\nconf",
        "import time\nopen(PROBE_PATH + '.started', 'w').close()\ntime.sleep(10)\n"
        "open(PROBE_PATH + '.done', 'w').close()",
    ]


def read_probe(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def is_red(rgb: list[float] | None) -> bool:
    return rgb is not None and rgb[0] > 200 and rgb[1] < 50 and rgb[2] < 50


def page_link(page: Any) -> dict[str, Any]:
    stats = page.evaluate(LINK_STATS_JS)
    return stats[0] if stats else {}


SLOT_JS = """(key) => [...(window.zeroNbWidgets?.conferences ?? [])][0]?.link.slotOf(key) ?? -1"""

LINK_STATS_JS = """async () => Promise.all([...(window.zeroNbWidgets?.links ?? [])]
  .map((l) => l.stats()))"""


def test_remote_conference_sends_camera_and_mic_over_the_comm(lab, remote, red_clip, bots,
                                                             tmp_path):
    """Behind the tunnel, `auto` moves to the comm within 10 s of the widget showing; the
    camera's red reaches room.local.video.latest() and a bot, the mic's level reaches the
    kernel, and both keep coming while a cell runs time.sleep(10) (read from a thread)."""
    bot = bots("rconf", "bot", video=sources.solid(BLUE, 160, 120, fps=15))
    probe = tmp_path / "probe.json"
    page = remote(lab.port, red_clip).new_page()
    page.set_viewport_size({"width": 900, "height": 700})
    lab.show_conference(page, "r.ipynb", conference_cells("rconf", probe))
    shown = time.monotonic()
    info = wait_until(lambda: (p := read_probe(probe)).get("transport") == "comm" and p,
                      10 * UNIT, f"the transport to move to the comm ({read_probe(probe)})")
    assert time.monotonic() - shown < 10 * UNIT
    assert "did not connect" in info["reason"]
    wait_until(lambda: is_red(read_probe(probe).get("rgb")), 20 * UNIT,
               f"the page camera's red in room.local.video.latest() ({read_probe(probe)})")
    wait_until(lambda: read_probe(probe)["level"] > -60, 10 * UNIT,
               f"the page mic's level in the kernel ({read_probe(probe)})")
    assert "link: comm" in page.inner_text(".znb-conference .znb-stats")
    bot.wait_for_peers(1, timeout=30 * UNIT)
    nb = bot.peer("nb")
    wait_until(lambda: (img := nb.video.latest()) is not None
               and is_red(list(img.reshape(-1, 3).mean(0))), 20 * UNIT,
               "the notebook's camera (red) at the bot")
    # and the other way: the bot's tile comes down the comm (js/widgets/comm_down.js)
    slot = wait_until(lambda: (i := page.evaluate(SLOT_JS, bot.peer_id)) >= 0 and i + 1,
                      20 * UNIT, "the bot's slot") - 1
    wait_until(lambda: (rgb := canvas_rgb(page, slot)) is not None and rgb[2] > 200
               and rgb[0] < 50, 20 * UNIT, f"the bot's blue on its tile ({canvas_rgb(page, slot)})")

    # a busy cell: the comm's messages reach the kernel on its subshell thread
    wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
    lab.run_cell(page, 1)
    wait_until(lambda: Path(f"{probe}.started").exists(), 5 * UNIT, "the sleeping cell")
    rates = []
    for _ in range(3):  # three 2 s windows inside the 10 s sleep
        first, t0 = read_probe(probe), time.monotonic()
        time.sleep(2.0)
        last, t1 = read_probe(probe), time.monotonic()
        rates.append((last["frames"] - first["frames"]) / (t1 - t0))
        assert is_red(last["rgb"]), last
    assert not Path(f"{probe}.done").exists(), "the cell should still be sleeping"
    print(f"camera fps in the kernel during time.sleep over the comm: {rates}; {last}")
    assert min(rates) > 5, (rates, page_link(page)["up"])
    assert last["up"]["subshell"] is True

    # the widget's Mute and Camera off reach the bot as over WebRTC
    wait_until(lambda: nb.media == PeerMedia(True, True), 10 * UNIT, f"media on ({nb.media})")
    page.click(".znb-conference button[data-control='mute']")
    wait_until(lambda: nb.media == PeerMedia(False, True), 5 * UNIT, f"muted ({nb.media})")
    page.click(".znb-conference button[data-control='camera']")
    wait_until(lambda: nb.media == PeerMedia(False, False), 5 * UNIT, f"camera off ({nb.media})")


def test_auto_keeps_webrtc_on_the_same_machine(lab, browser, red_clip, tmp_path):
    """Without the tunnel `auto` connects WebRTC and stays there past the comm timeout."""
    probe = tmp_path / "probe.json"
    page = browser(red_clip).new_page()
    lab.show_conference(page, "same.ipynb", conference_cells("rsame", probe))
    wait_until(lambda: is_red(read_probe(probe).get("rgb")), 20 * UNIT,
               f"the camera's red in the kernel ({read_probe(probe)})")
    connected = time.monotonic()
    # past the moment `auto` would have moved (5 s after the page started)
    wait_until(lambda: time.monotonic() - connected > 6, 10 * UNIT, "the comm timeout")
    info, link = read_probe(probe), page_link(page)
    assert (info["transport"], link["transport"], link["state"]) == \
        ("webrtc", "webrtc", "connected"), (info, link)
    assert info["up"] is None
    assert "link: webrtc" in page.inner_text(".znb-conference .znb-stats")


NO_PROCESSOR_JS = "delete window.MediaStreamTrackProcessor; delete window.MediaStreamTrackGenerator"


def test_comm_without_track_processor_captures_from_video_and_worklet(lab, browser, red_clip,
                                                                     tmp_path):
    """`transport="comm"` in a browser without MediaStreamTrackProcessor (as Firefox and
    Safari): the camera through VideoFrame(video) and the mic through an AudioWorklet."""
    probe = tmp_path / "probe.json"
    context = browser(red_clip)
    context.add_init_script(NO_PROCESSOR_JS)
    page = context.new_page()
    lab.show_conference(page, "nop.ipynb", conference_cells("rnop", probe, transport="comm"))
    wait_until(lambda: is_red(read_probe(probe).get("rgb")), 20 * UNIT,
               f"the camera's red in the kernel ({read_probe(probe)})")
    wait_until(lambda: read_probe(probe)["level"] > -60, 10 * UNIT,
               f"the mic's level in the kernel ({read_probe(probe)})")
    info = read_probe(probe)
    assert (info["transport"], info["reason"]) == ("comm", "transport: comm (configured)")
    assert page.evaluate("typeof MediaStreamTrackProcessor") == "undefined"


def test_remote_camera_widget_in_notebook7(lab, remote, red_clip, tmp_path):
    """Notebook 7 behind the tunnel: Camera(transport="comm")'s frames in the kernel."""
    probe = tmp_path / "cam.json"
    write_notebook(lab.root / "cam7.ipynb", [
        "import json, os, threading, time\nfrom zero_nb.widgets import Camera\n"
        f"cam = Camera(transport='comm', config={CFG})\ncam",
        "def _probe():\n"
        "    while True:\n"
        "        img = cam.video.latest()\n"
        "        rgb = None if img is None else [float(x) for x in img.reshape(-1, 3).mean(0)]\n"
        f"        open({str(probe)!r} + '.tmp', 'w').write(json.dumps("
        "{'rgb': rgb, 'transport': cam.transport}))\n"
        f"        os.replace({str(probe)!r} + '.tmp', {str(probe)!r})\n"
        "        time.sleep(0.1)\n"
        "threading.Thread(target=_probe, daemon=True).start()",
    ])
    page = remote(lab.port, red_clip).new_page()
    lab.run_all_notebook7(page, "cam7.ipynb")
    page.wait_for_selector(".znb-camera", timeout=30_000 * UNIT)
    wait_until(lambda: is_red(read_probe(probe).get("rgb")), 30 * UNIT,
               f"Notebook 7's camera in cam.video.latest() ({read_probe(probe)})")
    assert read_probe(probe)["transport"] == "comm"
    assert "link: comm" in page.inner_text(".znb-camera .znb-status")


def test_insecure_page_says_why_the_camera_is_off(lab, remote, red_clip, tmp_path):
    """A plain-http page from another host (no secure context: no camera, no WebCodecs):
    the widget still shows, moves to the comm and says plainly why the camera is off."""
    probe = tmp_path / "probe.json"
    context = remote(lab.port, red_clip,
                     args=["--host-resolver-rules=MAP jupyter.test 127.0.0.1"])
    page = context.new_page()
    write_notebook(lab.root / "insecure.ipynb", conference_cells("rinsec", probe))
    lab.open(page, "insecure.ipynb", host="jupyter.test")
    assert page.evaluate("window.isSecureContext") is False
    lab.run_cell(page, 0)
    page.wait_for_selector(".znb-conference", timeout=30_000 * UNIT)
    wait_until(lambda: read_probe(probe).get("transport") == "comm", 15 * UNIT,
               f"the comm ({read_probe(probe)})")
    status = page.locator(".znb-conference .znb-status")
    wait_until(lambda: "not a secure context" in status.inner_text(), 10 * UNIT,
               "the reason the camera is off")
    assert page.locator(".znb-conference .znb-tile").count() >= 1


# the page's uplink counters and status line (the Firefox driver returns JSON values)
FF_UP_JS = """() => {
  const link = [...(window.zeroNbWidgets?.links ?? [])][0];
  return { up: link?.uplink?.stats(), problem: link?.uplink?.problem,
           status: document.querySelector(".znb-conference .znb-status")?.innerText };
}"""


def open_in_firefox(lab: JupyterLab, ff: Firefox, notebook: str) -> None:
    """``lab.open`` for the Firefox driver (polls instead of Playwright's waits)."""
    ff.goto(f"{lab.base}/lab/tree/{notebook}?token={lab.token}")
    wait_until(lambda: ff.evaluate("() => window.jupyterapp !== undefined"), 60 * UNIT,
               "JupyterLab in Firefox")
    wait_until(lambda: lab.kernel_states() == ["idle"], 30 * UNIT, "an idle kernel")
    wait_until(lambda: ff.evaluate("() => document.querySelectorAll('.jp-Notebook .jp-Cell')"
                                   ".length") > 0, 20 * UNIT, "the notebook's cells")


def test_firefox_conference_over_the_comm(lab, bots, tmp_path):
    """Firefox (WebCodecs, no MediaStreamTrackProcessor/Generator) in JupyterLab, with no
    WebRTC path to the kernel (it gathers no candidate without a default route): `auto` moves
    to the comm; Firefox's fake camera reaches the kernel, also during a busy cell; its tone
    once a click lifts the autoplay hold (said on the status line until then) where Firefox
    can run an AudioContext, else the status line says why not; the bot sees the notebook,
    and the bot's blue is painted on its tile."""
    binary = firefox_or_skip()
    bot = bots("rff", "bot", video=sources.solid(BLUE, 160, 120, fps=15))
    probe = tmp_path / "probe.json"
    write_notebook(lab.root / "ff.ipynb", conference_cells("rff", probe))
    ff = Firefox(binary, tmp_path / "profile")
    try:
        open_in_firefox(lab, ff, "ff.ipynb")
        lab.run_cell(ff, 0)
        info = wait_until(lambda: (p := read_probe(probe)).get("transport") == "comm" and p,
                          20 * UNIT, f"the move to the comm ({read_probe(probe)})")
        assert info["reason"].startswith("auto: WebRTC"), info
        # the fake camera: one colour a second, never black
        wait_until(lambda: (p := read_probe(probe)).get("frames", 0) > 30
                   and max(p["rgb"] or [0]) > 50, 30 * UNIT,
                   f"Firefox's camera in room.local.video.latest() ({read_probe(probe)})")
        # no click yet: Firefox's autoplay rule holds the AudioWorklet's context, and the
        # status line says so; the first click starts the mic
        status = ".znb-conference .znb-status"
        wait_until(lambda: "holds the microphone" in (ff.evaluate(FF_UP_JS)["status"] or ""),
                   10 * UNIT, f"the autoplay notice ({ff.evaluate(FF_UP_JS)})")
        ff.click(status)
        # the tone reaches the kernel where Firefox has an audio output; without one (this
        # machine: no sound device) its contexts never run, and the status line says so
        mic = wait_until(lambda: ("tone" if read_probe(probe)["level"] > -60 else
                                  "no audio output" in (ff.evaluate(FF_UP_JS)["status"] or "")
                                  and "notice"), 15 * UNIT,
                         f"Firefox's tone in the kernel or the no-audio notice "
                         f"({read_probe(probe)}; page: {ff.evaluate(FF_UP_JS)})")
        bot.wait_for_peers(1, timeout=30 * UNIT)
        wait_until(lambda: bot.peer("nb").video.latest() is not None, 20 * UNIT,
                   "the notebook's camera at the bot")
        slot = wait_until(lambda: (i := ff.evaluate(SLOT_JS, bot.peer_id)) >= 0 and i + 1,
                          20 * UNIT, "the bot's slot") - 1
        wait_until(lambda: (rgb := canvas_rgb(ff, slot)) is not None and rgb[2] > 200
                   and rgb[0] < 50, 20 * UNIT, f"the bot's blue on its tile "
                   f"({canvas_rgb(ff, slot)})")
        wait_until(lambda: lab.kernel_states() == ["idle"], 10 * UNIT, "an idle kernel")
        lab.run_cell(ff, 1)
        wait_until(lambda: Path(f"{probe}.started").exists(), 5 * UNIT, "the sleeping cell")
        first, t0 = read_probe(probe), time.monotonic()
        time.sleep(4.0)
        last, t1 = read_probe(probe), time.monotonic()
        assert not Path(f"{probe}.done").exists(), "the cell should still be sleeping"
        rate = (last["frames"] - first["frames"]) / (t1 - t0)
        print(f"Firefox {ff.version}: camera fps in the kernel during time.sleep: {rate:.1f}; "
              f"mic: {mic}; {last}")
        assert rate > 5, (rate, last)
    finally:
        ff.close()
