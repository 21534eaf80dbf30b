"""Real Janus for SFU tests and benchmarks: config, a veth for its ICE, the ``janus`` fixture.

Janus (Debian package ``janus``) runs in the foreground from a config directory written here,
in the caller's private network namespace. Janus leaves loopback out of its ICE candidates, so
a veth pair holding 127.0.0.1/32 is added and Janus told to use only it; the pair is removed
afterwards, so the namespace is loopback-only again.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
VETH = "zsfu0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lib_dir(kind: str) -> Path:
    found = sorted(Path("/usr/lib").glob(f"*/janus/{kind}"))
    return found[0] if found else JANUS_LIB / kind


def write_janus_config(root: Path, port: int, iface: str) -> Path:
    """A config dir loading only the VideoRoom plugin and the WebSocket transport."""
    for kind, keep in (("plugins", "libjanus_videoroom.so"),
                       ("transports", "libjanus_websockets.so"), ("events", None),
                       ("loggers", None)):
        (root / kind).mkdir(parents=True)
        if keep:
            (root / kind / keep).symlink_to(_lib_dir(kind) / keep)
    (root / "janus.jcfg").write_text(f"""
general: {{
  configs_folder = "{root}"
  plugins_folder = "{root}/plugins"
  transports_folder = "{root}/transports"
  events_folder = "{root}/events"
  loggers_folder = "{root}/loggers"
  debug_level = 3
  session_timeout = 60
}}
media: {{ ipv6 = false }}
nat: {{
  ice_enforce_list = "{iface}"
  ignore_mdns = true
}}
events: {{ broadcast = false }}
""")
    (root / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    (root / "janus.transport.websockets.jcfg").write_text(f"""
general: {{
  json = "plain"
  ws = true
  ws_ip = "127.0.0.1"
  ws_port = {port}
  wss = false
}}
admin: {{ admin_ws = false admin_wss = false }}
""")
    return root


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@contextlib.contextmanager
def running_janus(workdir: Path, start_timeout: float = 10.0,
                  veth: str = VETH) -> Iterator[subprocess.Popen]:
    """Janus on a free loopback port, ICE on a veth holding 127.0.0.1/32; ``proc.url``.
    Several at once: give each its own ``veth`` name and ``workdir``."""
    if shutil.which("janus") is None:
        raise RuntimeError("Janus is not installed: apt-get install -y janus")
    _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
    try:
        with open("/proc/sys/net/ipv6/conf/all/disable_ipv6", "w") as f:
            f.write("1")
        _sh("ip", "addr", "add", "127.0.0.1/32", "dev", veth)
        _sh("ip", "link", "set", veth, "up")
        _sh("ip", "link", "set", veth + "p", "up")
        port = free_port()
        conf = write_janus_config(workdir / "janus", port, veth)
        log_path = workdir / "janus.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"),
                                     "-o", "-N"], stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + start_timeout
                while True:
                    with contextlib.suppress(OSError), socket.create_connection(
                            ("127.0.0.1", port), 0.2):
                        break
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("Janus did not start:\n" +
                                           log_path.read_text()[-2000:])
                    time.sleep(0.05)
                proc.url = f"ws://127.0.0.1:{port}"  # type: ignore[attr-defined]
                yield proc
            finally:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
                if proc.poll() is None:
                    proc.kill()
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)


@pytest.fixture
def janus(tmp_path):
    """Janus on a free loopback port, ICE on a veth holding 127.0.0.1/32; yields the process
    (``.url`` is its WebSocket URL)."""
    from tests.conftest import UNIT

    if shutil.which("janus") is None:
        pytest.skip("Janus is not installed: apt-get install -y janus")
    with running_janus(tmp_path, 10 * UNIT) as proc:
        yield proc


@pytest.fixture
def sfu_server(janus):
    """A signaling server whose sessions are backed by that Janus; serves the page too."""
    from zero_nb.sfu.bridge import JanusBridge
    from zero_nb.signaling.server import serve

    bridge = JanusBridge(janus.url)  # what zero_nb.serve() builds for sfu.enabled
    handle = serve("127.0.0.1", 0, hooks=bridge.hooks(), config={
        "signaling": {"heartbeat": {"interval": 1.0, "timeout": 2.0}}})
    handle.bridge = bridge  # type: ignore[attr-defined]  # for the tests' asserts
    yield handle
    handle.stop()
