"""The signaling server over real WebSockets on 127.0.0.1: every message type and error code."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import UNIT
from zero_nb.signaling.protocol import ErrorCode
from zero_nb.signaling.server import SignalingServer


async def recv(ws, timeout=2 * UNIT):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send(ws, msg):
    await ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))


async def joined(url, session="s", **extra):
    ws = await connect(url)
    await send(ws, {"type": "join", "session": session, **extra})
    reply = await recv(ws)
    assert reply["type"] == "joined", reply
    return ws, reply


async def test_healthz_and_index(server):
    """GET /healthz answers 200 ok and / serves a page, on the WebSocket's port."""
    base = f"http://127.0.0.1:{server.port}"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/healthz").read())
    assert body == b"ok\n"
    page = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/").read())
    assert b"<html" in page.lower()


async def test_full_exchange(server):
    """join, peer-joined, offer/answer/candidate relay with from, message, leave, peer-left."""
    a, ja = await joined(server.url, name="alice")
    b, jb = await joined(server.url, name="bob")
    assert jb["peers"] == [{"peer_id": ja["peer_id"], "name": "alice"}]
    assert await recv(a) == {"type": "peer-joined", "peer_id": jb["peer_id"], "name": "bob"}
    await send(a, {"type": "offer", "to": jb["peer_id"], "sdp": "v=0 offer", "from": "forged"})
    assert await recv(b) == {"type": "offer", "to": jb["peer_id"], "sdp": "v=0 offer",
                             "from": ja["peer_id"]}
    await send(b, {"type": "answer", "to": ja["peer_id"], "sdp": "v=0 answer"})
    assert (await recv(a))["sdp"] == "v=0 answer"
    await send(a, {"type": "candidate", "to": jb["peer_id"], "candidate": None})
    assert (await recv(b))["candidate"] is None
    await send(b, {"type": "message", "data": {"text": "héllo"}})
    assert await recv(a) == {"type": "message", "data": {"text": "héllo"}, "from": jb["peer_id"]}
    assert server.sessions() == {"s": [{"peer_id": ja["peer_id"], "name": "alice"},
                                       {"peer_id": jb["peer_id"], "name": "bob"}]}
    await send(a, {"type": "leave"})
    assert await recv(b) == {"type": "peer-left", "peer_id": ja["peer_id"]}
    await send(a, {"type": "ping"})
    assert await recv(a) == {"type": "pong"}
    await a.close()
    await b.close()


@pytest.mark.parametrize("frame, code", [
    ("not json", ErrorCode.BAD_MESSAGE),
    (b"\x00\x01binary", ErrorCode.BAD_MESSAGE),
    ('{"type":"teleport"}', ErrorCode.UNKNOWN_TYPE),
    ('{"type":"message","data":1}', ErrorCode.NOT_JOINED),
])
async def test_error_codes_before_join(server, frame, code):
    """Malformed, binary, unknown and premature messages each get their error code."""
    async with connect(server.url) as ws:
        await send(ws, frame)
        reply = await recv(ws)
        assert reply["type"] == "error" and reply["code"] == code.value and reply["message"]


async def test_error_codes_after_join(server):
    """already-joined, no-such-peer and too-large arrive on a joined connection, which stays up."""
    ws, _ = await joined(server.url)
    await send(ws, {"type": "join", "session": "x"})
    assert (await recv(ws))["code"] == "already-joined"
    await send(ws, {"type": "offer", "to": "nobody", "sdp": "v=0"})
    assert (await recv(ws))["code"] == "no-such-peer"
    await send(ws, {"type": "message", "data": "x" * (server.limits.max_message_bytes + 10)})
    assert (await recv(ws))["code"] == "too-large"
    await send(ws, {"type": "ping"})
    assert (await recv(ws))["type"] == "pong"
    await ws.close()


async def test_auth_and_capacity_errors():
    """unauthorized, bad-password, session-full and server-full over the wire."""
    config = {"signaling": {"auth": {"token": "T"},
                            "limits": {"max_peers_per_session": 1, "max_sessions": 1}}}
    async with SignalingServer("127.0.0.1", 0, config=config) as srv:
        async with connect(srv.address) as ws:
            await send(ws, {"type": "join", "session": "s"})
            assert (await recv(ws))["code"] == "unauthorized"
        first, _ = await joined(srv.url, token="T", password="pw")
        async with connect(srv.url) as ws:
            await send(ws, {"type": "join", "session": "s", "token": "T", "password": "no"})
            assert (await recv(ws))["code"] == "bad-password"
            await send(ws, {"type": "join", "session": "s", "token": "T", "password": "pw"})
            assert (await recv(ws))["code"] == "session-full"
            await send(ws, {"type": "join", "session": "t", "token": "T"})
            assert (await recv(ws))["code"] == "server-full"
        await first.close()


