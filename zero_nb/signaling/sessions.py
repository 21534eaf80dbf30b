"""Session registry: who is in which session. Pure bookkeeping, no I/O.

Sessions are created by their first joiner (whose password, if any, protects them) and end
when their last peer leaves. The registry is driven from one event loop only, so it needs no
locks; the server exposes read-only snapshots to other threads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JoinRefused", "Peer", "Session", "SessionRegistry"]


@dataclass
class Peer:
    peer_id: str
    name: str
    session: str

    def describe(self) -> dict[str, str]:
        return {"peer_id": self.peer_id, "name": self.name}


@dataclass
class Session:
    session_id: str
    password_digest: bytes | None
    peers: dict[str, Peer] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # e.g. the SFU room it maps to
    persistent: bool = False  # created by the host: outlives its last peer


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
        self, *, max_peers_per_session: int, max_sessions: int, allow_create: bool = True
    ) -> None:
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

    def join(self, session_id: str | None, name: str, password: str | None,
             resume: str | None = None) -> Peer:
        """Add a peer, creating the session if needed. Raises :class:`JoinRefused`."""
        if session_id is None:
            session_id = str(uuid.uuid4())
        session = self.sessions.get(session_id)
        if session is None:
            if not self.allow_create:
                raise JoinRefused(
                    "NO_SUCH_SESSION",
                    f"session {session_id!r} does not exist and this server does not create "
                    "sessions on join: ask its host for a session name",
                )
            if len(self.sessions) >= self.max_sessions:
                raise JoinRefused(
                    "SERVER_FULL",
                    f"the server holds its maximum of {self.max_sessions} sessions: "
                    "join an existing session or try later",
                )
            session = Session(session_id, _digest(password) if password else None)
            self.sessions[session_id] = session
        elif session.password_digest is not None:
            given = _digest(password or "")
            if not hmac.compare_digest(given, session.password_digest):
                raise JoinRefused(
                    "BAD_PASSWORD",
                    f"session {session_id!r} is protected and the password is wrong or "
                    "missing: ask its host for the password",
                )
        if len(session.peers) >= self.max_peers_per_session:
            raise JoinRefused(
                "SESSION_FULL",
                f"session {session_id!r} is full ({self.max_peers_per_session} peers): "
                "try later or use another session",
            )
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

    def snapshot(self) -> dict[str, list[dict[str, str]]]:
        """Session id -> list of ``{peer_id, name}``, as plain data safe to hand out."""
        return {
            sid: [p.describe() for p in s.peers.values()] for sid, s in self.sessions.items()
        }
