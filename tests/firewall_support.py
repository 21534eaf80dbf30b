"""A kernel behind a firewall, for tests: a network namespace that drops all UDP it sends,
joined to the test's namespace by a veth pair, and a participant process to run inside it.

`python tests/firewall_support.py SERVER SESSION CONFIG_JSON` joins SESSION sending blue and
prints JSON lines: {"relay": url}, {"error": text}, {"rgb": [...], "frames": n} every 0.2 s
for the first peer; it leaves when stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INNER", "OUTER", "Firewalled", "firewalled_namespace", "wait_tcp"]

OUTER, INNER = "10.77.0.1", "10.77.0.2"  # the test's side, the firewalled kernel's side


@dataclass
class Firewalled:
    """The inner namespace, held open by ``holder``; ``run`` commands there."""

    holder: subprocess.Popen[bytes]

    def command(self, *args: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *args]

    def run(self, *args: str) -> None:
        subprocess.run(self.command(*args), check=True, capture_output=True)


@contextlib.contextmanager
def firewalled_namespace() -> Iterator[Firewalled]:
    """A namespace at INNER that reaches OUTER over TCP only (nftables drops its UDP)."""
    if shutil.which("nft") is None:
        raise RuntimeError("nftables is missing: apt-get install -y nftables "
                           "(scripts/test.sh does this)")
    holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"])
    ns = Firewalled(holder)
    try:
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline:
                raise RuntimeError("unshare -n did not make a namespace")
            time.sleep(0.01)
        subprocess.run(["ip", "link", "add", "zfw0", "type", "veth", "peer", "name", "zfw1"],
                       check=True)
        subprocess.run(["ip", "link", "set", "zfw1", "netns", str(holder.pid)], check=True)
        subprocess.run(["ip", "addr", "add", f"{OUTER}/24", "dev", "zfw0"], check=True)
        subprocess.run(["ip", "link", "set", "zfw0", "up"], check=True)
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "addr", "add", f"{INNER}/24", "dev", "zfw1")
        ns.run("ip", "link", "set", "zfw1", "up")
        ns.run("nft", "add", "table", "inet", "fw")
        ns.run("nft", "add", "chain", "inet", "fw", "out",
               "{ type filter hook output priority 0; }")
        ns.run("nft", "add", "rule", "inet", "fw", "out", "meta", "l4proto", "udp", "drop")
        yield ns
    finally:
        holder.kill()
        holder.wait()
        # the veth pair dies with the namespace; make sure, so later tests see only lo
        subprocess.run(["ip", "link", "del", "zfw0"], capture_output=True)


def wait_tcp(host: str, port: int, timeout: float) -> None:
    """Poll until something accepts TCP on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _participant(server: str, session: str, config: dict) -> None:
    import zero_nb
    from zero_nb import sources

    room = zero_nb.join(session, server, name="walled", video=sources.solid((0, 0, 255)),
                        config=config)
    say = threading.Lock()

    def emit(entry: dict) -> None:
        with say:
            print(json.dumps(entry), flush=True)

    room.on("error", lambda peer, text: emit({"error": text}))
    assert room.relay is not None
    emit({"relay": room.relay.url, "problem": room.relay.problem})
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(0.2):
            for peer in list(room.peers.values()):
                img = peer.video.latest()
                if img is not None:
                    emit({"rgb": img.reshape(-1, 3).mean(axis=0).round().tolist(),
                          "frames": peer.video.frame_count})

    threading.Thread(target=report, daemon=True).start()
    sys.stdin.read()
    stop.set()
    room.leave()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _participant(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
