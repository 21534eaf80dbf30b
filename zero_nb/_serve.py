"""``zero_nb.serve``: the signaling server, wired with what the config asks for.

The signaling server knows nothing of Janus: when ``sfu.enabled`` is set, this entry point
builds the SFU bridge and passes its :class:`~zero_nb.signaling.core.SessionHooks` in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import load_config
from .errors import ConfigError
from .signaling.core import SessionHooks
from .signaling.server import NO_TOKEN, ServerHandle, SignalingServer
from .signaling.server import serve as serve_with_hooks

__all__ = ["create_server", "serve", "sfu_hooks"]


def sfu_hooks(config: Mapping[str, Any]) -> SessionHooks | None:
    """The Janus bridge's hooks when ``sfu.enabled`` (None otherwise)."""
    sfu = config["sfu"]
    if not sfu["enabled"]:
        return None
    if not sfu["url"]:
        raise ConfigError("sfu.enabled needs sfu.url, the Janus WebSocket address "
                          "(e.g. ws://127.0.0.1:8188)")
    from .sfu.bridge import JanusBridge

    limits = config["signaling"]["limits"]
    simulcast = config["media"]["video"]["simulcast"]
    return JanusBridge(sfu["url"], max_publishers=limits["max_peers_per_session"],
                       bitrate=sfu["bitrate"], simulcast=simulcast is not False,
                       require_e2ee=sfu["require_e2ee"]).hooks()  # E2EE hook


def _with_auth(config: Mapping[str, Any] | str | None, auth: bool | str | None
               ) -> dict[str, Any]:
    cfg = load_config(config)
    if auth is not None:  # the argument wins over signaling.auth.token
        token = (NO_TOKEN if auth is False else None if auth is True else auth)
        cfg["signaling"]["auth"]["token"] = token
    return cfg


def create_server(host: str | None = None, port: int | None = None, *,
                  config: Mapping[str, Any] | str | None = None,
                  auth: bool | str | None = None) -> SignalingServer:
    """A :class:`SignalingServer` (not started) with the SFU bridge the config asks for."""
    cfg = _with_auth(config, auth)
    return SignalingServer(host, port, config=cfg, hooks=sfu_hooks(cfg))


def serve(host: str | None = None, port: int | None = None, *,
          config: Mapping[str, Any] | str | None = None,
          auth: bool | str | None = None) -> ServerHandle:
    """Start a signaling server in a background thread and return at once.

    ``port=0`` picks a free port. Defaults come from config.yaml (``signaling.host``/
    ``signaling.port``: 127.0.0.1:8765). Every server has an access token: ``.url`` and
    ``.page_url`` carry it (``?token=...``). ``auth``: None uses ``signaling.auth.token``
    (null: a random token), a string sets the token, False opts out (anyone who reaches
    the port may join; a warning says so). With ``sfu.enabled``, sessions are backed by
    Janus VideoRoom rooms at ``sfu.url``.
    """
    cfg = _with_auth(config, auth)
    return serve_with_hooks(host, port, config=cfg, hooks=sfu_hooks(cfg))
