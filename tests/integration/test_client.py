"""The async signaling client against a real server: join, events, errors, reconnect, TLS."""

import asyncio
import datetime
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect as ws_connect

import zero_nb
from tests.conftest import UNIT
from zero_nb.errors import BadPassword, InvalidJoin, JoinRefused, ServerUnreachable, SessionFull
from zero_nb.signaling.client import ClientState, SignalingClient
from zero_nb.signaling.server import SignalingServer


async def next_of(client, kind, timeout=5 * UNIT):
    async def find():
        while True:
            msg = await client.recv()
            if msg["type"] == kind:
                return msg
    return await asyncio.wait_for(find(), timeout)


async def test_client_joins_and_exchanges(server):
    """Two clients join one session, see each other and exchange a message."""
    a = SignalingClient(server.url, session="s", name="a")
    b = SignalingClient(server.url, session="s", name="b")
    ja = await a.connect()
    jb = await b.connect()
    assert jb["peers"] == [{"peer_id": ja["peer_id"], "name": "a"}]
    assert (await next_of(a, "peer-joined"))["peer_id"] == b.peer_id
    assert await b.send({"type": "message", "data": "hi"})
    assert (await next_of(a, "message"))["from"] == b.peer_id
    await b.leave()
    assert (await next_of(a, "peer-left"))["peer_id"] == jb["peer_id"]
    await a.close()
    assert a.state is ClientState.CLOSED


async def test_client_refused_and_unreachable(server):
    """A wrong password raises BadPassword; no server raises ServerUnreachable with a hint."""
    owner = SignalingClient(server.url, session="p", password="pw")
    await owner.connect()
    with pytest.raises(BadPassword, match="password"):
        await SignalingClient(server.url, session="p", password="x").connect()
    with pytest.raises(ServerUnreachable, match=r"zero_nb\.serve"):
        await SignalingClient("ws://127.0.0.1:9/ws", reconnect=False).connect(timeout=3 * UNIT)
    await owner.close()


async def test_client_rejoins_after_server_restart():
    """When the server restarts on its port, clients reconnect and re-join with their ids."""
    srv = await SignalingServer("127.0.0.1", 0).start()
    port = srv.port
    a = SignalingClient(srv.url, session="r", name="a", backoff=(0.1, 0.5))
    b = SignalingClient(srv.url, session="r", name="b", backoff=(0.1, 0.5))
    await a.connect()
    await b.connect()
    old = a.peer_id
    await srv.stop()
    await next_of(a, "disconnected")
    srv2 = await SignalingServer("127.0.0.1", port).start()
    rejoined = await next_of(a, "joined", timeout=10 * UNIT)
    assert rejoined["session"] == "r" and a.peer_id == old  # resumed its id
    for _ in range(int(100 * UNIT)):
        if len(srv2.sessions().get("r", [])) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(srv2.sessions()["r"]) == 2 and a.reconnects == 1
    await a.close()
    await b.close()
    await srv2.stop()


async def test_media_state_reaches_peers_late_joiners_and_survives_restart():
    """set_media reaches the others as peer-media; a late joiner sees it in joined.peers; a
    client that never says is listed without media; after a server restart the re-join
    carries the state again."""
    srv = await SignalingServer("127.0.0.1", 0).start()
    a = SignalingClient(srv.url, session="m", name="a", backoff=(0.1, 0.5))
    b = SignalingClient(srv.url, session="m", name="b", backoff=(0.1, 0.5))
    await a.connect()
    await b.connect()
    assert await a.set_media(audio=False, video=True)
    update = await next_of(b, "peer-media")
    assert update == {"type": "peer-media", "peer_id": a.peer_id, "audio": False,
                      "video": True}
    late = SignalingClient(srv.url, session="m", name="late")
    rows = {row["name"]: row for row in (await late.connect())["peers"]}
    assert rows["a"]["media"] == {"audio": False, "video": True}
    assert "media" not in rows["b"]  # never said: unknown
    await late.close()
    port = srv.port
    await srv.stop()
    srv2 = await SignalingServer("127.0.0.1", port).start()
    await next_of(a, "joined", timeout=10 * UNIT)
    for _ in range(int(100 * UNIT)):
        if len(srv2.sessions().get("m", [])) == 2:
            break
        await asyncio.sleep(0.05)
    media = {p["name"]: p.get("media") for p in srv2.sessions()["m"]}
    assert media == {"a": {"audio": False, "video": True}, "b": None}
    await a.close()
    await b.close()
    await srv2.stop()


def test_join_refusals_raise_at_once():
    """zero_nb.join raises the server's refusal within 1 s as a JoinRefused with its code."""
    server = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
        "limits": {"max_peers_per_session": 1}}})
    owner = zero_nb.join("p", server, password="pw")
    try:
        for session, password, cls, code in (("bad name!", None, InvalidJoin, "bad-message"),
                                             ("p", "wrong", BadPassword, "bad-password"),
                                             ("p", "pw", SessionFull, "session-full")):
            start = time.monotonic()
            with pytest.raises(cls) as info:
                zero_nb.join(session, server, password=password)
            took = time.monotonic() - start
            assert took < 1.0 * UNIT, f"{code}: raised after {took:.2f} s"
            assert isinstance(info.value, JoinRefused) and info.value.code == code
            assert info.value.message and info.value.message in str(info.value)
        source = zero_nb.sources.solid((255, 0, 0))  # a refused join leaves it usable
        with pytest.raises(BadPassword):
            zero_nb.join("p", server, password="wrong", video=source)
        assert not source.ended
    finally:
        owner.leave()
        server.stop()


