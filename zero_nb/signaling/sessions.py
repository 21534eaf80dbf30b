"""Session registry: who is in which session. Pure bookkeeping, no I/O.

Sessions are created by their first joiner (whose password, if any, protects them) and end
when their last peer leaves. The registry is driven from one event loop only, so it needs no
locks; the server exposes read-only snapshots to other threads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from .classroom import ClassState
from .protocol import Media

__all__ = ["PROCESS_RESUME_KEY", "JoinRefused", "Peer", "Session", "SessionRegistry"]

# Resume secrets are an HMAC of (session, peer_id) under this key: a server restarted in the
# same process recognises the secrets it gave, with no state to keep (signaling.auth.resume_key
# replaces it, so secrets also survive a restart of the server process)
PROCESS_RESUME_KEY = secrets.token_bytes(32)


@dataclass
class Peer:
    peer_id: str
    name: str
    session: str
    media: Media | None = None  # what it said it sends; None: it never said (old clients)

    def describe(self) -> dict[str, Any]:
        """``{peer_id, name}``, plus ``media: {audio, video}`` once the peer has said."""
        out: dict[str, Any] = {"peer_id": self.peer_id, "name": self.name}
        if self.media is not None:
            out["media"] = self.media.describe()
        return out


@dataclass
class Session:
    session_id: str
    password_digest: bytes | None
    peers: dict[str, Peer] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # e.g. the SFU room it maps to
    persistent: bool = False  # created by the host: outlives its last peer
    classroom: ClassState = field(default_factory=ClassState)  # hosts, hands, lock, ...


class JoinRefused(Exception):
    """A join was refused; ``reason`` is one of the error codes' names."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()


class SessionRegistry:
    """All sessions of one server, with the per-session and per-server limits."""

    def __init__(
        self, *, max_peers_per_session: int, max_sessions: int, allow_create: bool = True,
        resume_key: bytes | None = None,
    ) -> None:
        self._resume_key = resume_key or PROCESS_RESUME_KEY
        self.max_peers_per_session = max_peers_per_session
        self.max_sessions = max_sessions
        self.allow_create = allow_create
        self.sessions: dict[str, Session] = {}
        self._peer_ids: set[str] = set()

    def _new_peer_id(self, wanted: str | None = None) -> str:
        if wanted is not None and wanted not in self._peer_ids:
            # a client reconnecting after a server restart keeps its id, so the peers it
            # still has media connections with recognise it
            self._peer_ids.add(wanted)
            return wanted
        while True:
            peer_id = secrets.token_hex(4)
            if peer_id not in self._peer_ids:
                self._peer_ids.add(peer_id)
                return peer_id

    def resume_secret(self, session_id: str, peer_id: str) -> str:
        """The secret that proves a peer may resume ``peer_id`` in ``session_id``."""
        mac = hmac.new(self._resume_key, f"{session_id}\n{peer_id}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:18]).decode("ascii")

    def may_resume(self, session_id: str | None, peer_id: str | None,
                   secret: str | None) -> bool:
        """True if ``secret`` is the one :meth:`resume_secret` gave (constant-time check)."""
        if session_id is None or peer_id is None or not secret:
            return False
        expected = self.resume_secret(session_id, peer_id).encode("ascii")
        return hmac.compare_digest(expected, secret.encode("utf-8", "surrogatepass"))

    def join(self, session_id: str | None, name: str, password: str | None,
             resume: str | None = None, resume_secret: str | None = None) -> Peer:
        """Add a peer, creating the session if needed. Raises :class:`JoinRefused`.

        ``resume`` keeps a previous peer_id only with its ``resume_secret`` and only if no
        connected peer holds it; otherwise the peer gets a fresh id.
        """
        if not self.may_resume(session_id, resume, resume_secret):
            resume = None
        if session_id is None:
            session_id = str(uuid.uuid4())
        session = self.sessions.get(session_id)
        refusal: tuple[str, str] | None = None
        if session is None and not self.allow_create:
            refusal = ("NO_SUCH_SESSION", f"session {session_id!r} does not exist and this "
                       "server does not create sessions on join: ask its host for a session name")
        elif session is None and len(self.sessions) >= self.max_sessions:
            refusal = ("SERVER_FULL", f"the server holds its maximum of {self.max_sessions} "
                       "sessions: join an existing session or try later")
        elif session is not None and session.password_digest is not None and \
                not hmac.compare_digest(_digest(password or ""), session.password_digest):
            refusal = ("BAD_PASSWORD", f"session {session_id!r} is protected and the password "
                       "is wrong or missing: ask its host for the password")
        elif session is not None and len(session.peers) >= self.max_peers_per_session:
            refusal = ("SESSION_FULL", f"session {session_id!r} is full "
                       f"({self.max_peers_per_session} peers): try later or use another session")
        if refusal is not None:
            raise JoinRefused(*refusal)
        if session is None:
            session = Session(session_id, _digest(password) if password else None)
            self.sessions[session_id] = session
        peer_id = self._new_peer_id(resume)
        peer = Peer(peer_id, name or f"peer-{peer_id[:4]}", session_id)
        session.peers[peer_id] = peer
        return peer

    def create(self, session_id: str, password: str | None = None) -> Session:
        """Reserve a session ahead of time (it persists when empty): with
        ``allow_create: false`` this is how a host opens the sessions people may join."""
        if session_id in self.sessions:
            raise JoinRefused("ALREADY_JOINED", f"session {session_id!r} exists already")
        session = Session(session_id, _digest(password) if password else None, persistent=True)
        self.sessions[session_id] = session
        return session

    def open_group(self, session_id: str, root: Session, classroom: ClassState) -> Session:
        """A breakout group's session: the root's password, kept while it is empty."""
        session = Session(session_id, root.password_digest, persistent=True,
                          classroom=classroom)
        self.sessions[session_id] = session
        return session

    def move(self, peer: Peer, session_id: str) -> Session | None:
        """Move a connected peer (same id) to another existing session, past its limits
        (a breakout moves a class's own members); returns the session it left, or None if
        that ended with it."""
        old = self.sessions.get(peer.session)
        if old is not None:
            old.peers.pop(peer.peer_id, None)
        peer.session = session_id
        self.sessions[session_id].peers[peer.peer_id] = peer
        if old is not None and not old.peers and not old.persistent:
            del self.sessions[old.session_id]
            return None
        return old

    def leave(self, peer: Peer) -> Session | None:
        """Remove a peer; returns its session, or None if the session ended with it."""
        self._peer_ids.discard(peer.peer_id)
        session = self.sessions.get(peer.session)
        if session is None:
            return None
        session.peers.pop(peer.peer_id, None)
        if not session.peers and not session.persistent:
            del self.sessions[peer.session]
            return None
        return session

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Session id -> list of ``{peer_id, name, media?}``, as plain data safe to hand out."""
        return {
            sid: [p.describe() for p in s.peers.values()] for sid, s in self.sessions.items()
        }
