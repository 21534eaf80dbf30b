"""Nobody joins a session they were not let into: tokens by default, Origin checks, and an
embedded server private to its Unix user (real servers, real processes, a second real uid)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import zero_nb
from tests.conftest import MEDIA_CONFIG, UNIT, close_to
from zero_nb.errors import ConfigError, Unauthorized
from zero_nb.signaling import runtime
from zero_nb.signaling.client import SignalingClient
from zero_nb.signaling.server import SignalingServer

RED = (255, 0, 0)
EVIL = "https://evil.example"
PARTICIPANT = Path(__file__).with_name("participant.py")
REPO = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def first_reply(url: str, origin: str | None) -> tuple[dict, object]:
    """Open ``url`` as a page from ``origin`` would, join, return (first reply, close code)."""
    ws = await connect(url, origin=origin)
    with contextlib.suppress(ConnectionClosed):  # a refused one may be closed already
        await ws.send(json.dumps({"type": "join", "session": "lab"}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5 * UNIT))
    if reply["type"] == "error":
        await asyncio.wait_for(ws.wait_closed(), 5 * UNIT)
    code = ws.close_code
    await ws.close()
    return reply, code


def assert_refused(reply: dict, code: object, origin: str) -> None:
    assert reply["type"] == "error" and reply["code"] == "forbidden-origin", reply
    assert origin in reply["message"] and "signaling.allowed_origins" in reply["message"]
    assert code == 1008


async def test_foreign_origin_refused_own_and_listed_admitted():
    """A page from another site is refused before it can join (an error naming its origin and
    the setting, then close 1008); the server's own origin and a listed one join."""
    listed = "https://lab.example"
    config = {"signaling": {"allowed_origins": [listed]}}
    async with SignalingServer("127.0.0.1", 0, config=config) as srv:
        reply, code = await first_reply(srv.url, EVIL)
        assert_refused(reply, code, EVIL)
        assert srv.sessions() == {}
        for origin in (f"http://127.0.0.1:{srv.port}", listed, None):
            reply, _ = await first_reply(srv.url, origin)
            assert reply["type"] == "joined", (origin, reply)


def test_foreign_origin_refused_by_serve_and_the_embedded_server():
    """zero_nb.serve() and the server join() embeds refuse a foreign Origin the same way."""
    address = f"ws://127.0.0.1:{free_port()}/ws"
    room = zero_nb.join("lab", name="a", config={**MEDIA_CONFIG,
                                                 "signaling": {"server_address": address}})
    served = zero_nb.serve("127.0.0.1", 0)
    embedded = zero_nb._join.embedded_server()
    try:
        assert embedded is not None and embedded.address == address
        for url in (embedded.url, served.url):
            reply, code = asyncio.run(first_reply(url, EVIL))
            assert_refused(reply, code, EVIL)
        assert [p["name"] for p in embedded.sessions()["lab"]] == ["a"]
    finally:
        room.leave()
        served.stop()
        if embedded is not None:
            embedded.stop()


async def test_messages_say_what_to_do():
    """No token, a wrong token and a page link given to join() each say what to do."""
    async with SignalingServer("127.0.0.1", 0) as srv:
        assert srv.token and srv.url.endswith(f"?token={srv.token}")
        assert srv.page_url == f"http://127.0.0.1:{srv.port}/?token={srv.token}"
        with pytest.raises(Unauthorized, match=r"needs its access token.*\?token="):
            await SignalingClient(srv.address, session="s", reconnect=False).connect()
        with pytest.raises(Unauthorized, match=r"wrong access token.*prints now"):
            await SignalingClient(srv.address + "?token=old", session="s").connect()
        with pytest.raises(ConfigError, match=rf"web page's link.*ws://127.0.0.1:{srv.port}/ws"):
            SignalingClient(srv.page_url, session="s")
        ok = SignalingClient(srv.url, session="s")  # the URL carries the token
        await ok.connect()
        await ok.close()
        assert srv.link("lab", base="https://hub.example/user/me/proxy/8765/", name="ann") \
            == f"https://hub.example/user/me/proxy/8765/?session=lab&name=ann&token={srv.token}"


def test_opt_out_is_explicit_and_warns(caplog):
    """auth=False or signaling.auth.token: none: no token, and a warning says who can join."""
    caplog.set_level(logging.WARNING, "zero_nb.signaling")
    for kwargs in ({"auth": False}, {"config": {"signaling": {"auth": {"token": "none"}}}}):
        server = zero_nb.serve("127.0.0.1", 0, **kwargs)
        try:
            assert server.token is None and "token=" not in server.url
            assert "every user of this machine" in caplog.text
        finally:
            server.stop()
        caplog.clear()


def test_restart_on_the_same_address_keeps_the_token():
    """A server restarted on its address keeps its token: the URLs clients hold still work."""
    first = zero_nb.serve("127.0.0.1", 0)
    port, url = first.port, first.url
    first.stop()
    second = zero_nb.serve("127.0.0.1", port)
    try:
        assert second.url == url
    finally:
        second.stop()


