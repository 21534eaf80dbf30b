"""Headless Firefox for the browser tests: Debian's ``firefox-esr`` driven over WebDriver BiDi by
``puppeteer-core`` (npm, package.json), through a small node driver (firefox_driver.mjs) that
takes one JSON command per line on stdin. Firefox's fake camera is a colour that changes every
second, its fake mic a tone. Firefox has WebCodecs but no MediaStreamTrackProcessor/Generator,
so the widgets' comm transport takes its other paths there (``new VideoFrame(video)``, an
AudioWorklet, canvas paints)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["FIREFOX", "Firefox", "firefox_or_skip"]

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("firefox_driver.mjs")
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


def firefox_or_skip() -> str:
    """The Firefox binary, or skip saying what to install."""
    if FIREFOX is None:
        pytest.skip("Firefox is not installed: apt-get install -y firefox-esr")
    if shutil.which("node") is None or not (ROOT / "node_modules" / "puppeteer-core").exists():
        pytest.skip("puppeteer-core is not installed: npm ci")
    return FIREFOX


class Firefox:
    """One headless Firefox page. ``evaluate(js, arg)`` runs a function's source in the page
    (awaited), like Playwright's ``page.evaluate``."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.proc = subprocess.Popen(["node", str(DRIVER), binary, str(profile)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.version = self._reply()["version"]

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Firefox driver exited ({self.proc.poll()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"Firefox: {reply.get('error')}")
        return reply

    def _command(self, **cmd: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._reply().get("value")

    def goto(self, url: str) -> None:
        self._command(op="goto", url=url)

    def evaluate(self, js: str, arg: Any = None) -> Any:
        return self._command(op="eval", js=js, arg=arg)

    def click(self, selector: str) -> None:
        """A trusted click on ``selector`` (the user activation a person's click gives)."""
        self._command(op="click", selector=selector)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self._command(op="close")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
