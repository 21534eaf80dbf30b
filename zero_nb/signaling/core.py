"""Sans-I/O signaling core: frames in, (connection, message) pairs out.

The server feeds each connection's frames to :meth:`SignalingCore.receive` and performs the
returned :class:`Send` and :class:`Close` actions; nothing here touches a socket or a clock
(``now`` is passed in), so every rule of the protocol is unit-testable without I/O.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import breakout, classroom
from .protocol import (
    BREAKOUT_TYPES,
    AppMessage,
    ClassRequest,
    ErrorCode,
    Join,
    Leave,
    Media,
    Ping,
    ProtocolViolation,
    Relay,
    error,
    parse,
)
from .sessions import JoinRefused, Peer, Session, SessionRegistry

__all__ = [
    "CLOSE_POLICY",
    "Action",
    "Close",
    "Limits",
    "Send",
    "SignalingCore",
]

log = logging.getLogger("zero_nb.signaling")

CLOSE_POLICY = 1008  # WebSocket close code "policy violation"
MAX_BAD_PASSWORDS = 5


@dataclass(frozen=True)
class Limits:
    """Server limits; all on by default (``signaling.limits`` in config.yaml)."""

    max_message_bytes: int = 64 * 1024
    rate: float = 50.0  # sustained messages per second per connection
    burst: int = 200  # token-bucket depth
    max_peers_per_session: int = 32
    max_sessions: int = 1000
    max_connections: int = 20000
    send_queue: int = 1024  # outgoing messages buffered per connection before it is closed
    allow_create: bool = True
    abuse_close_after: int = 100  # rate-limited messages in a row before the connection is closed


@dataclass(frozen=True)
class Send:
    conn: int
    message: dict[str, Any]
    text: str | None = None  # ready-made frame, when the message need not be encoded


def _utf8_size(raw: str | bytes, limit: int) -> int:
    """Size of a frame in bytes; cheap when it is clearly under ``limit``."""
    if isinstance(raw, bytes) or len(raw) * 4 <= limit:  # UTF-8: at most 4 bytes a char
        return len(raw)
    return len(raw.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class Close:
    conn: int
    code: int
    reason: str


Action = Send | Close


@dataclass
class _Conn:
    conn_id: int
    tokens: float
    last: float | None = None
    peer: Peer | None = None
    violations: int = 0
    bad_passwords: int = 0
    closing: bool = False
    url_token: str | None = None


@dataclass
class SessionHooks:
    """Called when a session starts or ends (the SFU bridge maps sessions to rooms here)."""

    created: Callable[[Session], None] | None = None
    ended: Callable[[Session], None] | None = None
    joined_extra: Callable[[Session], dict[str, Any]] | None = field(default=None)
    close: Callable[[], Awaitable[None]] | None = None  # awaited when the server stops


class SignalingCore:
    """All connections and sessions of one server, as a pure state machine."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        token: str | None = None,
        hooks: SessionHooks | None = None,
        resume_key: bytes | None = None,
        host_token: str | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.token = token
        self.host_token = host_token  # join.host_token that makes a host; None: the creator
        self.hooks = hooks or SessionHooks()
        self.registry = SessionRegistry(
            max_peers_per_session=self.limits.max_peers_per_session,
            max_sessions=self.limits.max_sessions,
            allow_create=self.limits.allow_create,
            resume_key=resume_key,
        )
        self._conns: dict[int, _Conn] = {}
        self._by_peer: dict[str, int] = {}
        self._next_id = 0

    # -- connection lifecycle -------------------------------------------------------------
    def open(self, token: str | None = None) -> int:
        """Register a new connection and return its id; ``token``: the one its URL carried
        (``/ws?token=...``), used when a ``join`` carries none."""
        self._next_id += 1
        self._conns[self._next_id] = _Conn(self._next_id, float(self.limits.burst),
                                           url_token=token)
        return self._next_id

    def close(self, conn_id: int) -> list[Action]:
        """The connection is gone (closed or timed out): it leaves its session."""
        conn = self._conns.pop(conn_id, None)
        return self._leave(conn) if conn else []

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    # -- frames -----------------------------------------------------------------------------
    def receive(self, conn_id: int, raw: str | bytes, now: float) -> list[Action]:
        """Apply one frame from a connection; return what to send to whom."""
        conn = self._conns.get(conn_id)
        if conn is None or conn.closing:
            return []
        limited = self._rate_limit(conn, now)
        if limited is not None:
            conn.closing = any(isinstance(a, Close) for a in limited)
            return limited
        size = _utf8_size(raw, self.limits.max_message_bytes)
        if size > self.limits.max_message_bytes:
            return [self._error(conn, ErrorCode.TOO_LARGE,
                                f"message of {size} bytes is over the limit of "
                                f"{self.limits.max_message_bytes}: send less data per message")]
        try:
            msg = parse(raw)
        except ProtocolViolation as exc:
            return [self._error(conn, exc.code, exc.message)]
        if isinstance(msg, Ping):
            return [Send(conn_id, {"type": "pong"})]
        if isinstance(msg, Join):
            return self._join(conn, msg, now)
        if conn.peer is None:
            return [self._error(conn, ErrorCode.NOT_JOINED,
                                "send 'join' first: this connection is not in a session",
                                request=msg.type)]
        if isinstance(msg, Leave):
            return self._leave(conn)
        if isinstance(msg, Relay):
            return self._relay(conn, conn.peer, msg.to, msg.body, msg.type, msg.raw)
        if isinstance(msg, Media):
            return self._media(conn.peer, msg)
        if isinstance(msg, ClassRequest) and msg.type in BREAKOUT_TYPES:
            return self._breakout(conn, conn.peer, msg, now)
        if isinstance(msg, ClassRequest):
            return self._class_request(conn, conn.peer, msg)
        assert isinstance(msg, AppMessage)
        body = {"type": "message", "data": msg.data}
        if msg.to is not None:
            body["to"] = msg.to
            return self._relay(conn, conn.peer, msg.to, body, "message")
        return self._others(conn.peer, {**body, "from": conn.peer.peer_id})

    # -- rules ------------------------------------------------------------------------------
    def _error(
        self, conn: _Conn, code: ErrorCode, message: str, *, request: str | None = None
    ) -> Send:
        return Send(conn.conn_id, error(code, message, request=request))

    def _rate_limit(self, conn: _Conn, now: float) -> list[Action] | None:
        lim = self.limits
        if conn.last is not None:
            conn.tokens = min(float(lim.burst), conn.tokens + (now - conn.last) * lim.rate)
        conn.last = now
        if conn.tokens >= 1.0:
            conn.tokens -= 1.0
            conn.violations = 0
            return None
        conn.violations += 1
        if conn.violations > lim.abuse_close_after:
            return [Close(conn.conn_id, CLOSE_POLICY,
                          "rate limit exceeded repeatedly: closing this connection")]
        if conn.violations == 1:  # one error per streak: a flood must not be amplified
            return [self._error(conn, ErrorCode.RATE_LIMITED,
                                f"over {lim.rate:g} messages/s: slow down; messages are "
                                "dropped until you do")]
        return []

    def _join(self, conn: _Conn, msg: Join, now: float = 0.0) -> list[Action]:
        if conn.peer is not None:
            return [self._error(conn, ErrorCode.ALREADY_JOINED,
                                f"already in session {conn.peer.session!r}: send 'leave' "
                                "before joining another", request="join")]
        presented = msg.token or conn.url_token
        if self.token is not None and not hmac.compare_digest(
            (presented or "").encode("utf-8", "surrogatepass"),
            self.token.encode("utf-8", "surrogatepass"),
        ):
            what = ("this server needs its access token: use the server's URL or page "
                    "link as it prints them (server.url, server.page_url: they end in "
                    "?token=...), or pass token=" if not presented else
                    "wrong access token (a server started afresh gets a new one): use the "
                    "URL or page link the server prints now")
            return [self._error(conn, ErrorCode.UNAUTHORIZED, what, request="join")]
        landing = breakout.landing(self.registry, msg)
        if landing is not None:  # a class split into groups: this member's group (or back)
            resumed = self.registry.may_resume(msg.session, msg.resume, msg.resume_secret)
            msg = dataclasses.replace(msg, session=landing, resume_secret=(
                self.registry.resume_secret(landing, msg.resume or "") if resumed else None))
        refused = classroom.admit(self.registry, self.host_token, msg)
        if refused is not None:
            return [self._error(conn, *refused, request="join")]
        is_new = msg.session is None or msg.session not in self.registry.sessions
        try:
            peer = self.registry.join(msg.session, msg.name, msg.password, msg.resume,
                                      msg.resume_secret)
        except JoinRefused as exc:
            actions: list[Action] = [
                self._error(conn, ErrorCode[exc.reason], exc.message, request="join")
            ]
            if exc.reason == "BAD_PASSWORD":
                conn.bad_passwords += 1
                if conn.bad_passwords >= MAX_BAD_PASSWORDS:
                    conn.closing = True
                    actions.append(Close(conn.conn_id, CLOSE_POLICY, "too many wrong passwords"))
            return actions
        conn.peer = peer
        peer.media = msg.media
        self._by_peer[peer.peer_id] = conn.conn_id
        session = self.registry.sessions[peer.session]
        if is_new and self.hooks.created:
            self.hooks.created(session)
        host = classroom.enter(session.classroom, self.host_token, peer.peer_id, msg)
        breakout.took_place(self.registry, session, peer.peer_id, peer.name)
        log.info("join  %s %s (%s) -> %d peers", peer.session, peer.peer_id, peer.name,
                 len(session.peers))
        joined = {"type": "joined", **self._arrival(session, peer, now)}
        return [Send(conn.conn_id, joined), *self._announce(peer, host)]

    def _arrival(self, session: Session, peer: Peer, now: float) -> dict[str, Any]:
        """What ``joined`` (and a breakout's ``moved``) tells a peer of its session."""
        out: dict[str, Any] = {
            "session": peer.session,
            "peer_id": peer.peer_id,
            "name": peer.name,
            "peers": [p.describe() for p in session.peers.values() if p is not peer],
            # only the joiner sees it: with it, a re-join after a drop keeps this peer_id
            "resume_secret": self.registry.resume_secret(peer.session, peer.peer_id),
            **session.classroom.describe(),  # hosts, hands, spotlight, locked
            **breakout.describe(self.registry, session, now),  # group, parent, breakout
        }
        if self.hooks.joined_extra:
            out.update(self.hooks.joined_extra(session))
        return out

    def _announce(self, peer: Peer, host: bool) -> list[Action]:
        announce = {"type": "peer-joined", **peer.describe()}
        if host:
            announce["host"] = True
        return self._others(peer, announce)

    def _leave(self, conn: _Conn) -> list[Action]:
        peer = conn.peer
        if peer is None:
            return []
        conn.peer = None
        self._by_peer.pop(peer.peer_id, None)
        ended = self.registry.sessions.get(peer.session)
        session = self.registry.leave(peer)
        log.info("leave %s %s (%s) -> %d peers", peer.session, peer.peer_id, peer.name,
                 len(session.peers) if session else 0)
        if session is None:
            if ended is not None and self.hooks.ended:
                self.hooks.ended(ended)
            return []
        gone = {"type": "peer-left", "peer_id": peer.peer_id}
        after = classroom.left(session, self.host_token, peer.peer_id)
        return [Send(self._by_peer[pid], m) for m in (gone, *after) for pid in session.peers]

    def _breakout(self, conn: _Conn, peer: Peer, req: ClassRequest, now: float
                  ) -> list[Action]:
        """breakout, broadcast, visit, gather: breakout.py's plan, carried out."""
        session = self.registry.sessions[peer.session]
        root = self.registry.sessions[breakout.class_of(self.registry, session).session_id]
        plan = breakout.request(self.registry, session, peer.peer_id, req, now)
        if plan.error is not None:
            return [self._error(conn, *plan.error, request=req.type)]
        for sid in plan.create:
            group = self.registry.open_group(
                sid, root, breakout.new_group_state(root.classroom, root.session_id))
            if self.hooks.created:
                self.hooks.created(group)
        actions: list[Action] = []
        for pid, sid in plan.moves:
            actions += self._move(pid, sid, now)
        for sid in plan.drop:
            gone = self.registry.sessions.pop(sid, None)
            if gone is not None and self.hooks.ended:
                self.hooks.ended(gone)
        everyone = breakout.members(self.registry, root)
        actions += [Send(self._by_peer[pid], m) for m in plan.notify for pid in everyone]
        if not root.peers and not root.persistent:  # gathered with nobody left to gather
            del self.registry.sessions[root.session_id]
            if self.hooks.ended:
                self.hooks.ended(root)
        return actions

    def _move(self, peer_id: str, session_id: str, now: float) -> list[Action]:
        """Move a connected peer (same id) to another session of its class: the mover hears
        ``peer-left`` of each peer it leaves (old clients drop those connections as usual),
        then ``moved`` (``joined``'s fields); the others, ``peer-left`` / ``peer-joined``."""
        conn_id = self._by_peer[peer_id]
        peer = self._conns[conn_id].peer
        assert peer is not None
        old = self.registry.sessions[peer.session]
        self.registry.move(peer, session_id)
        new = self.registry.sessions[session_id]
        actions: list[Action] = [Send(conn_id, {"type": "peer-left", "peer_id": pid})
                                 for pid in old.peers]
        gone = {"type": "peer-left", "peer_id": peer_id}
        after = classroom.left(old, self.host_token, peer_id)
        actions += [Send(self._by_peer[pid], m) for m in (gone, *after) for pid in old.peers]
        host = classroom.moved_in(new.classroom, peer_id)
        log.info("move  %s %s -> %s", peer_id, old.session_id, session_id)
        actions.append(Send(conn_id, {"type": "moved", **self._arrival(new, peer, now)}))
        return actions + self._announce(peer, host)

    def _class_request(self, conn: _Conn, peer: Peer, req: ClassRequest) -> list[Action]:
        """A class tool (hand, make-host, mute, remove, spotlight, lock): classroom.py's rules."""
        session = self.registry.sessions[peer.session]
        out = classroom.request(session, peer.peer_id, req)
        if out.error is not None:
            return [self._error(conn, *out.error, request=req.type)]
        actions: list[Action] = [Send(self._by_peer[pid], m) for pid, m in out.direct]
        actions += [Send(self._by_peer[pid], m) for m in out.everyone for pid in session.peers]
        target = self._conns.get(self._by_peer.get(out.remove or "", -1))
        if target is not None:
            actions += self._leave(target)
        return actions

    def _media(self, peer: Peer, media: Media) -> list[Action]:
        """Keep the peer's media state; the others hear of changes only (no reply)."""
        if media == peer.media:
            return []
        peer.media = media
        update = {"type": "peer-media", "peer_id": peer.peer_id, **media.describe()}
        return self._others(peer, update)

    def _others(self, peer: Peer, message: dict[str, Any]) -> list[Action]:
        """``message`` to every other peer of ``peer``'s session."""
        session = self.registry.sessions[peer.session]
        return [Send(self._by_peer[pid], message) for pid in session.peers
                if pid != peer.peer_id]

    def _relay(
        self, conn: _Conn, sender: Peer, to: str, body: dict[str, Any], kind: str,
        raw: str | bytes | None = None,
    ) -> list[Action]:
        session = self.registry.sessions[sender.session]
        made_for = body.get("session")
        if made_for is not None and made_for != sender.session:
            # made before a breakout moved the sender: its peer ids now name other links
            log.debug("stale %s from %s for session %s dropped", kind, sender.peer_id,
                      made_for)
            return []
        if to not in session.peers or to == sender.peer_id:
            return [self._error(conn, ErrorCode.NO_SUCH_PEER,
                                f"no peer {to[:40]!r} in session {sender.session!r}: use a "
                                "peer_id from 'joined' or 'peer-joined'", request=kind)]
        text = None
        if isinstance(raw, str):
            # forward the frame as received with "from" spliced in: no JSON re-encoding
            # (parse() only passes raw when the object has no "from" of its own)
            head = raw.rstrip()
            text = f'{head[:-1]},"from":"{sender.peer_id}"}}'
        return [Send(self._by_peer[to], {**body, "from": sender.peer_id}, text)]
