"""Hostile input over real WebSockets: the server survives, answers sanely, bystanders unharmed.

One server runs in a background thread for the whole module (hypothesis examples cannot use
function-scoped fixtures); a bystander pair in its own session exchanges messages in another
thread throughout, and after every example ``/healthz`` must answer and the pair must progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import UNIT
from zero_nb import serve
from zero_nb.signaling.protocol import (
    CLIENT_TYPES,
    GROUP_RE,
    MAX_BREAKOUT_MINUTES,
    MAX_BROADCAST_CHARS,
    MAX_GROUPS,
    MAX_NAME_CHARS,
    PEER_ID_RE,
    SESSION_ID_RE,
    ErrorCode,
)
from zero_nb.signaling.server import SignalingServer

CODES = {code.value for code in ErrorCode}
LIMIT = 64 * 1024  # default signaling.limits.max_message_bytes
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # leave no .hypothesis/ directory behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_names = itertools.count()


# -- helpers --------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise AssertionError(f"server sent non-standard JSON constant {name}")


def loads(text: str | bytes) -> Any:
    """Parse a server frame as strict JSON (no NaN/Infinity)."""
    assert isinstance(text, str), "the server must only send text frames"
    return json.loads(text, parse_constant=_reject_constant)


def check_message(m: Any) -> None:
    """Assert ``m`` is a well-formed server → client message of protocol v1."""
    assert isinstance(m, dict) and isinstance(m.get("type"), str), m
    kind = m["type"]
    if kind == "error":
        assert m["code"] in CODES and isinstance(m["message"], str) and m["message"], m
        assert set(m) <= {"type", "code", "message", "request"}, m
    elif kind == "pong":
        assert m == {"type": "pong"}
    elif kind == "joined":
        assert SESSION_ID_RE.fullmatch(m["session"]) and isinstance(m["peer_id"], str), m
        assert isinstance(m["resume_secret"], str) and m["resume_secret"], m
        assert all(set(p) == {"peer_id", "name"} for p in m["peers"]), m
    elif kind == "peer-joined":
        assert set(m) == {"type", "peer_id", "name"}, m
    elif kind == "peer-left":
        assert set(m) == {"type", "peer_id"}, m
    elif kind in ("hosts", "hands"):  # a class's state (the creator hosts: passed on at leave)
        assert set(m) == {"type", kind} and all(isinstance(p, str) for p in m[kind]), m
    elif kind in ("locked", "spotlight", "muted", "removed"):  # a host's tool, e.g. its own lock
        fields = {"locked": {"locked", "by"}, "spotlight": {"peer", "by"}, "muted": {"by"},
                  "removed": {"by", "reason"}}[kind]
        assert set(m) == {"type", *fields} and isinstance(m["by"], str | None), m
    else:
        assert kind in {"offer", "answer", "candidate", "message"}, m
        assert isinstance(m["from"], str) and isinstance(m.get("to", ""), str), m


def drain(ws: ClientConnection, timeout: float = 3 * UNIT) -> list[dict[str, Any]]:
    """Send a ping; return the (validated) messages that arrive before its pong."""
    ws.send('{"type":"ping"}')
    out = []
    while True:
        m = loads(ws.recv(timeout=timeout))
        check_message(m)
        if m == {"type": "pong"}:
            return out
        out.append(m)


def close_code(ws: ClientConnection) -> int | None:
    """Drain ``ws``; return the close code if the server closed it, else None."""
    try:
        drain(ws)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return None


def ws_connect(url: str) -> ClientConnection:
    """Connect; no client keepalive pings (websockets draws their payload from ``random``,
    which hypothesis flags when another thread does it while it generates data)."""
    return connect(url, ping_interval=None)


def open_ws(url: str) -> ClientConnection:
    """Connect without a ``with`` block (entering it directly keeps websockets 17 quiet)."""
    return ws_connect(url).__enter__()


def codes(msgs: list[dict[str, Any]]) -> list[str]:
    """Codes and types, without the class state that follows a host's leave (unit-tested)."""
    return [m.get("code", m["type"]) for m in msgs if m["type"] not in ("hosts", "hands")]


def join(ws: ClientConnection, session: str, **extra: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "join", "session": session, **extra}))
    m = loads(ws.recv(timeout=3 * UNIT))
    assert m["type"] == "joined", m
    return m


def fresh_session() -> str:
    return f"fz{next(_names)}"


