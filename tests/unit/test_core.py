"""The sans-I/O signaling core: every rule of protocol v1, driven without sockets."""

import json

import pytest

from zero_nb.signaling.core import CLOSE_POLICY, Close, Limits, Send, SessionHooks, SignalingCore


def frames(core, conn, msg, now=0.0):
    raw = msg if isinstance(msg, str) else json.dumps(msg)
    return core.receive(conn, raw, now)


def sent(actions, conn=None):
    return [a.message for a in actions if isinstance(a, Send) and (conn is None or a.conn == conn)]


def join(core, session="s", name="", **extra):
    conn = core.open()
    out = frames(core, conn, {"type": "join", "session": session, "name": name, **extra})
    joined = sent(out, conn)[0]
    assert joined["type"] == "joined", joined
    return conn, joined["peer_id"], out


def test_join_announces_to_existing_peers():
    """The joiner gets joined with the peers already there; they get peer-joined."""
    core = SignalingCore()
    a, a_id, _ = join(core, name="alice")
    b = core.open()
    out = frames(core, b, {"type": "join", "session": "s", "name": "bob"})
    joined = sent(out, b)[0]
    assert joined["session"] == "s" and joined["peers"] == [{"peer_id": a_id, "name": "alice"}]
    assert sent(out, a) == [{"type": "peer-joined", "peer_id": joined["peer_id"], "name": "bob"}]


def test_join_without_session_creates_uuid_session():
    """A join with no session gets a fresh UUID session."""
    core = SignalingCore()
    c = core.open()
    joined = sent(frames(core, c, {"type": "join"}))[0]
    assert len(joined["session"]) == 36 and joined["peers"] == []


def test_relay_sets_from_and_reaches_only_target():
    """offer/answer/candidate reach only 'to', with 'from' set by the server."""
    core = SignalingCore()
    a, a_id, _ = join(core)
    b, b_id, _ = join(core)
    _, c_id, _ = join(core)
    for msg in ({"type": "offer", "to": b_id, "sdp": "v=0", "from": c_id},
                {"type": "answer", "to": b_id, "sdp": "v=0"},
                {"type": "candidate", "to": b_id, "candidate": {"candidate": "x"}}):
        out = frames(core, a, msg)
        assert [x.conn for x in out] == [b]
        assert out[0].message == {**msg, "from": a_id}


def test_no_relay_across_sessions():
    """A peer cannot reach a peer of another session (no-such-peer)."""
    core = SignalingCore()
    a, _, _ = join(core, session="one")
    _, b_id, _ = join(core, session="two")
    out = frames(core, a, {"type": "offer", "to": b_id, "sdp": "v=0"})
    assert [x.conn for x in out] == [a] and sent(out)[0]["code"] == "no-such-peer"


def test_message_broadcast_and_direct():
    """message without 'to' goes to everyone else; with 'to' only to that peer."""
    core = SignalingCore()
    a, a_id, _ = join(core)
    b, b_id, _ = join(core)
    c, _, _ = join(core)
    out = frames(core, a, {"type": "message", "data": {"text": "hi"}})
    assert sorted(x.conn for x in out) == [b, c]
    assert sent(out)[0] == {"type": "message", "data": {"text": "hi"}, "from": a_id}
    out = frames(core, a, {"type": "message", "to": b_id, "data": 1})
    assert [x.conn for x in out] == [b]


def test_leave_and_disconnect_send_peer_left_and_end_session():
    """leave and a dropped connection both send peer-left; the last one out ends the session."""
    ended = []
    core = SignalingCore(hooks=SessionHooks(ended=lambda s: ended.append(s.session_id)))
    a, a_id, _ = join(core)
    b, b_id, _ = join(core)
    out = frames(core, a, {"type": "leave"})
    # then 'hosts': a was the creator, so its host role passes to b
    assert sent(out, b) == [{"type": "peer-left", "peer_id": a_id},
                            {"type": "hosts", "hosts": [b_id]}]
    assert frames(core, a, {"type": "message", "data": 1})[0].message["code"] == "not-joined"
    assert core.close(b) == [] and core.registry.sessions == {} and ended == ["s"]


def test_rejoin_after_leave_on_same_connection():
    """After leave, the same connection may join again."""
    core = SignalingCore()
    a, _, _ = join(core)
    frames(core, a, {"type": "leave"})
    assert sent(frames(core, a, {"type": "join", "session": "t"}))[0]["type"] == "joined"


