"""Choosing the one TURN URL aiortc gets (kernel_rtc/net/relay.py), without media."""

from aiortc import RTCConfiguration, RTCIceServer

from zero_nb.kernel_rtc.net.relay import choose_relay, no_path_hint, turn_urls


def test_turn_urls_keep_list_order_and_skip_stun():
    """Every turn:/turns: URL in order, with its own entry (credentials), STUN left out."""
    a = RTCIceServer(urls=["stun:s:3478", "turn:t:3478", "turn:t:3478?transport=tcp"],
                     username="u", credential="p")
    b = RTCIceServer(urls="turns:t:443")
    assert turn_urls([a, b]) == [("turn:t:3478", a), ("turn:t:3478?transport=tcp", a),
                                 ("turns:t:443", b)]


async def test_no_turn_keeps_the_configuration():
    """Nothing to probe: the same configuration, no problem reported."""
    cfg = RTCConfiguration(iceServers=[RTCIceServer(urls="stun:127.0.0.1:3478")])
    choice = await choose_relay(cfg)
    assert choice.configuration is cfg and choice.url is None and choice.problem is None


async def test_unreachable_turn_names_the_url_and_what_to_add():
    """A TURN URL that refuses the connection is named with why, and the hint says to add
    TCP/TLS URLs; the peer-failure hint repeats it."""
    url = "turn:127.0.0.1:9?transport=tcp"  # discard port: nothing listens, refused at once
    cfg = RTCConfiguration(iceServers=[RTCIceServer(urls=url, username="u", credential="p")])
    choice = await choose_relay(cfg, timeout=5)
    assert choice.url is None and choice.configuration is cfg
    assert choice.problem is not None and f"{url}: " in choice.problem
    assert "?transport=tcp" in choice.problem and "turns:" in choice.problem
    assert no_path_hint({"ice_servers": [url]}, choice) == choice.problem
    assert "webrtc.ice_servers is empty" in no_path_hint({"ice_servers": []}, None)