async def test_resume_needs_the_secret(server):
    """After a drop, a stranger resuming the dropped id without its secret gets a new id;
    the rightful client, re-joining with the secret joined gave it, keeps its id."""
    a = SignalingClient(server.url, session="r", name="a", backoff=(3 * UNIT, 3 * UNIT))
    watcher = SignalingClient(server.url, session="r", name="w")
    joined_a = await a.connect()
    await watcher.connect()
    old = a.peer_id
    assert joined_a["resume_secret"] == a.resume_secret and a.resume_secret
    assert a._ws is not None
    a._ws.transport.abort()  # the link drops; the client re-joins after its backoff
    assert (await next_of(watcher, "peer-left"))["peer_id"] == old
    async with ws_connect(server.url) as stranger:
        for extra in ({}, {"resume_secret": "x" * len(a.resume_secret)}):
            await stranger.send(json.dumps({"type": "join", "session": "r", "resume": old,
                                            **extra}))
            reply = json.loads(await asyncio.wait_for(stranger.recv(), 5 * UNIT))
            assert reply["type"] == "joined" and reply["peer_id"] != old, reply
            await stranger.send('{"type":"leave"}')
    rejoined = await next_of(a, "joined", timeout=10 * UNIT)
    assert rejoined["peer_id"] == old == a.peer_id and a.reconnects == 1
    await a.close()
    await watcher.close()


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_wss(tmp_path):
    """With a cert and key configured the server speaks wss:// and a trusting client joins."""
    cert, key = _self_signed(tmp_path)
    config = {"signaling": {"tls": {"cert": str(cert), "key": str(key)}}}
    async with SignalingServer("localhost", 0, config=config) as srv:
        assert srv.url.startswith("wss://")
        ctx = ssl.create_default_context(cafile=str(cert))
        client = SignalingClient(srv.url, session="tls", ssl=ctx)
        assert (await client.connect())["session"] == "tls"
        await client.close()
        with pytest.raises(ServerUnreachable):  # an untrusting client cannot connect
            await SignalingClient(srv.url, reconnect=False).connect(timeout=3 * UNIT)


def test_serve_in_background_thread():
    """zero_nb.serve() returns at once with url/sessions()/stop(), serving from a thread."""
    server = zero_nb.serve(port=0)
    try:
        assert server.running and server.url.startswith("ws://127.0.0.1:")

        async def use():
            c = SignalingClient(server.url, session="bg", name="n")
            await c.connect()
            snap = server.sessions()
            await c.close()
            return c.peer_id, snap

        peer_id, snap = asyncio.run(use())
        assert snap == {"bg": [{"peer_id": peer_id, "name": "n"}]}
    finally:
        server.stop()
    assert not server.running


def cli_server() -> tuple[subprocess.Popen, str, int]:
    """`zero-nb serve --port 0` in a subprocess: (process, its ws URL with the token, port)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "zero_nb", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # log lines come first; the banner names the URL
        if "signaling server on ws://127.0.0.1:" in line:
            url = line.split(" on ", 1)[1].strip()
            page = proc.stdout.readline()
            assert "?token=" in url and page.startswith("web page") and "?token=" in page, page
            return proc, url, int(url.split("ws://127.0.0.1:")[1].split("/")[0])
    proc.kill()
    raise AssertionError("`zero_nb serve` never printed its URL")


def test_cli_serve_runs_and_stops_on_ctrl_c(tmp_path):
    """`python -m zero_nb serve --port 0` serves /healthz, logs joins, and exits 0 on SIGINT."""
    proc, url, port = cli_server()
    try:
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read() == b"ok\n"

        async def join_once():
            c = SignalingClient(url, session="cli", name="zed")
            await c.connect()
            await c.leave()

        asyncio.run(join_once())
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10 * UNIT)
        assert proc.returncode == 0
        assert "join  cli" in out and "leave cli" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_bad_config_is_one_line(tmp_path):
    """A bad config file makes `zero-nb serve` exit 2 with one line naming the key."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("signaling:\n  prot: 1\n")
    proc = subprocess.run([sys.executable, "-m", "zero_nb", "serve", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "signaling.prot" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_frozen_server_noticed_within_five_seconds_then_resumed():
    """A server that stops answering (SIGSTOP) is noticed by the default heartbeat (ping
    every 2 s, 3 s for the pong) without waiting for a closing handshake; once it thaws the
    client joins again under its own id."""
    proc, url, _ = cli_server()
    client = SignalingClient(url, session="ice", name="a",
                             backoff=(0.1, 0.5))
    try:
        await client.connect()
        first = client.peer_id
        await asyncio.sleep(1.0)  # a pong or two: the link is alive and answering
        loop = asyncio.get_running_loop()
        proc.send_signal(signal.SIGSTOP)
        start = loop.time()
        await next_of(client, "disconnected", timeout=10 * UNIT)
        took = loop.time() - start
        print(f"frozen server noticed after {took:.2f} s")
        assert took <= 5.5 * UNIT, f"noticed after {took:.2f} s"
        proc.send_signal(signal.SIGCONT)
        await next_of(client, "joined", timeout=15 * UNIT)
        assert client.peer_id == first and client.state is ClientState.JOINED
    finally:
        proc.kill()
        proc.wait()
        await client.close()