def test_errors_before_join_and_second_join():
    """Messages before join are not-joined; a second join is already-joined."""
    core = SignalingCore()
    c = core.open()
    for msg in ({"type": "offer", "to": "x", "sdp": "v"}, {"type": "leave"},
                {"type": "message", "data": 0}):
        assert sent(frames(core, c, msg))[0]["code"] == "not-joined"
    frames(core, c, {"type": "join"})
    assert sent(frames(core, c, {"type": "join"}))[0]["code"] == "already-joined"


def test_ping_pong_any_time():
    """ping is answered with pong, joined or not."""
    core = SignalingCore()
    c = core.open()
    assert sent(frames(core, c, {"type": "ping"})) == [{"type": "pong"}]


def test_password_set_by_first_joiner():
    """The first joiner's password protects the session; wrong or missing gets bad-password."""
    core = SignalingCore()
    join(core, password="secret")
    for extra in ({}, {"password": "nope"}):
        c = core.open()
        out = sent(frames(core, c, {"type": "join", "session": "s", **extra}))
        assert out[0]["code"] == "bad-password" and "password" in out[0]["message"]
    join(core, password="secret")


def test_repeated_wrong_passwords_close_connection():
    """Five wrong passwords on one connection close it (no brute force over one link)."""
    core = SignalingCore()
    join(core, password="secret")
    c = core.open()
    out = []
    for _ in range(5):
        out = frames(core, c, {"type": "join", "session": "s", "password": "x"})
    assert any(isinstance(a, Close) and a.code == CLOSE_POLICY for a in out)


def test_token_required_when_configured():
    """With an access token configured, joins without it or with a wrong one are unauthorized."""
    core = SignalingCore(token="tok")
    for extra in ({}, {"token": "bad"}):
        c = core.open()
        assert sent(frames(core, c, {"type": "join", **extra}))[0]["code"] == "unauthorized"
    join(core, token="tok")


def test_session_and_server_limits():
    """A full session gives session-full; a full server gives server-full."""
    core = SignalingCore(Limits(max_peers_per_session=2, max_sessions=1))
    join(core)
    join(core)
    c = core.open()
    assert sent(frames(core, c, {"type": "join", "session": "s"}))[0]["code"] == "session-full"
    assert sent(frames(core, c, {"type": "join", "session": "t"}))[0]["code"] == "server-full"


def test_no_create_when_disabled():
    """With allow_create off, joining an unknown session is refused."""
    core = SignalingCore(Limits(allow_create=False))
    c = core.open()
    assert sent(frames(core, c, {"type": "join", "session": "x"}))[0]["code"] == "no-such-session"


def test_too_large_message():
    """A message over max_message_bytes gets too-large and the connection stays usable."""
    core = SignalingCore(Limits(max_message_bytes=100))
    c = core.open()
    assert sent(frames(core, c, {"type": "message", "data": "x" * 200}))[0]["code"] == "too-large"
    assert sent(frames(core, c, {"type": "ping"})) == [{"type": "pong"}]


def test_rate_limit_token_bucket():
    """Past the burst, messages are rate-limited (one error per streak), then allowed again."""
    core = SignalingCore(Limits(rate=10, burst=5, abuse_close_after=1000))
    c = core.open()
    replies = [sent(frames(core, c, {"type": "ping"}, now=0.0)) for _ in range(8)]
    assert replies[:5] == [[{"type": "pong"}]] * 5
    assert replies[5][0]["code"] == "rate-limited" and replies[6] == [] and replies[7] == []
    assert sent(frames(core, c, {"type": "ping"}, now=1.0)) == [{"type": "pong"}]


def test_flood_closes_connection():
    """A connection that keeps flooding past the limit is closed with a reason."""
    core = SignalingCore(Limits(rate=1, burst=1, abuse_close_after=3))
    c = core.open()
    actions = [frames(core, c, {"type": "ping"}) for _ in range(6)]
    closes = [a for batch in actions for a in batch if isinstance(a, Close)]
    assert closes and closes[0].code == CLOSE_POLICY and "rate" in closes[0].reason


@pytest.mark.parametrize("raw", ["nope", "[1]", '{"type":"offer"}', '{"type":"zzz"}'])
def test_bad_input_does_not_disturb_others(raw):
    """A malformed frame only earns its sender an error; other peers get nothing."""
    core = SignalingCore()
    a, _, _ = join(core)
    join(core)
    out = frames(core, a, raw)
    assert [x.conn for x in out] == [a] and sent(out)[0]["type"] == "error"


