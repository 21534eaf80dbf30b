"""Passwords and access tokens cannot be bypassed; failures say what to do."""

import asyncio
import hmac

import pytest

from tests.conftest import UNIT
from zero_nb.errors import BadPassword, ServerUnreachable, Unauthorized
from zero_nb.signaling.client import SignalingClient
from zero_nb.signaling.server import SignalingServer


async def test_password_cannot_be_replayed_on_another_session(server):
    """A password valid for one session does not open another protected session."""
    owners = [SignalingClient(server.url, session=s, password=p)
              for s, p in (("one", "pw-one"), ("two", "pw-two"))]
    for c in owners:
        await c.connect()
    ok = SignalingClient(server.url, session="one", password="pw-one")
    await ok.connect()
    for password in ("pw-one", None, ""):
        with pytest.raises(BadPassword):
            await SignalingClient(server.url, session="two", password=password).connect()
    for c in [*owners, ok]:
        await c.close()


async def test_token_needed_for_every_join_even_after_leave():
    """With a token configured, a connection that left must present it again to re-join."""
    async with SignalingServer("127.0.0.1", 0,
                               config={"signaling": {"auth": {"token": "T0k"}}}) as srv:
        with pytest.raises(Unauthorized, match="token"):
            await SignalingClient(srv.address, session="s").connect()
        with pytest.raises(Unauthorized):
            await SignalingClient(srv.address, session="s", token="t0k").connect()  # case matters
        good = SignalingClient(srv.address, session="s", token="T0k")
        await good.connect()
        await good.close()


async def test_secrets_compared_in_constant_time(server, monkeypatch):
    """Token and password checks go through hmac.compare_digest (timing-safe)."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    server.core.token = "tok"
    owner = SignalingClient(server.url, session="p", password="x", token="tok")
    await owner.connect()
    with pytest.raises(BadPassword):
        await SignalingClient(server.url, session="p", password="y", token="tok").connect()
    assert len(calls) >= 3  # two token checks, one password check
    await owner.close()


async def test_protection_lasts_while_the_session_is_occupied(server):
    """The first joiner's password holds for everyone after, as long as anyone is inside."""
    a = SignalingClient(server.url, session="q", password="secret")
    await a.connect()
    b = SignalingClient(server.url, session="q", password="secret")
    await b.connect()
    await a.close()
    with pytest.raises(BadPassword):
        await SignalingClient(server.url, session="q").connect()
    await b.close()
    for _ in range(int(20 * UNIT)):  # empty now: the session (and its password) ended
        if "q" not in server.sessions():
            break
        await asyncio.sleep(0.05)
    assert "q" not in server.sessions()


async def test_tls_handshake_failure_reported(tmp_path):
    """A plain ws:// client against a TLS server fails with a clear ServerUnreachable."""
    from tests.integration.test_client import _self_signed

    cert, key = _self_signed(tmp_path)
    config = {"signaling": {"tls": {"cert": str(cert), "key": str(key)}}}
    async with SignalingServer("127.0.0.1", 0, config=config) as srv:
        plain = srv.url.replace("wss://", "ws://")
        with pytest.raises(ServerUnreachable, match="no signaling server answers"):
            await SignalingClient(plain, reconnect=False).connect(timeout=5 * UNIT)
