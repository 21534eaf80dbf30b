"""Exceptions raised by zero_nb. Every message says what to do next.

::

    ZeroNBError
    ├── ConfigError               bad config.yaml key or value
    ├── SignalingError            talking to the signaling server
    │   ├── ServerUnreachable     no server at the address (after retries)
    │   ├── JoinRefused           the server said no; ``code`` is the protocol error code
    │   │   ├── BadPassword
    │   │   ├── Unauthorized      no or wrong access token
    │   │   ├── ForbiddenOrigin   a browser page from a site the server does not trust
    │   │   ├── SessionFull
    │   │   ├── NoSuchSession
    │   │   ├── InvalidJoin     the join request itself is malformed (e.g. a bad session name)
    │   │   ├── SessionLocked   a host locked the session
    │   │   └── Removed         a host removed this participant
    │   └── ServerError           the server answered a request with an ``error``
    │       └── Forbidden         a host's tool (mute, remove, ...) used by a non-host
    ├── MediaError                WebRTC / media engine failures
    │   └── SourceError           a media source cannot be opened or read
    ├── RoomClosed                the room has left its session
    ├── MissingExtra              (also ``ImportError``) an optional extra is not installed
    └── Timeout                   (also a builtin ``TimeoutError``) a sync call waited too long
"""

from __future__ import annotations

__all__ = [
    "BadPassword",
    "ConfigError",
    "Forbidden",
    "ForbiddenOrigin",
    "InvalidJoin",
    "JoinRefused",
    "MediaError",
    "MissingExtra",
    "NoSuchSession",
    "RecordingError",
    "Removed",
    "RoomClosed",
    "ServerError",
    "ServerUnreachable",
    "SessionFull",
    "SessionLocked",
    "SignalingError",
    "SourceError",
    "Timeout",
    "Unauthorized",
    "ZeroNBError",
    "join_refused",
]


class ZeroNBError(Exception):
    """Root of all zero_nb errors."""


class ConfigError(ZeroNBError, ValueError):
    """A configuration key or value is invalid."""


class SignalingError(ZeroNBError):
    """Talking to the signaling server failed."""


class ServerUnreachable(SignalingError, ConnectionError):
    """No signaling server answers at the address."""


class ServerError(SignalingError):
    """The server answered with an ``error`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message


class JoinRefused(ServerError):
    """The server refused to let us join."""


class BadPassword(JoinRefused):
    """The session is protected and the password is wrong or missing."""


class Unauthorized(JoinRefused):
    """The server needs an access token."""


class ForbiddenOrigin(JoinRefused):
    """A browser page from a site the server does not trust (``signaling.allowed_origins``)."""


class SessionFull(JoinRefused):
    """The session (or server) is at its limit."""


class NoSuchSession(JoinRefused):
    """The session does not exist and this server does not create sessions on join."""


class InvalidJoin(JoinRefused):
    """The join request was malformed, e.g. a session name with spaces."""


class SessionLocked(JoinRefused):
    """A host locked the session: no new joins until a host unlocks it."""


class Removed(JoinRefused):
    """A host removed this participant; its peer_id cannot come back."""


class Forbidden(ServerError):
    """Only a session's hosts may do that (mute, remove, spotlight, lock, ...)."""


class MediaError(ZeroNBError):
    """The WebRTC media engine failed."""


class RecordingError(ZeroNBError):
    """A recorded session cannot be read, or names no such participant."""


class SourceError(MediaError):
    """A media source cannot be opened or read."""


class RoomClosed(ZeroNBError):
    """The room has already left its session."""


class MissingExtra(ZeroNBError, ImportError):
    """An optional extra (e.g. ``zero_nb[analysis]``) is needed; the message names it."""


class Timeout(ZeroNBError, TimeoutError):
    """A blocking call waited longer than its timeout."""


_JOIN_ERRORS: dict[str, type[JoinRefused]] = {
    "bad-password": BadPassword,
    "unauthorized": Unauthorized,
    "session-full": SessionFull,
    "server-full": SessionFull,
    "no-such-session": NoSuchSession,
    "bad-message": InvalidJoin,
    "session-locked": SessionLocked,
    "removed": Removed,
    "forbidden-origin": ForbiddenOrigin,
}


def join_refused(code: str, message: str) -> JoinRefused:
    """The exception for a refused ``join`` with protocol error ``code``."""
    return _JOIN_ERRORS.get(code, JoinRefused)(code, message)