async def test_rate_limited_then_closed():
    """A flood gets rate-limited, then the connection is closed with a policy reason."""
    config = {"signaling": {"limits": {"rate": 5, "burst": 5}}}
    async with SignalingServer("127.0.0.1", 0, config=config) as srv, connect(srv.url) as ws:
        for _ in range(400):
            await send(ws, {"type": "ping"})
        replies = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                replies.append(await recv(ws))
        assert {"type": "pong"} in replies
        assert any(r.get("code") == "rate-limited" for r in replies)
        assert info.value.rcvd.code == 1008 and "rate" in info.value.rcvd.reason


async def test_grossly_oversize_frame_closes(server):
    """A frame far over the limit closes the connection with 1009; others are unaffected."""
    other, _ = await joined(server.url, session="calm")
    async with connect(server.url, max_size=None) as ws:
        await send(ws, "x" * (5 * server.limits.max_message_bytes))
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd.code == 1009
    await send(other, {"type": "ping"})
    assert (await recv(other))["type"] == "pong"
    await other.close()


async def test_vanished_peer_reported_within_five_seconds():
    """A peer whose connection stops answering pings is reported as peer-left within 5 s."""
    config = {"signaling": {"heartbeat": {"interval": 1.0, "timeout": 1.5}}}
    async with SignalingServer("127.0.0.1", 0, config=config) as srv:
        a, _ = await joined(srv.url)
        # ping_interval=None: this client never answers... so we silence its transport instead
        b, jb = await joined(srv.url)
        assert (await recv(a))["type"] == "peer-joined"
        b.transport.pause_reading()  # b stops reading: pongs are never sent back
        loop = asyncio.get_running_loop()
        start = loop.time()
        msg = await recv(a, timeout=10 * UNIT)
        assert msg == {"type": "peer-left", "peer_id": jb["peer_id"]}
        assert loop.time() - start < 5.0 * UNIT
        b.transport.abort()
        await a.close()


FROZEN_CLIENT = """
import asyncio, sys
from zero_nb.signaling.client import SignalingClient

async def main():
    client = SignalingClient(sys.argv[1], session="frozen", name="frozen")
    print((await client.connect())["peer_id"], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_frozen_peer_reported_within_five_seconds_by_default():
    """A client process that is SIGSTOPped is reported peer-left within 5 s (default heartbeat:
    ping every 2 s, 3 s for the pong), without waiting for a closing handshake."""
    async with SignalingServer("127.0.0.1", 0) as srv:
        watcher, _ = await joined(srv.url, session="frozen")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FROZEN_CLIENT, srv.url, stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            frozen = (await asyncio.wait_for(proc.stdout.readline(), 10 * UNIT)).decode().strip()
            assert (await recv(watcher, 5 * UNIT))["peer_id"] == frozen  # peer-joined
            await asyncio.sleep(1.0)  # a pong or two: the link is alive and answering
            loop = asyncio.get_running_loop()
            os.kill(proc.pid, signal.SIGSTOP)
            start = loop.time()
            msg = await recv(watcher, 10 * UNIT)
            took = loop.time() - start
            assert msg == {"type": "peer-left", "peer_id": frozen}
            print(f"frozen peer reported after {took:.2f} s")
            assert took <= 5.5 * UNIT, f"peer-left after {took:.2f} s"
        finally:
            proc.kill()
            await proc.wait()
            await watcher.close()


async def test_sessions_isolated_under_concurrent_joins(server):
    """50 clients joining 5 sessions at once: each sees only its own session."""
    results = await asyncio.gather(*[joined(server.url, session=f"s{i % 5}") for i in range(50)])
    snap = server.sessions()
    assert sorted(snap) == [f"s{i}" for i in range(5)]
    assert all(len(peers) == 10 for peers in snap.values())
    ids = {r[1]["peer_id"] for r in results}
    assert len(ids) == 50
    for ws, _ in results:
        await ws.close()
    for _ in range(int(50 * UNIT)):
        if not server.sessions():
            break
        await asyncio.sleep(0.1)
    assert server.sessions() == {}
