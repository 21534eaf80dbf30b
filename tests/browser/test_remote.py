"""The widgets with the browser on "another machine" (tests/browser/remote.py): JupyterLab's one
port through a tunnel, no other path to the kernel; and the transport switch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import remote as harness
from tests.browser.helpers import wait_until
from tests.browser.jupyter import JupyterLab, jupyter_lab, write_notebook
from tests.conftest import UNIT

pytestmark = pytest.mark.media

remote = harness.remote  # the browser behind the tunnel

CFG = '{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}'


@pytest.fixture(scope="module")
def bg_server() -> Iterator[Any]:
    import zero_nb

    handle = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
        "heartbeat": {"interval": 1.0, "timeout": 2.0}}})
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory, bg_server: Any) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("rlab") / "nb"
    root.mkdir()
    with jupyter_lab(root, {"ZNB_URL": bg_server.url}) as lab:
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