def test_hooks_and_joined_extra():
    """Session hooks fire on create/end and may add fields to joined (the SFU uses this)."""
    created = []
    core = SignalingCore(hooks=SessionHooks(created=lambda s: created.append(s.session_id),
                                            joined_extra=lambda s: {"sfu": {"room": 7}}))
    _, _, out = join(core)
    assert created == ["s"] and sent(out)[0]["sfu"] == {"room": 7}


def test_resume_keeps_peer_id_with_its_secret_when_free():
    """A re-join keeps its peer_id with the secret joined gave, if nobody holds the id."""
    core = SignalingCore()
    c, old, out = join(core)
    secret = sent(out, c)[0]["resume_secret"]
    frames(core, c, {"type": "leave"})
    d = core.open()
    joined = sent(frames(core, d, {"type": "join", "session": "s", "resume": old,
                                   "resume_secret": secret}))[0]
    assert joined["peer_id"] == old and joined["resume_secret"] == secret
    e = core.open()  # the id is held now: even the right secret gets a fresh id
    joined = sent(frames(core, e, {"type": "join", "session": "s", "resume": old,
                                   "resume_secret": secret}))[0]
    assert joined["peer_id"] != old


def test_resume_without_the_secret_gets_a_new_id():
    """Anyone may know a dropped peer's id; without its secret they get a fresh id."""
    core = SignalingCore()
    b, bystander, _ = join(core)
    c, old, out = join(core)
    secret = sent(out, c)[0]["resume_secret"]
    assert sent(out, b) and secret not in json.dumps(sent(out, b))  # others never see it
    core.close(c)  # its connection dropped
    off_by_one = secret[:-1] + ("B" if secret.endswith("A") else "A")  # really another
    for extra in ({}, {"resume_secret": ""}, {"resume_secret": off_by_one},
                  {"resume_secret": "x" * 24}):
        d = core.open()
        joined = sent(frames(core, d, {"type": "join", "session": "s", "resume": old,
                                       **extra}))[0]
        assert joined["peer_id"] not in (old, bystander), extra
        core.close(d)


def test_resume_secret_is_bound_to_session_and_server_key():
    """A secret only resumes its own id in its own session, under the key that made it."""
    core = SignalingCore(resume_key=b"k1")
    c, old, out = join(core, session="s")
    secret = sent(out, c)[0]["resume_secret"]
    core.close(c)
    for session, key in (("t", b"k1"), ("s", b"k2")):
        other = SignalingCore(resume_key=key)
        d = other.open()
        joined = sent(frames(other, d, {"type": "join", "session": session, "resume": old,
                                        "resume_secret": secret}))[0]
        assert joined["peer_id"] != old, (session, key)
    again = SignalingCore(resume_key=b"k1")  # a restarted server with the same key
    d = again.open()
    joined = sent(frames(again, d, {"type": "join", "session": "s", "resume": old,
                                    "resume_secret": secret}))[0]
    assert joined["peer_id"] == old


def test_resume_secret_compared_in_constant_time(monkeypatch):
    """The resume secret is checked with hmac.compare_digest."""
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    core = SignalingCore()
    c = core.open()
    frames(core, c, {"type": "join", "session": "s", "resume": "abc", "resume_secret": "zz"})
    assert (b"zz" in calls[-1]) and len(calls) == 1


def test_resume_must_look_like_a_peer_id():
    """A malformed resume id is a bad-message."""
    core = SignalingCore()
    c = core.open()
    out = sent(frames(core, c, {"type": "join", "resume": "../../x"}))
    assert out[0]["code"] == "bad-message"


def test_relay_forwards_frame_verbatim_with_from():
    """A relayed frame is forwarded as received with 'from' spliced in: same JSON, no forgery."""
    core = SignalingCore()
    a, a_id, _ = join(core)
    _, b_id, _ = join(core)
    body = {"type": "offer", "to": b_id, "sdp": "v=0\r\nx", "extra": {"k": [1, 2]}}
    raw = json.dumps(body) + "  "
    out = core.receive(a, raw, 0.0)
    assert json.loads(out[0].text) == {**json.loads(raw), "from": a_id} == out[0].message
    forged = core.receive(a, raw.replace('"type"', '"from":"zz","type"', 1), 0.0)
    assert forged[0].text is None and forged[0].message["from"] == a_id


