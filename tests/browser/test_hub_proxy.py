"""A guest page through jupyter-server-proxy: real JupyterLab with the extension, a kernel that
serves (as on JupyterHub or Binder, where only the Jupyter server is reachable), and Chromium
opening the link the kernel gives, ``<jupyter>/proxy/PORT/?token=...``."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import wait_until
from tests.browser.jupyter import jupyter_lab
from tests.conftest import UNIT

pytestmark = pytest.mark.media

SERVE = """
%load_ext zero_nb
CFG = {"signaling": {"auth": {"token": "zt-guest"}}}
%zero serve --port 0 --config CFG
import zero_nb
room = zero_nb.join("hub", zero_server.url, name="teacher", token="zt-guest",
                    config={"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}})
print("LINK", zero_server.proxy_url)
"""

WATCH = """
import json
room.wait_for_peers(1, timeout=%(t)s)
guest = room.peer("guest")
import time
deadline = time.monotonic() + %(t)s
while guest.video.frame_count < 10 and time.monotonic() < deadline:
    time.sleep(0.1)
img = guest.video.latest()
print("SEEN", json.dumps({"frames": guest.video.frame_count,
      "rgb": None if img is None else img.reshape(-1, 3).mean(axis=0).round().tolist()}))
room.leave()
"""


class Kernel:
    """A kernel started through the Jupyter server's REST API (so it has the environment
    Jupyter gives kernels), driven with jupyter_client over its connection file."""

    def __init__(self, lab: Any) -> None:
        from jupyter_client import BlockingKernelClient

        req = urllib.request.Request(f"{lab.base}/api/kernels", data=b"{}", method="POST",
                                     headers={"Authorization": f"token {lab.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            kernel_id = json.loads(r.read())["id"]
        runtime = Path(lab.root).parent / "jupyter-jupyter_runtime_dir"
        self.client = BlockingKernelClient(
            connection_file=str(runtime / f"kernel-{kernel_id}.json"))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60 * UNIT)

    def run(self, code: str, timeout: float) -> str:
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)

    def line(self, text: str, tag: str) -> str:
        (line,) = [x for x in text.splitlines() if x.startswith(tag + " ")]
        return line[len(tag) + 1:]


def test_guest_page_through_jupyter_server_proxy_joins_the_kernels_session(
        tmp_path, browser, red_clip):
    """The kernel's link points through the Jupyter server; a guest page opened there loads,
    signals through the proxy's WebSocket, joins, and the kernel receives its video."""
    root = tmp_path / "nb"
    root.mkdir()
    with jupyter_lab(root, {}) as lab:
        kernel = Kernel(lab)
        try:
            shown = kernel.run(SERVE, 60 * UNIT)
            link = kernel.line(shown, "LINK")
            port = int(link.split("/proxy/")[1].split("/")[0])
            assert link == f"{lab.base}/proxy/{port}/?token=zt-guest"
            assert f"guests who reach only this Jupyter server: {link}" in shown
            assert "TURN server" in shown  # where the link is shown: media needs a path

            context = browser(red_clip)
            page = context.pages[0] if context.pages else context.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{lab.base}/api/status?token={lab.token}")  # Jupyter's login cookie
            page.goto(link + "&session=hub&name=guest&autojoin=1&processing=0")
            page.wait_for_function("() => window.zeroNb !== undefined",
                                   timeout=10_000 * UNIT)
            wait_until(lambda: page.evaluate("() => window.zeroNb.snapshot().state")
                       == "joined", 20 * UNIT, "the guest page to join")
            assert sockets == [f"ws://127.0.0.1:{lab.port}/proxy/{port}/ws"]

            seen = json.loads(kernel.line(kernel.run(WATCH % {"t": 30 * UNIT}, 90 * UNIT),
                                          "SEEN"))
            assert seen["frames"] >= 10
            r, g, b = seen["rgb"]
            assert r > 200 and g < 50 and b < 50, seen  # the guest's red clip
        finally:
            kernel.client.stop_channels()


def test_conference_shows_the_guest_link_and_a_guest_joins_from_it(tmp_path, browser,
                                                                    red_clip):
    """The teacher's Conference widget shows the guest link (session and token in it) with
    the media note; a guest opening it joins and the two see each other's video."""
    from tests.browser.helpers import Page
    from tests.browser.jupyter import write_notebook

    root = tmp_path / "nb"
    root.mkdir()
    with jupyter_lab(root, {}) as lab:
        write_notebook(root / "teach.ipynb", [SERVE.replace('print("LINK", zero_server.proxy_url)',
                                                            "room")])
        context = browser(red_clip)
        teacher = context.pages[0] if context.pages else context.new_page()
        teacher.set_viewport_size({"width": 900, "height": 700})
        lab.open(teacher, "teach.ipynb")
        lab.run_cell(teacher, 0)
        teacher.wait_for_selector(".znb-guests", timeout=30_000 * UNIT)
        line = wait_until(lambda: teacher.inner_text(".znb-guests"), 20 * UNIT,
                          "the guest line")
        link = line.split(": ", 1)[1].split()[0]
        assert link.startswith(f"{lab.base}/proxy/") and "session=hub" in link
        assert "token=zt-guest" in link and "TURN server" in line

        guest = Page(context.new_page(), lab.base)  # same profile: Jupyter's login cookie
        guest.page.goto(link + "&name=guest&autojoin=1&processing=0")
        guest.page.wait_for_function("() => window.zeroNb !== undefined",
                                     timeout=10_000 * UNIT)
        guest.wait_decoding(["teacher"], timeout=30 * UNIT)
        teacher.wait_for_function(
            "() => [...document.querySelectorAll('.znb-conference video')].some("
            "(v) => v.videoWidth > 0 && v.closest('[data-name=\"guest\"], .znb-tile')"
            "?.textContent.includes('guest'))", timeout=30_000 * UNIT)
