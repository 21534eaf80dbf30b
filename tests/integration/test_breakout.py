"""Breakout rooms with real kernels on a real server: 12 encoded students split into 3
groups and gathered back, media inside each group only; a host's broadcast and visit, and a
student whose link drops landing back in its group."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

import zero_nb
from tests.class_support import colour_of, colour_ok
from tests.conftest import UNIT, wait_until
from zero_nb import sources

pytestmark = pytest.mark.media

GROUP_COLOURS = {"A": (255, 0, 0), "B": (0, 255, 0), "C": (0, 0, 255)}


@pytest.fixture
def clips(tmp_path):
    """One tiny VP8 clip per group colour (encoded sources: no encoder per student)."""
    return {g: sources.write_test_clip(tmp_path / f"{g}.ivf", rgb, 2.0, width=96, height=64,
                                       fps=10, kbps=60)
            for g, rgb in GROUP_COLOURS.items()}


def student(server, session, name, clip, config):
    video, _ = sources.from_file(clip, loop=True, encoded=True)
    return zero_nb.join(session, server.url, name=name, video=video, config=config,
                        timeout=60)


def join_class(server, session, plan, clips, config):
    """The teacher (creator, so host; sends nothing), then every student of ``plan``
    (group -> names), sending its group's colour. Returns (teacher, {name: room})."""
    teacher = zero_nb.join(session, server.url, name="teacher", config=config)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = {n: pool.submit(student, server, session, n, clips[g], config)
                   for g, names in plan.items() for n in names}
        rooms = {n: f.result() for n, f in futures.items()}
    return teacher, rooms


def in_group(room, group, mates) -> bool:
    return room.session.endswith(f".{group}") and room.group == group and \
        {p.peer_id for p in room.peers.values()} == mates


def sees_colour(room, rgb) -> bool:
    peers = list(room.peers.values())
    return bool(peers) and all(colour_ok(p.video.latest(), rgb, tol=40) for p in peers)


def test_twelve_students_split_into_three_groups_and_gathered(bg_server, media_config, clips):
    """Each of 12 students is in its group's session within 5 s of breakout(), receives its
    group's colour from each mate and nobody else's; gather() brings all 12 back in 10 s."""
    config = media_config["dict"]
    plan = {g: [f"{g.lower()}{i}" for i in range(4)] for g in GROUP_COLOURS}
    teacher, rooms = join_class(bg_server, "big", plan, clips, config)
    try:
        assert wait_until(lambda: all(len(r.peers) == 12 for r in rooms.values()),
                          60 * UNIT, step=0.2), {n: len(r.peers) for n, r in rooms.items()}
        moved: list[tuple[str, str | None]] = []
        rooms["a0"].on("moved", lambda session, group: moved.append((session, group)))
        ids = {g: [rooms[n].peer_id for n in names] for g, names in plan.items()}
        t0 = time.monotonic()
        assert teacher.breakout(ids, minutes=10) == ids
        done = wait_until(lambda: all(
            in_group(rooms[n], g, set(ids[g]) - {rooms[n].peer_id})
            for g, names in plan.items() for n in names), 5 * UNIT, step=0.05)
        took = time.monotonic() - t0
        assert done, {n: (r.session, len(r.peers)) for n, r in rooms.items()}
        assert took < 5.0, took
        assert teacher.breakouts == ids and teacher.peers == {} and teacher.group is None
        assert 590 < rooms["b1"].time_left <= 600
        assert wait_until(lambda: moved == [("big.A", "A")], 5 * UNIT), moved
        # media flows inside each group, from every mate, and nothing from another group
        assert wait_until(lambda: all(sees_colour(rooms[n], GROUP_COLOURS[g])
                                      for g, names in plan.items() for n in names),
                          30 * UNIT, step=0.2), {
            n: [(p.name, colour_of(p.video.latest())) for p in r.peers.values()]
            for g, names in plan.items() for n, r in rooms.items() if n in names
            and not sees_colour(r, GROUP_COLOURS[g])}
        t0 = time.monotonic()
        teacher.gather()
        back = wait_until(lambda: all(r.session == "big" and len(r.peers) == 12
                                      and r.group is None for r in rooms.values()),
                          10 * UNIT, step=0.05)
        took = time.monotonic() - t0
        assert back, {n: (r.session, len(r.peers)) for n, r in rooms.items()}
        assert took < 10.0, took
        assert teacher.breakouts is None and len(teacher.peers) == 12
        assert bg_server.sessions().keys() == {"big"}
    finally:
        for room in [*rooms.values(), teacher]:
            room.leave()


