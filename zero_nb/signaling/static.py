"""The plain-HTTP side of the signaling port: ``/healthz`` and the web client's static files.

The web client is a set of ES modules in ``js/`` (shipped in the wheel as ``zero_nb/_js``),
served as-is: no build step, no CDN, works offline.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["HttpReply", "asset_dir", "http_reply"]

_PLACEHOLDER = b"""<!doctype html><html><head><meta charset="utf-8"><title>zero_nb</title></head>
<body><h1>zero_nb signaling server</h1><p>WebSocket endpoint: <code>/ws</code>.
The web client is not installed in this build.</p></body></html>"""

_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
          ".html": "text/html", ".json": "application/json", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class HttpReply:
    status: int
    content_type: str
    body: bytes


@lru_cache(maxsize=1)
def asset_dir() -> Path | None:
    """Where the front-end files live: in the wheel, or ``js/`` of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_js", here.parent / "js"):
        if candidate.is_dir():
            return candidate
    return None


def http_reply(path: str) -> HttpReply | None:
    """Reply for a plain HTTP GET of ``path``, or None if it is the WebSocket endpoint."""
    path = path.split("?", 1)[0]
    if path == "/ws":
        return None
    if path == "/healthz":
        return HttpReply(200, "text/plain; charset=utf-8", b"ok\n")
    root = asset_dir()
    rel = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
    if root is not None and rel and ".." not in rel.split("/"):
        file = (root / rel).resolve()
        if file.is_file() and file.is_relative_to(root.resolve()):
            kind = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
            return HttpReply(200, kind or "application/octet-stream", file.read_bytes())
    if rel == "index.html":
        return HttpReply(200, "text/html; charset=utf-8", _PLACEHOLDER)
    return HttpReply(404, "text/plain; charset=utf-8", b"not found\n")
