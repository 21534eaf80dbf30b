"""The remote-Jupyter harness: the browser on "another machine", reaching Jupyter only through
its one TCP port, exactly as ``ssh -L PORT:localhost:PORT`` gives a user.

JupyterLab and its kernel run in the test's loopback-only namespace. Chromium runs in a second,
nested namespace that has only its own ``lo``: there a socat listens on 127.0.0.1:PORT and
forwards each connection over a unix socket (unix sockets cross network namespaces, TCP and
UDP do not) to a socat in the test's namespace that connects to Jupyter. The page loads
``http://127.0.0.1:PORT/lab/...`` (a secure context, as through a real tunnel); no UDP and no
other TCP port reaches the kernel, so WebRTC between page and kernel cannot connect.

Use the ``remote`` fixture (import it into a test module: ``from tests.browser.remote import
remote``) like ``browser``: ``remote(port, clip=...)`` -> a Playwright context whose pages
reach ``port`` only through the tunnel. :class:`Tunnel` is the piece without Playwright.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import CHROMIUM, wait_until
from tests.conftest import UNIT

__all__ = ["SOCAT_HINT", "Tunnel", "remote"]

SOCAT_HINT = "the remote-Jupyter harness needs socat: `apt-get install -y socat`"

# Runs as Playwright's browser executable: a new network namespace with only lo, the inner end
# of the tunnel listening on the port (polled in /proc/net/tcp, this namespace's own table),
# then Chromium; the inner socat ends with the browser.
_WRAPPER = """#!/bin/sh
exec {unshare} sh -c '
sock=$1 chromium=$2; shift 2
ip link set lo up || exit 1
socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr "UNIX-CONNECT:$sock" &
tunnel=$!
i=0
until grep -q ":{hexport} 00000000:0000 0A" /proc/net/tcp; do
  i=$((i+1)); [ $i -gt 100 ] && {{ echo "tunnel: socat did not listen" >&2; exit 1; }}
  sleep 0.05
done
"$chromium" "$@"
rc=$?
kill $tunnel
exit $rc
' sh {sock} {chromium} "$@"
"""


class Tunnel:
    """The outer end (socat from a unix socket to 127.0.0.1:``port``) and the wrapper
    executable that starts a browser behind the inner end. Close with :meth:`close`."""

    def __init__(self, port: int, chromium: str = CHROMIUM) -> None:
        if shutil.which("socat") is None:
            pytest.fail(SOCAT_HINT, pytrace=False)
        self.port = port
        # unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer
        self.dir = Path(tempfile.mkdtemp(prefix="znb-tunnel-"))
        self.sock = self.dir / "jupyter.sock"
        self.proc = subprocess.Popen(
            ["socat", f"UNIX-LISTEN:{self.sock},fork", f"TCP:127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.sock.exists() or self.proc.poll() is not None, 10 * UNIT,
                   "the tunnel's unix socket")
        if self.proc.poll() is not None:
            pytest.fail(f"socat (tunnel to port {port}) exited with {self.proc.returncode}",
                        pytrace=False)
        self.executable = self.dir / "chromium-behind-tunnel"
        unshare = "unshare -n" if os.geteuid() == 0 else "unshare -rn"
        self.executable.write_text(_WRAPPER.format(
            unshare=unshare, port=port, hexport=f"{port:04X}", sock=shlex.quote(str(self.sock)),
            chromium=shlex.quote(chromium)))
        self.executable.chmod(0o755)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def remote(browser: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Factory: ``remote(port, clip=None, **browser_options)`` -> a fresh Chromium context
    (the ``browser`` fixture's flags, fake camera and mic) behind a tunnel to ``port``."""
    tunnels: list[Tunnel] = []

    def launch(port: int, clip: Path | None = None, **options: Any) -> Any:
        tunnel = Tunnel(port)
        tunnels.append(tunnel)
        return browser(clip, executable_path=str(tunnel.executable), **options)

    try:
        yield launch
    finally:  # `browser` closes its contexts after this: the tunnels go first, harmlessly
        for tunnel in tunnels:
            tunnel.close()
