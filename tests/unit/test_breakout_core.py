"""Breakout rooms in the sans-I/O core: split, moves, reconnects to the group, visit,
broadcast, gather, and what is refused (no sockets)."""

import json

import pytest

from zero_nb.signaling.core import Send, SignalingCore


def frames(core, conn, msg, now=0.0):
    return core.receive(conn, json.dumps(msg), now)


def sent(actions, conn=None):
    return [a.message for a in actions if isinstance(a, Send) and (conn is None or a.conn == conn)]


def join(core, session="c", name="", **extra):
    conn = core.open()
    out = frames(core, conn, {"type": "join", "session": session, "name": name, **extra})
    joined = sent(out, conn)[0]
    assert joined["type"] == "joined", joined
    return conn, joined


def klass(n=5):
    """A teacher (the creator: host) and n-1 students in session c."""
    core = SignalingCore()
    people = [join(core, name=f"p{i}") for i in range(n)]
    return core, [(c, j["peer_id"]) for c, j in people], [j for _, j in people]


def split(core, people, minutes=10.0):
    (t, _), *students = people
    ids = [pid for _, pid in students]
    half = len(ids) // 2
    return frames(core, t, {"type": "breakout", "groups": {"A": ids[:half], "B": ids[half:]},
                            "minutes": minutes})


def test_breakout_moves_each_student_into_its_group_session():
    """Each student hears peer-left of the class, then moved (group, time); the sessions
    c.A and c.B hold the groups; the host stays and hears the split."""
    core, people, _ = klass(5)
    (t, tid), (_, s1), (_, s2), (c3, s3), (_, s4) = people
    out = split(core, people)
    assert core.registry.snapshot().keys() == {"c", "c.A", "c.B"}
    assert {p["peer_id"] for p in core.registry.snapshot()["c.A"]} == {s1, s2}
    mine = sent(out, c3)
    moved = next(m for m in mine if m["type"] == "moved")
    left = [m["peer_id"] for m in mine[:mine.index(moved)] if m["type"] == "peer-left"]
    assert set(left) >= {tid, s4}
    assert moved["session"] == "c.B" and moved["group"] == "B" and moved["parent"] == "c"
    assert moved["peer_id"] == s3 and moved["breakout"]["seconds_left"] == 600
    assert moved["breakout"]["groups"] == {"A": [s1, s2], "B": [s3, s4]}
    notice = [m for m in sent(out, t) if m["type"] == "breakout"]
    assert notice and notice[0]["groups"]["A"] == [s1, s2]
    assert core.registry.snapshot()["c"] == [{"peer_id": tid, "name": "p0"}]


def test_a_reconnect_lands_in_the_group_and_a_reloaded_page_by_name():
    """A dropped student resuming the class id lands in its group; a fresh join under an
    assigned, absent name too (it takes that place); a stranger joins the class."""
    core, people, joined = klass(5)
    split(core, people, minutes=1)
    c1, s1 = people[1]
    core.close(c1)
    _, back = join(core, session="c", name="p1", resume=s1,
                   resume_secret=joined[1]["resume_secret"])
    assert back["session"] == "c.A" and back["peer_id"] == s1 and back["group"] == "A"
    c2, s2 = people[2]
    core.close(c2)
    _, reloaded = join(core, session="c", name="p2")
    assert reloaded["session"] == "c.A" and reloaded["peer_id"] != s2
    assert core.registry.sessions["c"].classroom.breakout.groups["A"] == \
        [s1, reloaded["peer_id"]]
    _, stranger = join(core, session="c", name="zed")
    assert stranger["session"] == "c" and stranger["breakout"]["groups"]["B"]


