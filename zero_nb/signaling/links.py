"""The call page's shareable link, directly or through the Jupyter server that runs us.

On JupyterHub, Binder or a server behind ``ssh -L``, the kernel's ports are reachable only
through the Jupyter server; ``jupyter-server-proxy`` forwards ``<jupyter>/proxy/PORT/`` (HTTP
and WebSocket) to ``127.0.0.1:PORT`` for people the Jupyter server lets in. The page uses
relative URLs and derives its WebSocket from its own location, so it works under that prefix.
Where the Jupyter server is, as its users open it:
- JupyterHub: ``JUPYTERHUB_PUBLIC_URL`` if the hub sets it, else ``JUPYTERHUB_HOST`` +
  ``JUPYTERHUB_SERVICE_PREFIX``, else the prefix alone (a path to open on the hub's address);
- a plain Jupyter server: the running server whose pid is the kernel's parent
  (``JPY_PARENT_PID``, set by jupyter_client), from its ``jpserver-*.json``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .tokens import page_link

__all__ = ["MEDIA_NOTE", "guests_line", "jupyter_base_url", "page_url", "proxy_url",
           "proxy_url_of"]

MEDIA_NOTE = ("guests' media still needs a path to this kernel: a TURN server both reach "
              "over TCP/TLS in webrtc.ice_servers, or a Janus they can reach "
              "(docs/deployment.md)")


def page_url(base: str, *, session: str | None = None, token: str | None = None) -> str:
    """The call page at ``base`` (http(s), ending in ``/``) with the session and the
    server's access token in the query, as the page reads them."""
    return page_link("", token or None, base, session=session or None)  # type: ignore[arg-type]


def _own_jupyter_server(env: Mapping[str, str]) -> str | None:
    parent = env.get("JPY_PARENT_PID")
    if not parent or importlib.util.find_spec("jupyter_server") is None:
        return None
    from jupyter_server.serverapp import list_running_servers

    for info in list_running_servers():
        if str(info.get("pid")) == parent and info.get("url"):
            return str(info["url"])
    return None


def jupyter_base_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL (ending in ``/``) of the Jupyter server this process runs under, or None.
    On a hub that does not say its public address, a path starting with ``/``."""
    env = os.environ if env is None else env
    if prefix := env.get("JUPYTERHUB_SERVICE_PREFIX"):
        url = env.get("JUPYTERHUB_PUBLIC_URL") or env.get("JUPYTERHUB_HOST", "") + prefix
    else:
        url = _own_jupyter_server(env) or ""
    if not url:
        return None
    return url if url.endswith("/") else url + "/"


def proxy_url(port: int, *, session: str | None = None, token: str | None = None,
              jupyter: str | None = None) -> str | None:
    """The page of the server on 127.0.0.1:``port`` through jupyter-server-proxy
    (``jupyter``: the Jupyter server's URL; default :func:`jupyter_base_url`), or None when
    there is no Jupyter server or jupyter-server-proxy is not installed."""
    base = jupyter or jupyter_base_url()
    if base is None or importlib.util.find_spec("jupyter_server_proxy") is None:
        return None
    base = base if base.endswith("/") else base + "/"
    return page_url(f"{base}proxy/{port}/", session=session, token=token)


def guests_line(link: str | None) -> str | None:
    """What to tell the teacher about guests who reach only the Jupyter server: the link
    (and that media needs its own path), how to get one, or None outside Jupyter."""
    if link is not None:
        return f"guests who reach only this Jupyter server: {link}\n  ({MEDIA_NOTE})"
    if jupyter_base_url() is not None and importlib.util.find_spec(
            "jupyter_server_proxy") is None:
        return ("guests who reach only this Jupyter server need jupyter-server-proxy: "
                "pip install jupyter-server-proxy, then restart the Jupyter server")
    return None


def proxy_url_of(server: str, *, session: str | None = None,
                 token: str | None = None) -> str | None:
    """:func:`proxy_url` for the signaling server at WebSocket URL ``server``, when it is on
    this machine's 127.0.0.1 (where the proxy forwards); else None."""
    parts = urlsplit(server)
    if parts.scheme != "ws" or parts.hostname not in ("127.0.0.1", "localhost") \
            or parts.port is None:
        return None
    return proxy_url(parts.port, session=session, token=token)
