"""A class's host tools in the sans-I/O core: roles, hands, mute, remove, spotlight, lock."""

import json

import pytest

from zero_nb.signaling.core import Send, SignalingCore
from zero_nb.signaling.protocol import CLASS_TYPES


def frames(core, conn, msg):
    return core.receive(conn, json.dumps(msg), 0.0)


def sent(actions, conn=None):
    return [a.message for a in actions if isinstance(a, Send) and (conn is None or a.conn == conn)]


def join(core, session="c", name="", **extra):
    conn = core.open()
    out = frames(core, conn, {"type": "join", "session": session, "name": name, **extra})
    joined = sent(out, conn)[0]
    assert joined["type"] == "joined", joined
    return conn, joined, out


def klass(n=3, **kw):
    """A session of n members: the first created it."""
    core = SignalingCore(**kw)
    members = [join(core, name=f"p{i}") for i in range(n)]
    return core, [(c, j["peer_id"]) for c, j, _ in members], members


def test_creator_is_host_and_joined_says_so():
    """Without a host token the creator hosts; joined lists hosts, hands, spotlight, lock."""
    _, people, members = klass(2)
    teacher = people[0][1]
    assert members[0][1]["hosts"] == [teacher]  # the creator's own joined
    joined = members[1][1]
    assert joined["hosts"] == [teacher] and joined["hands"] == []
    assert joined["spotlight"] is None and joined["locked"] is False
    assert "host" not in sent(members[1][2], people[0][0])[0]  # a student's peer-joined


def test_host_token_makes_hosts_and_only_them():
    """With signaling.auth.host_token only a joiner with it hosts; a wrong one is refused."""
    core = SignalingCore(host_token="t0p")
    s_conn, first, _ = join(core, name="student")
    assert first["hosts"] == []
    _, joined, out = join(core, name="teacher", host_token="t0p")
    assert joined["hosts"] == [joined["peer_id"]]
    assert sent(out, s_conn)[0]["host"] is True
    bad = core.open()
    err = sent(frames(core, bad, {"type": "join", "session": "c", "host_token": "nope"}))[0]
    assert err["code"] == "unauthorized" and err["request"] == "join"


def test_host_token_on_a_server_without_one_is_refused():
    """A host_token on a server with none is an error that says to leave it out."""
    core = SignalingCore()
    err = sent(frames(core, core.open(), {"type": "join", "session": "c", "host_token": "x"}))[0]
    assert err["code"] == "unauthorized" and "leave host_token out" in err["message"]


@pytest.mark.parametrize("msg", [
    {"type": "mute", "peer": "ID"}, {"type": "remove", "peer": "ID"},
    {"type": "spotlight", "peer": "ID"}, {"type": "lock", "locked": True},
    {"type": "make-host", "peer": "ID"}, {"type": "hand", "raised": False, "peer": "ID"},
])
def test_only_hosts_moderate(msg):
    """A student using a host's tool gets forbidden, naming the hosts and what to do."""
    core, people, _ = klass(3)
    (_, teacher), (s1, _), (_, s2_id) = people
    msg = {k: (s2_id if v == "ID" else v) for k, v in msg.items()}
    out = frames(core, s1, msg)
    assert [a.conn for a in out] == [s1]
    err = sent(out)[0]
    assert err["code"] == "forbidden" and err["request"] == msg["type"]
    assert teacher in err["message"] and "host_token" in err["message"]


def test_hands_in_order_and_lowered_by_host():
    """Hands go up in order; everyone hears 'hands'; a host lowers one or all."""
    core, people, _ = klass(4)
    (t, _), (s1, a), (s2, b), (s3, c) = people
    for conn in (s2, s1, s3):
        out = frames(core, conn, {"type": "hand", "raised": True})
        assert len(sent(out)) == 4  # everyone, the raiser too
    assert sent(out)[-1] == {"type": "hands", "hands": [b, a, c]}
    assert frames(core, s1, {"type": "hand", "raised": True}) == []  # a repeat goes nowhere
    assert sent(frames(core, s1, {"type": "hand", "raised": False}))[0]["hands"] == [b, c]
    assert sent(frames(core, t, {"type": "hand", "raised": False, "peer": c}))[0]["hands"] == [b]
    assert sent(join(core)[2])[0]["hands"] == [b]  # a latecomer's joined
    assert sent(frames(core, t, {"type": "hand", "raised": False, "peer": "*"}))[0]["hands"] == []


def test_nobody_raises_another_hand():
    """Even a host cannot raise someone else's hand."""
    core, people, _ = klass(2)
    err = sent(frames(core, people[0][0], {"type": "hand", "raised": True,
                                           "peer": people[1][1]}))[0]
    assert err["code"] == "bad-message"


def test_a_leaving_peer_takes_its_hand_and_spotlight():
    """A member who leaves is off the hands list and out of the spotlight."""
    core, people, _ = klass(3)
    (t, _), (s1, a), (s2, _) = people
    frames(core, s1, {"type": "hand", "raised": True})
    frames(core, t, {"type": "spotlight", "peer": a})
    out = frames(core, s1, {"type": "leave"})
    got = sent(out, s2)
    assert [m["type"] for m in got] == ["peer-left", "hands", "spotlight"]
    assert got[1]["hands"] == [] and got[2]["peer"] is None