class Pair:
    """Two connections joined to one fresh session; ``a`` has seen ``b``'s peer-joined."""

    def __init__(self, url: str) -> None:
        self.session = fresh_session()
        self.a = open_ws(url)
        self.b = open_ws(url)
        self.ida = join(self.a, self.session)["peer_id"]
        self.idb = join(self.b, self.session)["peer_id"]
        assert loads(self.a.recv(timeout=3 * UNIT))["type"] == "peer-joined"

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.a.close()
        self.b.close()


class Bystander(threading.Thread):
    """A pair in its own session trading numbered messages until stopped; records failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="bystander")
        self.pair = Pair(url)
        self.rounds = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        p = self.pair
        try:
            while not self.halt.is_set():
                for src, dst, to in ((p.a, p.b, p.idb), (p.b, p.a, p.ida)):
                    src.send(json.dumps({"type": "message", "to": to, "data": self.rounds}))
                    m = loads(dst.recv(timeout=5 * UNIT))
                    assert m["type"] == "message" and m["data"] == self.rounds, m
                self.rounds += 1
                time.sleep(0.03)  # < 34 messages/s per side: under the rate limit (50/s)
        except BaseException as exc:
            self.error = exc

    def check(self) -> None:
        """Fail unless the pair completes a further round soon."""
        seen = self.rounds
        deadline = time.monotonic() + 5 * UNIT
        while self.rounds <= seen and self.error is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.error is None, f"bystander failed: {self.error!r}"
        assert self.rounds > seen, "bystander pair stopped exchanging messages"


@pytest.fixture(scope="module")
def srv():
    # default limits; heartbeat pings off for the same reason as in ws_connect()
    handle = serve("127.0.0.1", 0, config={"signaling": {"heartbeat": {"interval": 3600.0}}})
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def bystander(srv):
    by = Bystander(srv.url)
    by.start()
    yield by
    by.halt.set()
    by.join(10 * UNIT)
    by.pair.__exit__()
    assert by.error is None, f"bystander failed: {by.error!r}"


def alive(srv, bystander) -> None:
    """The server still answers HTTP and the bystander pair still exchanges messages."""
    url = f"http://127.0.0.1:{srv.port}/healthz"
    assert urllib.request.urlopen(url, timeout=5 * UNIT).read() == b"ok\n"
    bystander.check()


def frame_is_message(text: str) -> bool:
    """Would the server's parser get as far as a string ``type`` (same json module)?"""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("type"), str)


# -- strategies -----------------------------------------------------------------------------
any_char = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
any_text = st.text(any_char, max_size=40)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(any_text, kids, max_size=4)),
    max_leaves=12,
)
FIELDS = ["session", "name", "password", "token", "resume", "resume_secret", "to", "sdp",
          "candidate", "data", "from", "audio", "video", "media"]
json_messages = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(sorted(CLIENT_TYPES)), json_values)},
    optional={f: json_values for f in FIELDS},
)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _req_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _media(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(v.get(k), bool) for k in ("audio", "video"))


def _groups(v: Any) -> bool:
    if not isinstance(v, dict) or not 0 < len(v) <= MAX_GROUPS:
        return False
    ids = [i for g in v.values() if isinstance(g, list) for i in g]
    return (all(isinstance(k, str) and GROUP_RE.fullmatch(k) for k in v)
            and all(isinstance(g, list) for g in v.values())
            and all(isinstance(i, str) and PEER_ID_RE.fullmatch(i) for i in ids)
            and len(ids) == len(set(ids)))


def _minutes(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                         and 0 < v <= MAX_BREAKOUT_MINUTES)


