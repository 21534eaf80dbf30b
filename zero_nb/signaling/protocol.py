"""Wire protocol v1: message types, parsing and validation. Pure: no I/O, no state.

Every frame is a JSON text object with a string ``type`` (see ``docs/protocol.md``).
:func:`parse` turns one raw frame into a typed message or raises :class:`ProtocolViolation`
carrying the error code and a message that tells the sender what to do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

__all__ = [
    "BREAKOUT_TYPES",
    "CLASS_TYPES",
    "CLIENT_TYPES",
    "GROUP_RE",
    "MAX_BREAKOUT_MINUTES",
    "MAX_BROADCAST_CHARS",
    "MAX_GROUPS",
    "MAX_NAME_CHARS",
    "MAX_REASON_CHARS",
    "MAX_SECRET_CHARS",
    "PEER_ID_RE",
    "PROTOCOL_VERSION",
    "RELAY_TYPES",
    "SESSION_ID_RE",
    "AppMessage",
    "ClassRequest",
    "ErrorCode",
    "Join",
    "Leave",
    "Media",
    "Ping",
    "ProtocolViolation",
    "Relay",
    "error",
    "parse",
]

PROTOCOL_VERSION = 1
SESSION_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
PEER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_CHARS = 64
MAX_SECRET_CHARS = 128
RELAY_TYPES = frozenset({"offer", "answer", "candidate"})
MAX_REASON_CHARS = 200
# a class's host tools (docs/protocol.md, "Running a class"): only hosts may send them,
# except a participant's own hand
# breakout rooms, host only (signaling/breakout.py): split into groups, broadcast to all of
# them, visit one, gather everyone back
BREAKOUT_TYPES = frozenset({"breakout", "broadcast", "visit", "gather"})
CLASS_TYPES = frozenset({"hand", "make-host", "mute", "remove", "spotlight", "lock",
                         *BREAKOUT_TYPES})
GROUP_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_GROUPS = 50
MAX_BROADCAST_CHARS = 500
MAX_BREAKOUT_MINUTES = 24 * 60
CLIENT_TYPES = frozenset({"join", "leave", "ping", "message", "media", *RELAY_TYPES,
                          *CLASS_TYPES})


class ErrorCode(str, Enum):
    """The ``code`` of an ``error`` message (the contract in docs/protocol.md, plus additions)."""

    BAD_MESSAGE = "bad-message"
    UNKNOWN_TYPE = "unknown-type"
    NOT_JOINED = "not-joined"
    ALREADY_JOINED = "already-joined"
    NO_SUCH_PEER = "no-such-peer"
    SESSION_FULL = "session-full"
    BAD_PASSWORD = "bad-password"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate-limited"
    TOO_LARGE = "too-large"
    # additions to v1 (clients must treat unknown codes as generic errors)
    SERVER_FULL = "server-full"
    NO_SUCH_SESSION = "no-such-session"
    FORBIDDEN = "forbidden"  # a host's tool used by a participant who is not a host
    SESSION_LOCKED = "session-locked"
    REMOVED = "removed"  # a resume of a peer_id that a host removed
    FORBIDDEN_ORIGIN = "forbidden-origin"  # a browser page from a site the server does not trust


class ProtocolViolation(Exception):
    """A client frame broke the protocol; ``code`` and ``message`` go back in an ``error``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Media:
    """``media``: what a participant sends now. ``audio``/``video`` False = muted / camera
    off (or no such device); ``e2ee`` True = its media is end-to-end encrypted (receivers
    without the key drop it rather than decode ciphertext); the server keeps it per peer
    and tells the others."""

    type: ClassVar[str] = "media"
    audio: bool
    video: bool
    e2ee: bool = False

    def describe(self) -> dict[str, bool]:
        # e2ee only when set: plain participants' rows stay {audio, video}, as before
        out = {"audio": self.audio, "video": self.video}
        if self.e2ee:
            out["e2ee"] = True
        return out


@dataclass(frozen=True)
class Join:
    session: str | None
    name: str
    password: str | None
    token: str | None
    resume: str | None = None  # the peer_id held before a reconnect, to keep it
    resume_secret: str | None = None  # the secret ``joined`` gave with that peer_id
    media: Media | None = None  # the joiner's media state, if it says so at once
    host_token: str | None = None  # joins as a host when it matches signaling.auth.host_token


@dataclass(frozen=True)
class Relay:
    """``offer``, ``answer`` or ``candidate``: forwarded to ``to`` with ``from`` added."""

    type: str
    to: str
    body: dict[str, Any]
    raw: str | None = None  # the frame as received, when it can be forwarded verbatim


@dataclass(frozen=True)
class AppMessage:
    type: ClassVar[str] = "message"
    to: str | None
    data: Any