def test_mute_asks_the_target_only():
    """mute reaches its target alone, saying who asked (a request, not a hard mute)."""
    core, people, _ = klass(3)
    (t, t_id), (s1, a), _ = people
    out = frames(core, t, {"type": "mute", "peer": a})
    assert [(x.conn, x.message) for x in out] == [(s1, {"type": "muted", "by": t_id})]


def test_spotlight_and_lock_reach_everyone():
    """spotlight and lock go to every member, the host too; joined carries them."""
    core, people, _ = klass(3)
    (t, t_id), (_, a), _ = people
    out = frames(core, t, {"type": "spotlight", "peer": a})
    assert sent(out) == [{"type": "spotlight", "peer": a, "by": t_id}] * 3
    assert sent(frames(core, t, {"type": "spotlight", "peer": None}))[0]["peer"] is None
    frames(core, t, {"type": "spotlight", "peer": a})
    out = frames(core, t, {"type": "lock", "locked": True})
    assert sent(out) == [{"type": "locked", "locked": True, "by": t_id}] * 3


def test_locked_session_refuses_new_joins_but_not_resumes_or_hosts():
    """A locked session refuses newcomers; a member resuming and a host-token holder get in."""
    core = SignalingCore(host_token="h")
    t, _, _ = join(core, host_token="h")
    s, sj, _ = join(core)
    frames(core, t, {"type": "lock", "locked": True})
    err = sent(frames(core, core.open(), {"type": "join", "session": "c"}))[0]
    assert err["code"] == "session-locked" and "unlock" in err["message"]
    core.close(s)  # the student's link drops; it comes back with its secret
    _, back, _ = join(core, resume=sj["peer_id"], resume_secret=sj["resume_secret"])
    assert back["peer_id"] == sj["peer_id"]
    join(core, host_token="h")
    frames(core, t, {"type": "lock", "locked": False})
    join(core)


def test_removed_peer_is_told_leaves_and_cannot_resume():
    """remove: the target hears 'removed' with the reason, the others 'peer-left'; its
    resume secret no longer gets it in."""
    core, people, members = klass(3)
    (t, t_id), (s1, a), (s2, _) = people
    out = frames(core, t, {"type": "remove", "peer": a, "reason": "spam"})
    assert sent(out, s1) == [{"type": "removed", "by": t_id, "reason": "spam"}]
    assert {"type": "peer-left", "peer_id": a} in sent(out, s2)
    # out of the session: its next message is refused as from someone not joined
    assert sent(frames(core, s1, {"type": "message", "data": "hi"}))[0]["code"] == "not-joined"
    secret = members[1][1]["resume_secret"]
    err = sent(frames(core, s1, {"type": "join", "session": "c", "resume": a,
                                 "resume_secret": secret}))[0]
    assert err["code"] == "removed" and err["request"] == "join"
    join(core)  # others still get in


def test_make_host_adds_or_hands_over():
    """make-host adds a host; keep=false hands the role over."""
    core, people, _ = klass(3)
    (t, t_id), (s1, a), (_, b) = people
    assert sent(frames(core, t, {"type": "make-host", "peer": a}))[0]["hosts"] == [t_id, a]
    assert sent(frames(core, s1, {"type": "make-host", "peer": b, "keep": False}))[0][
        "hosts"] == [t_id, b]
    assert sent(frames(core, s1, {"type": "mute", "peer": b}))[0]["code"] == "forbidden"


def test_host_leaving_passes_role_on_and_comes_back():
    """Without a token the longest-present member hosts when the host leaves; the old host
    resuming is a host again."""
    core, people, members = klass(3)
    (t, t_id), (_, a), (s2, _) = people
    out = core.close(t)
    assert {"type": "hosts", "hosts": [a]} in sent(out, s2)
    j = members[0][1]
    _, back, _ = join(core, resume=t_id, resume_secret=j["resume_secret"])
    assert back["peer_id"] == t_id and back["hosts"] == [a, t_id]


def test_class_messages_validated():
    """Class tools with missing or mistyped fields get bad-message."""
    core, people, _ = klass(2)
    t = people[0][0]
    for msg in ({"type": "hand"}, {"type": "hand", "raised": "yes"}, {"type": "mute"},
                {"type": "remove", "peer": ""}, {"type": "spotlight"},
                {"type": "lock", "locked": 1}, {"type": "make-host", "peer": 3},
                {"type": "remove", "peer": people[1][1], "reason": "x" * 201}):
        err = sent(frames(core, t, msg))[0]
        assert err["code"] == "bad-message", msg
    assert sent(frames(core, t, {"type": "mute", "peer": "nobody"}))[0]["code"] == "no-such-peer"
    assert {"hand", "make-host", "mute", "remove", "spotlight", "lock", "breakout", "broadcast",
            "visit", "gather"} == CLASS_TYPES


def test_class_tools_need_a_session():
    """A class tool before join is not-joined."""
    core = SignalingCore()
    err = sent(frames(core, core.open(), {"type": "hand", "raised": True}))[0]
    assert err["code"] == "not-joined" and err["request"] == "hand"