def test_broadcast_visit_and_a_dropped_student_back_in_its_group(bg_server, media_config,
                                                                clips):
    """broadcast() reaches every group; the host visits B (sees its media) and returns; a
    student whose signaling link drops comes back into its group with its peer_id."""
    config = media_config["dict"]
    plan = {"A": ["ana", "al"], "B": ["ben", "bo"]}
    teacher, rooms = join_class(bg_server, "small", plan, clips, config)
    try:
        assert wait_until(lambda: all(len(r.peers) == 4 for r in rooms.values()),
                          30 * UNIT, step=0.1)
        teacher.breakout(groups=2)  # balanced by name: al, ana | ben, bo
        assert wait_until(lambda: rooms["ana"].group == "A" and rooms["bo"].group == "B"
                          and all(len(r.peers) == 1 for r in rooms.values()), 5 * UNIT)
        heard: list[str] = []
        rooms["bo"].on("broadcast", lambda text, by: heard.append(text))
        teacher.broadcast("2 minutes left")
        assert wait_until(lambda: all(r.broadcasts and r.broadcasts[-1]["text"] ==
                                      "2 minutes left" for r in rooms.values()), 5 * UNIT)
        assert wait_until(lambda: heard == ["2 minutes left"], 5 * UNIT)
        teacher.visit("B")
        assert teacher.session == "small.B" and teacher.group == "B"
        assert wait_until(lambda: sees_colour(teacher, GROUP_COLOURS["B"])
                          and len(teacher.peers) == 2, 20 * UNIT, step=0.1)
        assert wait_until(lambda: teacher.peer_id in rooms["ben"].hosts, 5 * UNIT)
        teacher.visit(None)
        assert teacher.session == "small" and teacher.peers == {}
        ben = rooms["ben"]
        before = ben.peer_id
        ben.engine.run(ben._client._ws.close(), 5, "dropping the link")
        assert wait_until(lambda: ben._client.reconnects >= 1, 10 * UNIT, step=0.1)
        assert wait_until(lambda: ben.session == "small.B" and ben.peer_id == before
                          and len(ben.peers) == 1, 10 * UNIT, step=0.1)
        teacher.gather()
        assert wait_until(lambda: all(r.session == "small" for r in rooms.values()),
                          10 * UNIT)
    finally:
        for room in [*rooms.values(), teacher]:
            room.leave()


def test_groups_names_each_groups_talker_within_two_seconds(bg_server, media_config):
    """The host's room.groups() lists each group's members and names its talker (voice
    activity) within 2 s of the talk starting; shares and silence follow."""
    pytest.importorskip("webrtcvad")
    from zero_nb.analysis import talk

    config = media_config["dict"]
    teacher = zero_nb.join("talk", bg_server.url, name="teacher", config=config)
    names = ["al", "ana", "ben", "bo"]
    rooms = {n: zero_nb.join("talk", bg_server.url, name=n, config=config,
                             audio=sources.silence()) for n in names}
    try:
        assert wait_until(lambda: all(len(r.peers) == 4 for r in rooms.values()), 20 * UNIT)
        teacher.breakout({"A": [rooms["al"].peer_id, rooms["ana"].peer_id],
                          "B": [rooms["ben"].peer_id, rooms["bo"].peer_id]})
        view = teacher.groups()  # joins a listener to each group
        assert sorted(m["name"] for m in view["A"]["members"]) == ["al", "ana"]
        assert view["A"]["talker"] is None and view["B"]["talker"] is None
        assert wait_until(lambda: all(len(r.peers) == 2 for r in rooms.values()), 10 * UNIT)
        assert wait_until(lambda: all(
            e.wait_for_peers(2, timeout=10 * UNIT) for e in teacher._ears.values()), 15 * UNIT)
        t0 = time.time() + 0.3
        rooms["ana"].set_source(audio=talk([(0.0, 4.0)], t0, f0=210.0, level_db=-24))
        rooms["bo"].set_source(audio=talk([(0.0, 4.0)], t0, f0=120.0, level_db=-24))

        def talkers():
            v = teacher.groups(10)
            return v["A"]["talker"] == "ana" and v["B"]["talker"] == "bo"

        assert wait_until(talkers, 10 * UNIT, step=0.05)
        took = time.time() - t0
        print(f"talkers named {took:.2f} s after the talk started")
        assert took < 2.0, took
        assert wait_until(lambda: time.time() > t0 + 3.0, 5 * UNIT)
        view = teacher.groups(10)
        assert view["A"]["share"].get("ana", 0) > 0.9, view["A"]["share"]
        assert view["B"]["speaking_now"] == ["bo"]
        teacher.gather()
        assert wait_until(lambda: all(r.session == "talk" and len(r.peers) == 4
                                      for r in rooms.values()), 10 * UNIT)
        assert teacher.groups() == {} and len(teacher.peers) == 4
    finally:
        for room in [*rooms.values(), teacher]:
            room.leave()