# (type, field) -> which values parse; a valid message of each type to start from
ACCEPTS = {
    ("join", "session"): lambda v: v is None or (isinstance(v, str) and SESSION_ID_RE.fullmatch(v)),
    ("join", "name"): lambda v: v is None or (isinstance(v, str) and len(v) <= MAX_NAME_CHARS),
    ("join", "password"): _opt_str,
    ("join", "token"): _opt_str,
    ("join", "resume"): lambda v: v is None or (isinstance(v, str) and PEER_ID_RE.fullmatch(v)),
    ("join", "resume_secret"): lambda v: v is None or (isinstance(v, str) and len(v) <= 128),
    ("offer", "to"): _req_str,
    ("offer", "sdp"): _req_str,
    ("answer", "to"): _req_str,
    ("answer", "sdp"): _req_str,
    ("candidate", "to"): _req_str,
    ("candidate", "candidate"): lambda v: v is None or isinstance(v, dict),
    ("message", "to"): _opt_str,
    ("join", "media"): lambda v: v is None or _media(v),
    ("media", "audio"): lambda v: isinstance(v, bool),
    ("media", "video"): lambda v: isinstance(v, bool),
    ("join", "host_token"): _opt_str,
    ("hand", "raised"): lambda v: isinstance(v, bool),
    ("hand", "peer"): _opt_str,
    ("make-host", "peer"): _req_str,
    ("make-host", "keep"): lambda v: v is None or isinstance(v, bool),
    ("mute", "peer"): _req_str,
    ("remove", "peer"): _req_str,
    ("remove", "reason"): lambda v: v is None or (isinstance(v, str) and len(v) <= 200),
    ("spotlight", "peer"): _opt_str,
    ("lock", "locked"): lambda v: v is None or isinstance(v, bool),
    ("breakout", "groups"): _groups,
    ("breakout", "minutes"): _minutes,
    ("broadcast", "text"): lambda v: _req_str(v) and len(v) <= MAX_BROADCAST_CHARS,
    ("visit", "group"): lambda v: v is None or (isinstance(v, str) and GROUP_RE.fullmatch(v)),
    **{(t, "type"): lambda v: isinstance(v, str) for t in CLIENT_TYPES},
}
VALID = {
    "join": {"type": "join", "session": "s", "name": "n", "password": "p", "token": "t",
             "resume": "r", "resume_secret": "x", "media": {"audio": True, "video": False}},
    "media": {"type": "media", "audio": True, "video": False},
    "offer": {"type": "offer", "to": "x", "sdp": "v=0"},
    "answer": {"type": "answer", "to": "x", "sdp": "v=0"},
    "candidate": {"type": "candidate", "to": "x", "candidate": None},
    "message": {"type": "message", "to": "x", "data": 1},
    "leave": {"type": "leave"},
    "ping": {"type": "ping"},
    "hand": {"type": "hand", "raised": True, "peer": "x"},
    "make-host": {"type": "make-host", "peer": "x", "keep": True},
    "mute": {"type": "mute", "peer": "x"},
    "remove": {"type": "remove", "peer": "x", "reason": "r"},
    "spotlight": {"type": "spotlight", "peer": "x"},
    "lock": {"type": "lock", "locked": True},
    "breakout": {"type": "breakout", "groups": {"A": ["x"], "B": ["y"]}, "minutes": 5},
    "broadcast": {"type": "broadcast", "text": "two minutes left"},
    "visit": {"type": "visit", "group": "A"},
    "gather": {"type": "gather"},
}
# every client message type has a valid example to confuse (a new type must add one here)
assert set(VALID) == set(CLIENT_TYPES), set(CLIENT_TYPES) ^ set(VALID)
wrong_values = st.one_of(
    json_values, st.just(""), st.text("x", min_size=MAX_NAME_CHARS + 1, max_size=100),
    st.sampled_from(["a b", "é", "/", "a.b", "x" * 65, "x" * 129]),
)