def test_size_limit_counts_bytes_not_characters():
    """The message size limit counts UTF-8 bytes: 3-byte characters weigh three."""
    core = SignalingCore(Limits(max_message_bytes=1000))
    c = core.open()
    out = sent(frames(core, c, {"type": "message", "data": "€" * 400}))
    assert out[0]["code"] == "too-large"


def test_closing_connection_gets_one_close():
    """After a connection is closed for flooding, further frames produce nothing more."""
    core = SignalingCore(Limits(rate=1, burst=1, abuse_close_after=2))
    c = core.open()
    actions = [a for _ in range(50) for a in frames(core, c, {"type": "ping"})]
    assert sum(isinstance(a, Close) for a in actions) == 1


def test_host_created_sessions_with_allow_create_off():
    """With allow_create off, a host-created session can be joined and outlives its peers."""
    core = SignalingCore(Limits(allow_create=False))
    core.registry.create("class", password="pw")
    c, _, _ = join(core, session="class", password="pw")
    frames(core, c, {"type": "leave"})
    assert "class" in core.registry.sessions
    d = core.open()
    assert sent(frames(core, d, {"type": "join", "session": "other"}))[0]["code"] == \
        "no-such-session"


def test_media_state_reaches_the_others_and_late_joiners():
    """media: stored per peer, peer-media to the others (not the sender), in joined.peers."""
    core = SignalingCore()
    a, a_id, _ = join(core, name="alice")
    b, _, _ = join(core, name="bob")
    out = frames(core, a, {"type": "media", "audio": False, "video": True})
    assert [x.conn for x in out] == [b]
    assert sent(out)[0] == {"type": "peer-media", "peer_id": a_id, "audio": False,
                            "video": True}
    c, _, out = join(core, name="carol")
    rows = {row["name"]: row for row in sent(out, c)[0]["peers"]}
    assert rows["alice"]["media"] == {"audio": False, "video": True}
    assert "media" not in rows["bob"]  # never said: unknown, not "muted"


def test_e2ee_state_travels_with_media():
    """media.e2ee reaches the others (peer-joined, peer-media, joined.peers) with the rest."""
    core = SignalingCore()
    a, a_id, _ = join(core, name="alice",
                      media={"audio": True, "video": True, "e2ee": True})
    b, _, out = join(core, name="bob")
    assert sent(out, b)[0]["peers"][0]["media"] == {"audio": True, "video": True, "e2ee": True}
    out = frames(core, a, {"type": "media", "audio": False, "video": True, "e2ee": True})
    assert sent(out)[0] == {"type": "peer-media", "peer_id": a_id, "audio": False,
                            "video": True, "e2ee": True}


def test_media_unchanged_is_not_broadcast():
    """Repeating the same state sends nothing; a change does."""
    core = SignalingCore()
    a, _, _ = join(core)
    join(core)
    assert len(frames(core, a, {"type": "media", "audio": True, "video": True})) == 1
    assert frames(core, a, {"type": "media", "audio": True, "video": True}) == []
    assert len(frames(core, a, {"type": "media", "audio": False, "video": True})) == 1


def test_join_media_is_announced_with_the_peer():
    """join.media travels in peer-joined at once; a later media updates it."""
    core = SignalingCore()
    a, _, _ = join(core)
    b, b_id, out = join(core, name="bob", media={"audio": True, "video": False})
    assert sent(out, a) == [{"type": "peer-joined", "peer_id": b_id, "name": "bob",
                             "media": {"audio": True, "video": False}}]
    assert frames(core, b, {"type": "media", "audio": True, "video": False}) == []


def test_media_needs_join_and_valid_fields():
    """media before join: not-joined (request media); bad fields: bad-message, nobody told."""
    core = SignalingCore()
    c = core.open()
    reply = sent(frames(core, c, {"type": "media", "audio": True, "video": True}))[0]
    assert reply["code"] == "not-joined" and reply["request"] == "media"
    a, _, _ = join(core)
    join(core)
    out = frames(core, a, {"type": "media", "audio": "yes", "video": True})
    assert [x.conn for x in out] == [a] and sent(out)[0]["code"] == "bad-message"


def test_media_is_rate_limited_like_any_frame():
    """A flood of media frames is rate-limited like the others."""
    core = SignalingCore(Limits(rate=1.0, burst=2))
    a, _, _ = join(core)  # the join took one token
    join(core)
    frames(core, a, {"type": "media", "audio": True, "video": True})
    out = frames(core, a, {"type": "media", "audio": False, "video": True})
    assert sent(out)[0]["code"] == "rate-limited"