def test_visit_broadcast_gather():
    """The host visits B (hosts it there) and comes back; a broadcast reaches every room;
    gather brings all back, closes the groups, and a late group rejoin lands in c."""
    core, people, _ = klass(5)
    (t, tid), (c1, _), _, (c3, _), _ = people
    split(core, people)
    out = frames(core, t, {"type": "visit", "group": "B"})
    moved = sent(out, t)[-1]
    assert moved["type"] == "moved" and moved["session"] == "c.B" and tid in moved["hosts"]
    assert any(m["type"] == "peer-joined" and m.get("host") for m in sent(out, c3))
    out = frames(core, t, {"type": "broadcast", "text": "2 minutes left"})
    for conn in (t, c1, c3):
        assert {"type": "broadcast", "text": "2 minutes left", "by": tid} in sent(out, conn)
    frames(core, t, {"type": "visit", "group": None})
    assert core.registry.sessions["c"].classroom.hosts == [tid]
    out = frames(core, t, {"type": "gather"})
    assert core.registry.snapshot().keys() == {"c"}
    assert len(core.registry.snapshot()["c"]) == 5
    back = next(m for m in sent(out, c1) if m["type"] == "moved")
    assert back["session"] == "c" and "group" not in back
    assert any(m["type"] == "breakout" and m["groups"] is None for m in sent(out, c1))
    core.close(c3)
    _, late = join(core, session="c.B", name="p3")
    assert late["session"] == "c"


@pytest.mark.parametrize("msg, code", [
    ({"type": "breakout", "groups": {}}, "bad-message"),
    ({"type": "breakout", "groups": {"A B": []}}, "bad-message"),
    ({"type": "breakout", "groups": {"A": ["x"], "B": ["x"]}}, "bad-message"),
    ({"type": "breakout", "groups": {"A": []}, "minutes": -1}, "bad-message"),
    ({"type": "breakout", "groups": {"A": ["nobody"]}}, "no-such-peer"),
    ({"type": "broadcast", "text": "x" * 501}, "bad-message"),
    ({"type": "visit", "group": "A"}, "bad-message"),  # not split
    ({"type": "gather"}, "bad-message"),
])
def test_bad_breakout_requests(msg, code):
    """Malformed or impossible breakout requests get a specific error."""
    core, people, _ = klass(2)
    (error,) = sent(frames(core, people[0][0], msg))
    assert error["type"] == "error" and error["code"] == code, error


def test_only_hosts_split_and_a_group_cannot_take_an_existing_session():
    """A student's breakout/broadcast/gather is forbidden; a group name that is already a
    session is refused; a second split before gather too."""
    core, people, _ = klass(3)
    for msg in ({"type": "breakout", "groups": {"A": []}}, {"type": "broadcast", "text": "hi"},
                {"type": "gather"}, {"type": "visit", "group": None}):
        (error,) = sent(frames(core, people[1][0], msg))
        assert error["code"] == "forbidden" and "only a host" in error["message"]
    join(core, session="c.X", name="other")
    (error,) = sent(frames(core, people[0][0], {"type": "breakout", "groups": {"X": []}}))
    assert "exists already" in error["message"]
    split(core, people)
    (error,) = sent(split(core, people))
    assert "gather" in error["message"]


def test_no_new_host_while_the_host_visits():
    """With the host visiting a group, a newcomer to the class does not become its host."""
    core, people, _ = klass(3)
    split(core, people)
    frames(core, people[0][0], {"type": "visit", "group": "A"})
    _, newcomer = join(core, session="c", name="late")
    assert newcomer["session"] == "c" and newcomer["hosts"] == []


def test_signaling_made_for_the_old_session_is_dropped_after_a_move():
    """An offer tagged with the session it was made for is relayed there, and dropped
    silently once a breakout moved its sender (the same peer ids now name new links)."""
    core, people, _ = klass(3)
    _, (c1, s1), (c2, s2) = people
    offer = {"type": "offer", "to": s2, "sdp": "v=0", "session": "c"}
    assert [m["from"] for m in sent(frames(core, c1, offer), c2)] == [s1]
    frames(core, people[0][0], {"type": "breakout", "groups": {"A": [s1, s2]}})
    assert sent(frames(core, c1, offer)) == []
    fresh = {**offer, "session": "c.A"}
    assert [m["from"] for m in sent(frames(core, c1, fresh), c2)] == [s1]
    (error,) = sent(frames(core, c1, {**offer, "session": 3}))
    assert error["code"] == "bad-message"