@st.composite
def confused(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid message with one field replaced by a value of a type it does not accept."""
    kind, field = draw(st.sampled_from(sorted(ACCEPTS)))
    value = draw(wrong_values.filter(lambda v: not ACCEPTS[kind, field](v)))
    return {**VALID[kind], field: value}, field


# -- properties -----------------------------------------------------------------------------
@FUZZ
@given(
    payload=st.one_of(
        st.binary(max_size=3000).map(lambda b: ("binary", b)),
        st.text(any_char.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), max_size=3000)
        .map(lambda t: ("text", t)),
        st.binary(max_size=300).map(lambda b: ("raw-text", b)),
    ),
    joined=st.booleans(),
)
@example(payload=("raw-text", b'{"type":"ping","x":"\xed\xa0\x80"}'), joined=True)
@example(payload=("text", '{"type":"ping"'), joined=False)
def test_random_frames(srv, bystander, payload, joined):
    """Random binary, text and non-UTF-8 text frames get bad-message (or close 1007), no harm."""
    kind, data = payload
    with ws_connect(srv.url) as ws:
        if joined:
            join(ws, fresh_session())
        if kind == "raw-text":
            ws.send(data, text=True)  # a text frame whose bytes may not be UTF-8
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                assert close_code(ws) == 1007
                alive(srv, bystander)
                return
        else:
            ws.send(data)
            text = data
        replies = drain(ws)
        if isinstance(text, bytes) or not frame_is_message(text):
            assert codes(replies) == ["bad-message"]
    alive(srv, bystander)


@FUZZ
@given(msg=json_messages, joined=st.booleans())
def test_random_json_messages(srv, bystander, msg, joined):
    """Objects with any type and any-typed fields: only known errors or valid replies."""
    with Pair(srv.url) if joined else ws_connect(srv.url) as conn:
        ws = conn.a if joined else conn
        ws.send(json.dumps(msg))
        replies = drain(ws)
        if not isinstance(msg["type"], str):
            assert codes(replies) == ["bad-message"]
        elif msg["type"] not in CLIENT_TYPES:
            assert codes(replies) == ["unknown-type"]
        if joined:
            for m in drain(conn.b):
                assert m.get("from", conn.ida) == conn.ida  # only relays from its peer
    alive(srv, bystander)


@FUZZ
@given(case=confused(), joined=st.booleans())
def test_type_confusion(srv, bystander, case, joined):
    """Every field of every message type given a wrong JSON type gets exactly bad-message."""
    msg, field = case
    with ws_connect(srv.url) as ws:
        if joined:
            join(ws, fresh_session())
        ws.send(json.dumps(msg))
        replies = drain(ws)
        assert codes(replies) == ["bad-message"], (field, replies)
        assert "request" not in replies[0]
        if msg["type"] == "join" and joined:
            ws.send(json.dumps(VALID["offer"]))
            assert codes(drain(ws)) == ["no-such-peer"]  # still joined, still served
    alive(srv, bystander)


@settings(FUZZ, max_examples=25)
@given(size=st.integers(LIMIT - 64, 5 * LIMIT), joined=st.booleans())
@example(size=LIMIT, joined=True)
@example(size=LIMIT + 1, joined=True)
@example(size=4 * LIMIT, joined=False)
@example(size=4 * LIMIT + 1, joined=False)
def test_huge_frames(srv, bystander, size, joined):
    """Frames around the size limits: relayed, too-large, or closed with 1009 over 4x."""
    head, tail = '{"type":"message","data":"', '"}'
    frame = head + "x" * (size - len(head) - len(tail)) + tail
    with ws_connect(srv.url) as ws:
        if joined:
            join(ws, fresh_session())
        ws.send(frame)
        if size > 4 * LIMIT:
            assert close_code(ws) == 1009
        elif size > LIMIT:
            assert codes(drain(ws)) == ["too-large"]
        else:
            assert codes(drain(ws)) == ([] if joined else ["not-joined"])
    alive(srv, bystander)


@settings(FUZZ, max_examples=30)
@given(depth=st.integers(1, 3000), container=st.sampled_from(["[", "{"]))
@example(depth=100_000 // 5, container="{")
@example(depth=1000, container="[")
def test_deep_json(srv, bystander, depth, container):
    """Deeply nested data is relayed intact or refused with bad-message, never a crash."""
    opener, closer = ('[', ']') if container == "[" else ('{"k":', '}')
    data = opener * depth + "0" + closer * depth
    with Pair(srv.url) as p:
        p.a.send('{"type":"message","data":' + data + "}")
        replies = drain(p.a)
        # compare text: this thread's stack may be too deep to parse what the server could
        p.b.send('{"type":"ping"}')
        relayed = [p.b.recv(timeout=3 * UNIT)]
        if relayed[0] == '{"type":"pong"}':
            relayed = []
        else:
            assert p.b.recv(timeout=3 * UNIT) == '{"type":"pong"}'
        if replies:
            assert codes(replies) == [
                "too-large" if len(data) + 26 > LIMIT else "bad-message"
            ]
            assert relayed == [] and depth > 500
        else:  # the exact depth limit depends on the server thread's stack
            assert relayed == [f'{{"type":"message","data":{data},"from":"{p.ida}"}}']
            assert depth <= sys.getrecursionlimit() + 100
    alive(srv, bystander)


@FUZZ
@given(name=st.text(any_char, max_size=MAX_NAME_CHARS + 4), data=json_values,
       password=any_text)
def test_unicode_and_surrogates(srv, bystander, name, data, password):
    """Names, passwords and data with any code point, lone surrogates too, round-trip exactly."""
    session = fresh_session()
    # JSON decodes an escaped surrogate pair as one code point: compare what the server sees
    name, data = json.loads(json.dumps(name)), json.loads(json.dumps(data))
    with ws_connect(srv.url) as a, ws_connect(srv.url) as b:
        a.send(json.dumps({"type": "join", "session": session, "name": name,
                           "password": password}))
        replies = drain(a)
        if len(name) > MAX_NAME_CHARS:
            assert codes(replies) == ["bad-message"]
            alive(srv, bystander)
            return
        assert codes(replies) == ["joined"]
        ida = replies[0]["peer_id"]
        assert replies[0]["name"] == (name or f"peer-{ida[:4]}")
        wrong = password + "!"
        b.send(json.dumps({"type": "join", "session": session, "password": wrong}))
        assert codes(drain(b)) == (["bad-password"] if password else ["joined"])
        if password:
            join(b, session, password=password)
        assert codes(drain(a)) == ["peer-joined"]
        b.send(json.dumps({"type": "message", "data": data}))
        drain(b)
        (got,) = drain(a)
        assert got["type"] == "message" and got["data"] == data
    alive(srv, bystander)


@settings(FUZZ, max_examples=20)
@given(wanted=st.from_regex(PEER_ID_RE, fullmatch=True))
def test_resume_never_shares_a_peer_id(srv, bystander, wanted):
    """join.resume needs the id's secret, never grants an id a connected peer holds; from
    follows it."""
    session = fresh_session()
    wanted = f"{wanted[:54]}-{session}"  # unique: an earlier example's peer may linger
    with ws_connect(srv.url) as a, ws_connect(srv.url) as b:
        ja = join(a, session, resume=wanted)  # a guessed id without its secret: a fresh id
        first = ja["peer_id"]
        second = join(b, session, resume=first, resume_secret=ja["resume_secret"])["peer_id"]
        assert first != wanted and second != first
        assert codes(drain(a)) == ["peer-joined"]
        b.send(json.dumps({"type": "message", "to": first, "data": 1}))
        drain(b)
        assert drain(a) == [{"type": "message", "to": first, "data": 1, "from": second}]
    alive(srv, bystander)


OPS = ["join1", "join2", "leave", "offer", "answer", "candidate", "message", "broadcast",
       "to-self", "ping"]


@settings(FUZZ, max_examples=30)
@given(ops=st.lists(st.tuples(st.sampled_from([0, 1]), st.sampled_from(OPS)), max_size=14))
def test_protocol_order(srv, bystander, ops):
    """Random orders of join/leave/relay from two connections match a model of the protocol."""
    sessions = {"join1": fresh_session(), "join2": fresh_session()}
    conns = [open_ws(srv.url), open_ws(srv.url)]
    where: list[str | None] = [None, None]  # each connection's session
    ids = ["00000000", "00000001"]  # last peer_id, or one nobody has
    try:
        for me, op in ops:
            other = 1 - me
            ws = conns[me]
            same = where[me] is not None and where[me] == where[other]
            expect: tuple[list[str], list[str]] = ([], [])  # (to me, to other)
            kind = "message" if op in ("broadcast", "to-self") else op
            if op.startswith("join"):
                ws.send(json.dumps({"type": "join", "session": sessions[op]}))
                if where[me] is None:
                    where[me] = sessions[op]
                    expect = (["joined"], ["peer-joined"] if where[other] == where[me] else [])
                else:
                    expect = (["already-joined"], [])
            elif op == "leave":
                ws.send('{"type":"leave"}')
                expect = ([] if where[me] else ["not-joined"], ["peer-left"] if same else [])
                where[me] = None
            elif op == "ping":
                ws.send('{"type":"ping"}')
                assert loads(ws.recv(timeout=3 * UNIT)) == {"type": "pong"}
            else:
                msg: dict[str, Any] = {**VALID[kind], "to": ids[me if op == "to-self" else other]}
                if op == "broadcast":
                    del msg["to"]
                ws.send(json.dumps(msg))
                if where[me] is None:
                    expect = (["not-joined"], [])
                elif op == "broadcast" or (same and op != "to-self"):
                    expect = ([], [kind] if same else [])
                else:
                    expect = (["no-such-peer"], [])
            # draining `me` first guarantees its frame was handled before `other`'s ping
            got_me, got_other = drain(ws), drain(conns[other])
            assert (codes(got_me), codes(got_other)) == expect, (op, got_me, got_other)
            request = "join" if op.startswith("join") else "leave" if op == "leave" else kind
            for m in got_me:
                if m["type"] == "joined":
                    ids[me] = m["peer_id"]
                    peers = [{"peer_id": ids[other], "name": f"peer-{ids[other][:4]}"}]
                    assert m["peers"] == (peers if where[other] == where[me] else [])
                if m["type"] == "error":
                    assert m["request"] == request, m
            for m in got_other:
                assert m.get("from", m.get("peer_id")) == ids[me]
    finally:
        for ws in conns:
            ws.close()
    alive(srv, bystander)


@FUZZ
@given(sdp=st.text(any_char, min_size=1, max_size=4000),
       extra=st.dictionaries(st.sampled_from(["sdpType", "x", "from", "type2"]), json_values),
       kind=st.sampled_from(["offer", "answer"]))
@example(sdp="\x00" * 10, extra={}, kind="offer")
@example(sdp="v=0\r\n" * 20000, extra={}, kind="offer")
def test_sdp_garbage_relayed_verbatim(srv, bystander, sdp, extra, kind):
    """The server never looks into SDP: any text is relayed exactly, with only 'from' replaced."""
    with Pair(srv.url) as p:
        msg = {**extra, "type": kind, "to": p.idb, "sdp": sdp}
        frame = json.dumps(msg)
        msg = json.loads(frame)  # an escaped surrogate pair decodes as one code point
        p.a.send(frame)
        if len(frame) > LIMIT:
            assert codes(drain(p.a)) == ["too-large"] and drain(p.b) == []
        else:
            assert drain(p.a) == []
            assert drain(p.b) == [{**{k: v for k, v in msg.items() if k != "from"},
                                   "from": p.ida}]
    alive(srv, bystander)


def test_nan_is_not_relayed_as_invalid_json(srv):
    """NaN/Infinity (not JSON) are refused or at least never reach a peer as invalid JSON."""
    with Pair(srv.url) as p:
        p.a.send('{"type":"message","data":[NaN,Infinity,-Infinity]}')
        drain(p.a)
        drain(p.b)  # loads() is strict: fails if the server relayed the constants


async def test_flood_does_not_starve_bystanders():
    """20 flooders get rate-limited, then closed with 1008; a bystander pair stays prompt."""
    async with SignalingServer("127.0.0.1", 0) as server:
        async def joined(session: str):
            ws = await aconnect(server.url)
            await ws.send(json.dumps({"type": "join", "session": session}))
            m = json.loads(await asyncio.wait_for(ws.recv(), 3 * UNIT))
            assert m["type"] == "joined"
            return ws, m["peer_id"]

        async def flood(i: int) -> tuple[int, str, list[str]]:
            ws, _ = await joined(f"flood{i}")
            seen: list[str] = []

            async def read() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in ws:
                        m = json.loads(raw)
                        seen.append(m.get("code", m["type"]))

            reader = asyncio.create_task(read())
            frame = json.dumps({"type": "message", "data": "x" * 100})
            with pytest.raises(ConnectionClosed):
                for n in range(100_000):
                    await ws.send(frame if n % 2 else '{"type":"ping"}')
                    if n % 64 == 0:
                        await asyncio.sleep(0)
            await asyncio.wait_for(reader, 10 * UNIT)
            return ws.close_code, ws.close_reason, seen

        async def converse() -> list[float]:
            (a, ida), (b, idb) = await joined("calm"), await joined("calm")
            assert json.loads(await a.recv())["type"] == "peer-joined"
            lags = []
            for seq in range(50):
                src, dst, to = (a, b, idb) if seq % 2 == 0 else (b, a, ida)
                start = asyncio.get_running_loop().time()
                await src.send(json.dumps({"type": "message", "to": to, "data": seq}))
                m = json.loads(await asyncio.wait_for(dst.recv(), 3 * UNIT))
                assert m["data"] == seq and m["from"] == (ida if src is a else idb), m
                lags.append(asyncio.get_running_loop().time() - start)
                await asyncio.sleep(0.02)
            await a.close()
            await b.close()
            return lags

        start = asyncio.get_running_loop().time()
        lags, *floods = await asyncio.gather(converse(), *[flood(i) for i in range(20)])
        assert asyncio.get_running_loop().time() - start < 30 * UNIT
        assert len(lags) == 50 and max(lags) < 3 * UNIT
        for code, reason, seen in floods:
            assert code == 1008 and "rate" in reason, (code, reason)
            assert seen.count("rate-limited") >= 1 and "pong" in seen
            assert set(seen) <= {"pong", "rate-limited"}
