"""A real JupyterLab server for widget tests: temporary config/runtime/settings dirs, a token,
the app exposed as ``window.jupyterapp``, and helpers to wait for the kernel and run cells."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import wait_until
from tests.conftest import UNIT

__all__ = ["JupyterLab", "jupyter_lab", "write_notebook"]

REPO = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A minimal nbformat 4 notebook with a python3 kernelspec (so the kernel starts)."""
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [],
                     "execution_count": None, "source": src} for i, src in enumerate(cells)]}
    path.write_text(json.dumps(nb))
    return path


class JupyterLab:
    def __init__(self, root: Path, port: int, token: str, proc: subprocess.Popen[bytes]):
        self.root, self.port, self.token, self.proc = root, port, token, proc
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}{path}?token={self.token}", timeout=5) as r:
            return json.loads(r.read())

    def kernel_states(self) -> list[str]:
        return [s["kernel"]["execution_state"] for s in self.api("/api/sessions")]

    def open(self, page: Any, notebook: str, host: str = "127.0.0.1") -> None:
        """Open ``notebook`` (at ``host``: a name the browser maps to 127.0.0.1) and wait
        until its kernel is idle."""
        page.goto(f"http://{host}:{self.port}/lab/tree/{notebook}?token={self.token}")
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=30_000 * UNIT)
        wait_until(lambda: self.kernel_states() == ["idle"], 30 * UNIT, "an idle kernel")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=10_000 * UNIT)

    def run_all_notebook7(self, page: Any, notebook: str) -> None:
        """Open ``notebook`` in Notebook 7 (/notebooks/...), wait for an idle kernel and run
        every cell from Notebook 7's own menu (Run -> Run All Cells)."""
        page.goto(f"{self.base}/notebooks/{notebook}?token={self.token}")
        wait_until(lambda: self.kernel_states() == ["idle"], 30 * UNIT, "an idle kernel")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000 * UNIT)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()

    def show_conference(self, page: Any, notebook: str, cells: list[str]) -> None:
        """Write ``notebook`` (its first cell shows the Conference), open it in ``page``, run
        that cell and wait for the widget."""
        write_notebook(self.root / notebook, cells)
        self.open(page, notebook)
        self.run_cell(page, 0)
        page.wait_for_selector(".znb-conference", timeout=30_000 * UNIT)

    def reset(self) -> None:
        """Delete every kernel session and Lab workspace (Lab restores the last layout:
        without this the next test's page reopens the previous notebook)."""

        def delete(path: str) -> None:
            req = urllib.request.Request(f"{self.base}{path}?token={self.token}",
                                         method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()

        for session in self.api("/api/sessions"):
            delete(f"/api/sessions/{session['id']}")
        for workspace in self.api("/lab/api/workspaces")["workspaces"]["ids"]:
            delete(f"/lab/api/workspaces/{workspace}")
        wait_until(lambda: not self.api("/api/sessions"), 10 * UNIT, "no sessions left")

    @staticmethod
    def run_cell(page: Any, index: int) -> None:
        """Start cell ``index`` of the current notebook (like Shift+Enter); does not wait."""
        page.evaluate("""(i) => {
            const app = window.jupyterapp;
            // a page without focus (headless Firefox) may have no current widget yet
            let panel = app.shell.currentWidget;
            if (!panel) {
                panel = [...app.shell.widgets("main")].find((w) => w.content?.widgets);
                app.shell.activateById(panel.id);
            }
            panel.content.activeCellIndex = i;
            app.commands.execute('notebook:run-cell');  // resolves when the cell is done
        }""", index)


@contextmanager
def jupyter_lab(root: Path, env: dict[str, str], args: tuple[str, ...] = ()
                ) -> Iterator[JupyterLab]:
    """``jupyter lab`` on 127.0.0.1 serving ``root``; kernels inherit ``env``; ``args`` go to
    the server's command line."""
    port, token = _free_port(), "zero-nb-test"
    dirs = {k: root.parent / f"jupyter-{k.lower()}" for k in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "IPYTHONDIR")}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    # no "get notified about Jupyter news?" toast over the page
    news = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    full_env = {**os.environ, **{k: str(v) for k, v in dirs.items()}, **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                             os.environ.get("PYTHONPATH")]))}
    log = (root.parent / "jupyter.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         "--allow-root", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True", *args],
        env=full_env, stdout=log, stderr=subprocess.STDOUT)
    lab = JupyterLab(root, port, token, proc)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: see {log.name}", pytrace=False)
            try:
                lab.api("/api/status")
                return True
            except OSError:
                return False
        wait_until(up, 30 * UNIT, "jupyter lab to answer", step=0.2)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        time.sleep(0)  # let the kernel's exit handlers close its links
