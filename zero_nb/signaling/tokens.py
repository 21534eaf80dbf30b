"""URLs that carry a server's access token: the WebSocket URL and the shareable page link.

The token travels as ``?token=...`` (as in Jupyter's own links), so a URL or a link is the one
thing to pass around; clients take the token out of the URL and send it in ``join``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError

__all__ = ["page_link", "split_token", "with_token"]


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``token`` set in its query (unchanged when ``token`` is None)."""
    if token is None:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def split_token(url: str) -> tuple[str, str | None]:
    """``(url without its token, token or None)`` of a ``ws://`` / ``wss://`` URL.

    A page link (``http://``) is refused with the WebSocket URL to use instead.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    token = next((v for k, v in query if k == "token"), None)
    if parts.scheme in ("http", "https"):
        path = parts.path.removesuffix("index.html")
        ws = urlunsplit(parts._replace(scheme="ws" if parts.scheme == "http" else "wss",
                                       path=path.rstrip("/") + "/ws", fragment=""))
        raise ConfigError(f"{url} is the web page's link; join() takes the server's WebSocket "
                          f"URL: {ws} (server.url gives it)")
    rest = urlencode([(k, v) for k, v in query if k != "token"])
    return urlunsplit(parts._replace(query=rest)), token


def page_link(ws_url: str, token: str | None, base: str | None = None, /, **query: str) -> str:
    """The page link for the server at ``ws_url``: ``http://HOST:PORT/?session=...&token=...``.

    ``base`` replaces the server's own address, e.g. a proxy's ``https://hub/user/me/proxy/8765/``.
    """
    if base is None:
        parts = urlsplit(ws_url)
        scheme = "https" if parts.scheme == "wss" else "http"
        base = urlunsplit((scheme, parts.netloc, parts.path.removesuffix("ws"), "", ""))
    parts = urlsplit(base)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in query and k != "token"]
    pairs += [(k, v) for k, v in query.items() if v is not None]
    return with_token(urlunsplit(parts._replace(query=urlencode(pairs))), token)