def test_runtime_file_private_and_gone_after_stop_and_a_stale_one_does_not_block(tmp_path):
    """The announcement is 0600 and removed at stop; a killed process's file neither blocks
    the next start nor is trusted (its token is reused only for the same address); a file
    that is not private is ignored."""
    port = free_port()
    server = zero_nb.serve("127.0.0.1", port)
    path = runtime.runtime_dir() / f"zero_nb-signaling-{port}.json"
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text())["url"] == server.url
    finally:
        server.stop()
    assert not path.exists()
    port = free_port()  # an address this process never served: only the file knows a token
    path = runtime.runtime_dir() / f"zero_nb-signaling-{port}.json"
    dead = subprocess.Popen(["true"])
    dead.wait()
    other = free_port()  # nothing listens there: the stale file must not send us to it
    path.write_text(json.dumps({"url": f"ws://127.0.0.1:{other}/ws?token=old",
                                "token": "old", "pid": dead.pid}))
    path.chmod(0o600)
    address = f"ws://127.0.0.1:{port}/ws"
    room = zero_nb.join("lab", config={**MEDIA_CONFIG, "signaling": {"server_address": address}})
    embedded = zero_nb._join.embedded_server()
    try:
        assert embedded is not None and embedded.address == address
        assert embedded.token == "old"  # a restart of the killed server keeps its token
        assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        room.leave()
        if embedded is not None:
            embedded.stop()
    path.write_text(json.dumps({"url": address, "token": "x", "pid": os.getpid()}))
    path.chmod(0o644)
    assert runtime.find(port) is None  # readable by others: not trusted
    path.unlink()


# -- two processes of one user, and a second Unix user -----------------------------------------

OTHER_UID = 65534


def _python_for(uid: int) -> list[str]:
    """An interpreter the other uid can run, with this venv's packages."""
    probe = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    if subprocess.run([*probe, sys.executable, "-c", "pass"], capture_output=True).returncode \
            == 0:
        return [sys.executable]
    import sysconfig

    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        pytest.skip("no interpreter the second user can run")
    return [system, "-c", f"import sys; sys.path.append({sysconfig.get_paths()['purelib']!r}); "
            f"sys.argv = sys.argv[1:]; exec(open(sys.argv[0]).read())"]


class Participant:
    """``participant.py`` in a subprocess (optionally as another uid); one JSON line per ask."""

    def __init__(self, name: str, color: tuple[int, int, int], port: int, *, home: Path,
                 uid: int | None = None) -> None:
        env = {"PATH": os.environ["PATH"], "HOME": str(home),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "PYTHONPATH": str(REPO),
               "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable]
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                   *_python_for(uid)]
        self.proc = subprocess.Popen(
            [*cmd, str(PARTICIPANT), name, ",".join(map(str, color)), str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=str(home))
        self.log: str | None = None
        self.hello = self._line()

    def _line(self) -> object:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"participant died: {self.quit()}")
        return json.loads(line)

    def ask(self, command: str) -> object:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._line()

    def quit(self) -> str:
        """Stop it (once) and return what it logged."""
        if self.log is None:
            self.log = self.proc.communicate("quit\n" if self.proc.poll() is None else None,
                                             timeout=20 * UNIT)[1]
        return self.log


def _poll(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return bool(cond())


@pytest.mark.media
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a second Unix user")
def test_other_user_never_joins_and_same_user_finds_the_server():
    """User A's join("lab") embeds a server; A's second process finds it with no config and
    receives A's red; user B (another uid) running the same one-liner gets a server of its own
    with a warning that says why, and never reaches A's session."""
    port = free_port()
    homes = Path(tempfile.mkdtemp(prefix="zero_nb-users-"))  # pytest's tmp is root-only
    homes.chmod(0o755)
    home_a, home_b = homes / "a", homes / "b"
    home_a.mkdir(mode=0o700)
    home_b.mkdir(mode=0o700)
    os.chown(home_b, OTHER_UID, OTHER_UID)
    a = Participant("a", RED, port, home=home_a)
    a2 = b = None
    try:
        assert a.hello == {"server": f"ws://127.0.0.1:{port}/ws", "embedded": True}
        a2 = Participant("a2", (0, 0, 255), port, home=home_a)
        assert a2.hello == {"server": f"ws://127.0.0.1:{port}/ws", "embedded": False}
        assert _poll(lambda: close_to(_frame(a2.ask("peers"), "a"), RED), 30 * UNIT)
        b = Participant("b", (0, 255, 0), port, home=home_b, uid=OTHER_UID)
        assert b.hello["embedded"] and b.hello["server"] != f"ws://127.0.0.1:{port}/ws", b.hello
        names = {p["name"] for p in a.ask("sessions")["lab"]}
        assert names == {"a", "a2"}  # B's join landed elsewhere
        assert b.ask("peers") == {}
        b_log = b.quit()
        assert f"127.0.0.1:{port} is taken by a signaling server this user did not start" \
            in b_log and "signaling.server_address" in b_log, b_log
    finally:
        for p in (b, a2, a):
            if p is not None:
                p.quit()
        shutil.rmtree(homes, ignore_errors=True)


def _frame(peers: object, name: str):
    import numpy as np

    rgb = peers.get(name) if isinstance(peers, dict) else None
    return None if rgb is None else np.array(rgb, dtype=np.uint8).reshape(1, 1, 3)