@dataclass(frozen=True)
class ClassRequest:
    """A class tool: ``hand`` (raised, peer?), ``make-host`` (peer, keep), ``mute`` (peer),
    ``remove`` (peer, reason), ``spotlight`` (peer or None), ``lock`` (locked); breakout
    rooms: ``breakout`` (groups, minutes?), ``broadcast`` (text), ``visit`` (group or None),
    ``gather``."""

    type: str
    peer: str | None = None
    raised: bool = False
    keep: bool = True
    reason: str = ""
    locked: bool = True
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, peer_ids) in order
    minutes: float | None = None
    text: str = ""
    group: str | None = None


@dataclass(frozen=True)
class Leave:
    type: ClassVar[str] = "leave"


@dataclass(frozen=True)
class Ping:
    type: ClassVar[str] = "ping"


Message = Join | Relay | AppMessage | Media | ClassRequest | Leave | Ping


def error(code: ErrorCode, message: str, *, request: str | None = None) -> dict[str, Any]:
    """Build an ``error`` message; ``request`` names the type that caused it, when known."""
    out: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if request is not None:
        out["request"] = request
    return out


def _bad(message: str) -> ProtocolViolation:
    return ProtocolViolation(ErrorCode.BAD_MESSAGE, message)


def _optional_str(obj: dict[str, Any], key: str, kind: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(f"'{kind}.{key}' must be a string; got {type(value).__name__}")
    return value


def _required_str(obj: dict[str, Any], key: str, kind: str) -> str:
    value = _optional_str(obj, key, kind)
    if not value:
        raise _bad(f"'{kind}' needs a non-empty string '{key}'")
    return value


def _media(obj: dict[str, Any], where: str) -> Media:
    """The ``audio`` and ``video`` booleans of ``obj`` (a ``media`` message or ``join.media``),
    and its optional ``e2ee`` boolean (absent or null: false)."""
    audio, video, e2ee = obj.get("audio"), obj.get("video"), obj.get("e2ee")
    if not (isinstance(audio, bool) and isinstance(video, bool)):
        raise _bad(f"'{where}' needs booleans 'audio' and 'video' (false: muted / camera "
                   f"off); got {audio!r:.20}, {video!r:.20}")
    if e2ee is not None and not isinstance(e2ee, bool):
        raise _bad(f"'{where}.e2ee' must be a boolean (true: this participant encrypts its "
                   f"media end to end); got {e2ee!r:.20}")
    return Media(audio=audio, video=video, e2ee=bool(e2ee))


def _bool(obj: dict[str, Any], key: str, kind: str, default: bool | None = None) -> bool:
    value = obj.get(key)
    if value is None:  # null is absent, as for every optional field
        value = default
    if not isinstance(value, bool):
        raise _bad(f"'{kind}' needs a boolean '{key}' (true or false)")
    return value


def _groups(obj: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups = obj.get("groups")
    if not isinstance(groups, dict) or not 0 < len(groups) <= MAX_GROUPS:
        raise _bad(f"'breakout' needs 'groups': an object of 1-{MAX_GROUPS} group names, each "
                   "a list of peer_ids, e.g. {\"A\": [\"id1\", \"id2\"], \"B\": [\"id3\"]}")
    out: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for name, ids in groups.items():
        if not GROUP_RE.fullmatch(name):
            raise _bad(f"breakout group name {name[:40]!r} must be 1-32 of A-Z a-z 0-9 _ -")
        if not isinstance(ids, list) or not all(
                isinstance(i, str) and PEER_ID_RE.fullmatch(i) for i in ids):
            raise _bad(f"breakout group {name!r} must be a list of peer_ids")
        if seen & set(ids):
            raise _bad(f"peer {sorted(seen & set(ids))[0]!r} is in two breakout groups: "
                       "put each participant in one")
        seen |= set(ids)
        out.append((name, tuple(ids)))
    return tuple(out)


def _breakout_request(kind: str, obj: dict[str, Any]) -> ClassRequest:
    if kind == "breakout":
        minutes = obj.get("minutes")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(
                minutes, (int, float)) or not 0 < minutes <= MAX_BREAKOUT_MINUTES):
            raise _bad(f"'breakout.minutes' must be a number of minutes in (0, "
                       f"{MAX_BREAKOUT_MINUTES}], or absent for no time limit")
        return ClassRequest(kind, groups=_groups(obj),
                            minutes=None if minutes is None else float(minutes))
    if kind == "broadcast":
        text = _required_str(obj, "text", kind)
        if len(text) > MAX_BROADCAST_CHARS:
            raise _bad(f"'broadcast.text' is longer than {MAX_BROADCAST_CHARS} characters")
        return ClassRequest(kind, text=text)
    if kind == "visit":
        group = _optional_str(obj, "group", kind)
        if group is not None and not GROUP_RE.fullmatch(group):
            raise _bad("'visit.group' must be a group name, or null to go back to the class")
        return ClassRequest(kind, group=group)
    return ClassRequest(kind)  # gather


def _class_request(kind: str, obj: dict[str, Any]) -> ClassRequest:
    """Validate a class tool's fields (who may use it is the core's business)."""
    if kind in BREAKOUT_TYPES:
        return _breakout_request(kind, obj)
    if kind == "hand":
        peer = _optional_str(obj, "peer", kind)
        return ClassRequest(kind, peer=peer, raised=_bool(obj, "raised", kind))
    if kind == "lock":
        return ClassRequest(kind, locked=_bool(obj, "locked", kind, True))
    if kind == "spotlight":
        if "peer" not in obj:
            raise _bad("'spotlight' needs a 'peer' (a peer_id, or null to clear it)")
        return ClassRequest(kind, peer=_optional_str(obj, "peer", kind) or None)
    peer = _required_str(obj, "peer", kind)
    if kind == "remove":
        reason = _optional_str(obj, "reason", kind) or ""
        if len(reason) > MAX_REASON_CHARS:
            raise _bad(f"'remove.reason' is longer than {MAX_REASON_CHARS} characters")
        return ClassRequest(kind, peer=peer, reason=reason)
    if kind == "make-host":
        return ClassRequest(kind, peer=peer, keep=_bool(obj, "keep", kind, True))
    return ClassRequest(kind, peer=peer)  # mute


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise _bad("binary frames are not supported: send each message as a JSON text frame")
    try:
        # NaN/Infinity are Python extensions, not JSON: relayed, they break browsers' parsers
        obj = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and ints beyond Python's digit limit
        raise _bad(f"frame is not valid JSON ({str(exc)[:80]}): send one JSON object") from None
    if not isinstance(obj, dict):
        raise _bad(f"a message must be a JSON object with a 'type'; got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _bad("a message needs a string 'type', e.g. {\"type\": \"join\"}")
    return obj


def parse(raw: str | bytes) -> Message:
    """Parse and validate one client frame. Raises :class:`ProtocolViolation`."""
    obj = _decode(raw)
    kind = obj["type"]
    if kind == "join":
        session = _optional_str(obj, "session", kind)
        if session is not None and not SESSION_ID_RE.fullmatch(session):
            raise _bad("'join.session' must be 1-128 characters of A-Z a-z 0-9 . _ -")
        name = _optional_str(obj, "name", kind) or ""
        if len(name) > MAX_NAME_CHARS:
            raise _bad(f"'join.name' is longer than {MAX_NAME_CHARS} characters: shorten it")
        resume = _optional_str(obj, "resume", kind)
        if resume is not None and not PEER_ID_RE.fullmatch(resume):
            raise _bad("'join.resume' must be a previous peer_id (1-64 of A-Z a-z 0-9 _ -)")
        secret = _optional_str(obj, "resume_secret", kind)
        if secret is not None and len(secret) > MAX_SECRET_CHARS:
            raise _bad(f"'join.resume_secret' is longer than {MAX_SECRET_CHARS} characters: "
                       "send the resume_secret that 'joined' gave")
        media = obj.get("media")
        if media is not None and not isinstance(media, dict):
            raise _bad("'join.media' must be an object {\"audio\": bool, \"video\": bool}")
        return Join(
            session=session,
            name=name,
            password=_optional_str(obj, "password", kind) or None,
            token=_optional_str(obj, "token", kind),
            resume=resume,
            resume_secret=secret,
            media=None if media is None else _media(media, "join.media"),
            host_token=_optional_str(obj, "host_token", kind),
        )
    if kind in CLASS_TYPES:
        return _class_request(kind, obj)
    if kind in RELAY_TYPES:
        to = _required_str(obj, "to", kind)
        if kind == "candidate":
            if "candidate" not in obj:
                raise _bad("'candidate' needs a 'candidate' (an object, or null for end)")
            if obj["candidate"] is not None and not isinstance(obj["candidate"], dict):
                raise _bad("'candidate.candidate' must be an object or null")
        else:
            _required_str(obj, "sdp", kind)
        # optional: the session the sender made it for (a breakout move drops stale ones)
        _optional_str(obj, "session", kind)
        if "from" in obj:  # a forged 'from' must go: re-encode without it
            body = {k: v for k, v in obj.items() if k != "from"}
            return Relay(type=kind, to=to, body=body)
        return Relay(type=kind, to=to, body=obj, raw=raw if isinstance(raw, str) else None)
    if kind == "message":
        if "data" not in obj:
            raise _bad("'message' needs a 'data' field (any JSON value)")
        return AppMessage(to=_optional_str(obj, "to", kind), data=obj["data"])
    if kind == "media":
        return _media(obj, kind)
    if kind == "leave":
        return Leave()
    if kind == "ping":
        return Ping()
    raise ProtocolViolation(
        ErrorCode.UNKNOWN_TYPE,
        f"unknown message type {kind[:40]!r}: use one of {', '.join(sorted(CLIENT_TYPES))}",
    )
