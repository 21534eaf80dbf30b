"""Token-carrying URLs, the same-origin rule and the URL token in the core, without sockets."""

import json

import pytest

from zero_nb.errors import ConfigError
from zero_nb.signaling.core import Send, SignalingCore
from zero_nb.signaling.server import _same_host
from zero_nb.signaling.tokens import page_link, split_token, with_token


def test_token_round_trips_through_urls():
    """with_token adds or replaces ?token=, split_token takes it out again."""
    url = with_token("ws://127.0.0.1:8765/ws", "a-b_c")
    assert url == "ws://127.0.0.1:8765/ws?token=a-b_c"
    assert with_token(url, "new") == "ws://127.0.0.1:8765/ws?token=new"
    assert split_token(url) == ("ws://127.0.0.1:8765/ws", "a-b_c")
    assert split_token("ws://h:1/ws") == ("ws://h:1/ws", None)


def test_page_link_names_the_websocket_url_to_use():
    """A page link given where a WebSocket URL belongs says which URL to pass instead."""
    with pytest.raises(ConfigError, match=r"ws://h:1/ws\?token=T"):
        split_token("http://h:1/?token=T")
    with pytest.raises(ConfigError, match=r"wss://hub/p/8765/ws"):
        split_token("https://hub/p/8765/")


def test_page_link_keeps_base_query_and_puts_the_token_last():
    assert page_link("wss://h:9/ws", "T") == "https://h:9/?token=T"
    assert page_link("ws://h:9/ws", None, None, session="s") == "http://h:9/?session=s"
    assert page_link("ws://h:9/ws", "T", "https://hub/p/9/?x=1", session="s") \
        == "https://hub/p/9/?x=1&session=s&token=T"


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://127.0.0.1:8765", "127.0.0.1:8765", True),
    ("https://Hub.Example", "hub.example", True),
    ("https://hub.example", "hub.example:443", True),
    ("http://[::1]:8765", "[::1]:8765", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8765", False),
    ("https://evil.example", "127.0.0.1:8765", False),
    ("null", "127.0.0.1:8765", False),
    ("http://127.0.0.1:8765", None, False),
])
def test_same_host(origin, host, same):
    """A page is the server's own when its host and port are what Host names."""
    assert _same_host(origin, host) is same


def test_core_takes_the_url_token_when_join_has_none():
    """The connection's URL token counts; a join's own token wins over it."""
    core = SignalingCore(token="T")
    for url_token, join_token, ok in (("T", None, True), ("x", None, False),
                                      ("x", "T", True), (None, None, False)):
        conn = core.open(token=url_token)
        join = {"type": "join", "session": "s"} | ({"token": join_token} if join_token else {})
        [reply] = [a for a in core.receive(conn, json.dumps(join), 0.0)
                   if isinstance(a, Send) and a.conn == conn]
        assert (reply.message["type"] == "joined") is ok, reply.message
        core.close(conn)
