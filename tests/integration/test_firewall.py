"""A kernel on a machine that sends no UDP joins through coturn over TCP and over TLS."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import zero_nb
from tests.conftest import UNIT, close_to, wait_until
from tests.firewall_support import INNER, OUTER, firewalled_namespace, wait_tcp
from zero_nb import sources

pytestmark = pytest.mark.media

RED, BLUE = (255, 0, 0), (0, 0, 255)
SUPPORT = Path(__file__).resolve().parent.parent / "firewall_support.py"
TURN = {"username": "u", "credential": "p"}


@pytest.fixture
def walled():
    with firewalled_namespace() as ns:
        yield ns


@pytest.fixture
def coturn(walled, tmp_path):
    """coturn on OUTER: UDP and TCP on 3478, TLS on 5349 with a self-signed certificate."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is missing: apt-get install coturn (scripts/test.sh does this)")
    d = tmp_path
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", d / "key.pem", "-out", d / "cert.pem", "-subj", "/CN=turn-test",
                    "-addext", f"subjectAltName=IP:{OUTER}"], check=True, capture_output=True)
    proc = subprocess.Popen(
        [binary, "-n", f"--listening-ip={OUTER}", f"--relay-ip={OUTER}",
         "--listening-port=3478", "--tls-listening-port=5349", "--min-port=49160",
         "--max-port=49300", "--lt-cred-mech", "--user=u:p", "--realm=test", "--no-dtls",
         f"--cert={d / 'cert.pem'}", f"--pkey={d / 'key.pem'}", "--no-cli",
         "--log-file=stdout"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_tcp(OUTER, 3478, 10 * UNIT)
        wait_tcp(OUTER, 5349, 10 * UNIT)
        yield d / "cert.pem"
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def outer_server(walled):
    handle = zero_nb.serve(OUTER, 0)
    yield handle
    handle.stop()


class Walled:
    """The participant process inside the firewalled namespace, read line by line."""

    def __init__(self, walled, server: str, session: str, config: dict, cert: Path) -> None:
        env = {**os.environ, "SSL_CERT_FILE": str(cert),
               "PYTHONPATH": str(SUPPORT.parent.parent)}
        self.proc = subprocess.Popen(
            walled.command(sys.executable, str(SUPPORT), server, session, json.dumps(config)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, key: str, timeout: float, test=lambda entry: True) -> dict:
        # lines come in any order (an error can be printed before the relay line): look at
        # what was already read first
        for entry in self.seen:
            if key in entry and test(entry):
                return entry
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                entry = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(entry)
            if key in entry and test(entry):
                return entry
        raise AssertionError(f"no {key!r} line within {timeout:g} s; got {self.seen[-5:]}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10 * UNIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _walled_config(*urls: str) -> dict:
    return {"webrtc": {"host_addresses": [INNER], "ice_servers": [{"urls": list(urls), **TURN}]}}


@pytest.mark.parametrize("fallback", [f"turn:{OUTER}:3478?transport=tcp",
                                      f"turns:{OUTER}:5349?transport=tcp"],
                         ids=["tcp", "tls"])
def test_udp_blocked_kernel_relays_over_tcp_and_tls(walled, coturn, outer_server, fallback):
    """With `turn:` (UDP) listed first, the walled kernel relays through the TCP/TLS URL and
    media flows both ways with a bot outside."""
    session = f"fw-{fallback.split(':')[0]}"
    bot = zero_nb.join(session, outer_server.url, name="bot", video=sources.solid(RED),
                       config={"webrtc": {"host_addresses": [OUTER], "ice_servers": []}})
    kernel = Walled(walled, outer_server.url, session,
                    _walled_config(f"turn:{OUTER}:3478", fallback), coturn)
    try:
        assert kernel.wait_for("relay", 20 * UNIT)["relay"] == fallback
        kernel.wait_for("rgb", 40 * UNIT, lambda e: close_to_rgb(e["rgb"], RED)
                        and e["frames"] >= 10)
        bot.wait_for_peers(1, timeout=30 * UNIT)
        peer = bot.peer("walled")
        assert wait_until(lambda: close_to(peer.video.latest(), BLUE)
                          and peer.video.frame_count >= 10, 20 * UNIT)
        assert not [e for e in kernel.seen if "error" in e]
    finally:
        kernel.close()
        bot.leave()


def close_to_rgb(rgb, want, tol=25) -> bool:
    return all(abs(a - b) < tol for a, b in zip(rgb, want, strict=True))


def test_udp_blocked_kernel_with_udp_turn_only_says_what_to_configure(walled, coturn,
                                                                       outer_server):
    """A walled kernel whose only relay is `turn:` over UDP reports it through on("error")
    naming the TCP and TLS URLs to add."""
    bot = zero_nb.join("fw-none", outer_server.url, name="bot", video=sources.solid(RED),
                       config={"webrtc": {"host_addresses": [OUTER], "ice_servers": []}})
    kernel = Walled(walled, outer_server.url, "fw-none", _walled_config(f"turn:{OUTER}:3478"),
                    coturn)
    try:
        first = kernel.wait_for("relay", 20 * UNIT)
        assert first["relay"] is None and f"turn:{OUTER}:3478: no answer" in first["problem"]
        text = kernel.wait_for("error", 20 * UNIT)["error"]
        assert f"turn:{OUTER}:3478" in text and "?transport=tcp" in text and "turns:" in text
    finally:
        kernel.close()
        bot.leave()


def test_udp_blocked_kernel_without_turn_reports_the_failed_connection(walled, outer_server):
    """With no TURN at all, ICE to the bot fails and both sides get one on("error") naming
    the TCP/TLS TURN URLs to add."""
    errors: list[str] = []
    bot = zero_nb.join("fw-bare", outer_server.url, name="bot", video=sources.solid(RED),
                       config={"webrtc": {"host_addresses": [OUTER], "ice_servers": []}})
    bot.on("error", lambda peer, text: errors.append(text))
    kernel = Walled(walled, outer_server.url, "fw-bare",
                    {"webrtc": {"host_addresses": [INNER], "ice_servers": []}}, Path("/dev/null"))
    try:
        text = kernel.wait_for("error", 120 * UNIT)["error"]  # aioice gives up after ~64 s
        assert text.startswith("no media path to bot: ICE failed")
        assert "?transport=tcp" in text and "turns:" in text and "is empty" in text
        assert wait_until(lambda: errors, 10 * UNIT), "the bot was not told"
        assert errors[0].startswith("no media path to walled: ICE failed")
        assert not [e for e in kernel.seen[kernel.seen.index({"error": text}) + 1:]
                    if "error" in e]  # once, though the mesh retries
    finally:
        kernel.close()
        bot.leave()
