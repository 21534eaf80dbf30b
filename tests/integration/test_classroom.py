"""Running a class with real kernels on a real server: hosts, hands, mute, spotlight, lock,
remove, and what a participant who is not a host gets."""

import threading

import pytest

import zero_nb
from tests.conftest import UNIT, wait_until
from zero_nb import sources
from zero_nb.errors import Forbidden, SessionLocked

pytestmark = pytest.mark.media


def join(server, name, media_config, **kw):
    kw.setdefault("audio", sources.tone(440, -20))
    return zero_nb.join("class", server.url, name=name, config=media_config["dict"], **kw)


@pytest.fixture
def klass(bg_server, media_config):
    """A teacher (the session's creator) and two students, all kernels."""
    rooms = [join(bg_server, "teacher", media_config)]
    rooms += [join(bg_server, n, media_config) for n in ("ana", "ben")]
    assert wait_until(lambda: all(len(r.peers) == 2 for r in rooms), 5 * UNIT)
    yield rooms
    for room in rooms:
        room.leave()


def test_creator_hosts_and_everyone_knows(klass):
    """The creator is the host on every kernel (room.hosts, peer.is_host)."""
    teacher, ana, _ = klass
    assert teacher.is_host and teacher.hosts == [teacher.peer_id]
    assert ana.hosts == [teacher.peer_id] and not ana.is_host
    assert ana.peers[teacher.peer_id].is_host and not teacher.peers[ana.peer_id].is_host


def test_hands_reach_the_host_in_order(klass):
    """Hands go up in order on every kernel, with a hand event; a host lowers them."""
    teacher, ana, ben = klass
    seen: list[list[str]] = []
    teacher.on("hand", seen.append)
    ben.raise_hand()
    assert wait_until(lambda: teacher.hands == [ben.peer_id], 5 * UNIT)
    ana.raise_hand()
    assert wait_until(lambda: teacher.hands == [ben.peer_id, ana.peer_id], 5 * UNIT)
    assert wait_until(lambda: ana.hands == teacher.hands, 5 * UNIT)
    assert wait_until(lambda: seen[-1:] == [[ben.peer_id, ana.peer_id]], 5 * UNIT)
    teacher.lower_hand(teacher.peers[ben.peer_id])
    assert wait_until(lambda: ben.hands == [ana.peer_id], 5 * UNIT)
    teacher.lower_hand("all")
    assert wait_until(lambda: ana.hands == [] and teacher.hands == [], 5 * UNIT)


def test_mute_spotlight_and_a_student_forbidden(klass):
    """mute turns the student's microphone off (told who asked; others see peer-media);
    spotlight reaches all; a student's attempt is Forbidden, and the server says so too."""
    teacher, ana, ben = klass
    muted, spot, errors = threading.Event(), [], []
    ana.on("muted", lambda by: muted.set() if by.peer_id == teacher.peer_id else None)
    ben.on("spotlight", spot.append)
    teacher.mute(ana.peer_id)
    assert muted.wait(5 * UNIT) and ana.local.audio.muted
    assert wait_until(lambda: teacher.peers[ana.peer_id].media.muted, 5 * UNIT)
    ana.local.audio.muted = False  # a request: she may unmute
    assert wait_until(lambda: not teacher.peers[ana.peer_id].media.muted, 5 * UNIT)
    teacher.spotlight(teacher.peers[ana.peer_id])
    assert wait_until(lambda: ben.spotlighted == ana.peer_id, 5 * UNIT)
    assert wait_until(lambda: [getattr(p, "peer_id", p) for p in spot] == [ana.peer_id],
                      5 * UNIT)
    with pytest.raises(Forbidden, match="only a host may mute: ask a host \\(teacher\\)"):
        ben.mute(ana.peer_id)
    ben.on("error", lambda peer, text: errors.append(text))
    ben._send_signal({"type": "lock", "locked": True}, 5 * UNIT, "test")  # past the client check
    assert wait_until(lambda: any("only a host may use 'lock'" in e for e in errors), 5 * UNIT)
    assert not teacher.locked


def test_lock_and_remove(klass, bg_server, media_config):
    """A locked session refuses a newcomer (SessionLocked); remove tells the student, who
    leaves, and the others see it go."""
    teacher, ana, ben = klass
    teacher.lock()
    assert wait_until(lambda: ana.locked, 5 * UNIT)
    with pytest.raises(SessionLocked, match="locked by its host"):
        join(bg_server, "late", media_config)
    teacher.lock(False)
    removed = threading.Event()
    ben.on("removed", lambda by, reason: removed.set() if reason == "noise" else None)
    teacher.remove(ben.peer_id, "noise")
    assert removed.wait(5 * UNIT)
    assert wait_until(lambda: ben.closed and ben.peer_id not in ana.peers, 5 * UNIT)
    assert ben.removed == {"by": teacher.peer_id, "reason": "noise"}
    teacher.make_host(ana, keep=False)
    assert wait_until(lambda: ana.is_host and not teacher.is_host, 5 * UNIT)
