"""Announce a user's own signaling servers to that user's other processes, and no one else.

A server writes ``zero_nb-signaling-PORT.json`` (its URL with the token, its pid) to the Jupyter
runtime directory, mode 0600, as Jupyter keeps kernel connection files: another process of the
same user finds the server there; another user cannot read the file, so never gets the token.
A file whose process is gone is stale: it is never trusted, and the next announcement
replaces or sweeps it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Announcement", "announce", "find", "runtime_dir", "withdraw"]

log = logging.getLogger("zero_nb.signaling")

_mine: set[Path] = set()  # this process's files, removed at exit if still there


def runtime_dir() -> Path:
    """Jupyter's runtime dir: ``JUPYTER_RUNTIME_DIR`` or ``~/.local/share/jupyter/runtime``."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def _path(port: int) -> Path:
    return runtime_dir() / f"zero_nb-signaling-{port}.json"


@dataclass(frozen=True)
class Announcement:
    """What a server announced for ``port``: its ``url`` (with the token) and owner ``pid``."""

    port: int
    url: str
    token: str | None
    pid: int
    alive: bool


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the pid was reused
        return False
    return True


def announce(port: int, url: str, token: str | None) -> Path:
    """Write (replace) the announcement for ``port``; readable by this user only."""
    from jupyter_core.paths import secure_write

    path = _path(port)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with secure_write(str(tmp)) as f:  # 0600 before a byte is written
        json.dump({"url": url, "token": token, "pid": os.getpid()}, f)
    os.replace(tmp, path)  # readers never see half a file
    _mine.add(path)
    _sweep(path.parent)
    return path


def withdraw(path: Path) -> None:
    """Remove ``path`` if this process wrote it (a newer server may own the name now)."""
    _mine.discard(path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text())["pid"] == os.getpid():
            path.unlink()


def find(port: int) -> Announcement | None:
    """The announcement for ``port``, if this user wrote one privately (``alive`` False:
    its process is gone, the file is stale and must not be trusted)."""
    path = _path(port)
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() \
                or info.st_mode & 0o077:
            # a file we did not write privately could point us at a stranger's server
            log.warning("ignoring %s: not a private file of this user (mode %o)", path,
                        info.st_mode & 0o777)
            return None
        data = json.loads(path.read_text())
        found = Announcement(port, str(data["url"]), data.get("token"), int(data["pid"]),
                             _alive(int(data["pid"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found


def _sweep(directory: Path) -> None:
    """Remove announcements whose process is gone (killed servers leave them behind)."""
    for path in directory.glob("zero_nb-signaling-*.json"):
        port = path.stem.rsplit("-", 1)[-1]
        found = find(int(port)) if port.isdigit() else None
        if found is not None and not found.alive:
            log.info("removing %s: its server (pid %d) is gone", path, found.pid)
            with contextlib.suppress(OSError):
                path.unlink()


@atexit.register
def _cleanup() -> None:
    for path in list(_mine):
        withdraw(path)
