"""config.yaml loading in one place: defaults, merging, validation with errors naming the key.

Sources, later ones winning: built-in defaults, the file named by ``ZERO_NB_CONFIG`` (or a path
given explicitly), then a ``dict`` passed as ``config=`` to :func:`zero_nb.serve` or
:func:`zero_nb.join`. The result is a plain nested dict of validated values.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["DEFAULTS", "ENV_VAR", "load_config"]

ENV_VAR = "ZERO_NB_CONFIG"

# Each leaf: (default, allowed types). None as a type means the value may be null.
_SCHEMA: dict[str, Any] = {
    "signaling": {
        "server_address": ("ws://127.0.0.1:8765/ws", (str,)),
        "host": ("127.0.0.1", (str,)),
        "port": (8765, (int,)),
        # a silent connection is pinged after at most `interval` s and dropped (peer-left
        # announced at once) when no pong comes within `timeout` s: reported within
        # interval + timeout (5 s) of its last sign of life
        "heartbeat": {
            "interval": (2.0, (int, float)),
            "timeout": (3.0, (int, float)),
        },
        "limits": {
            "max_message_bytes": (65536, (int,)),
            "rate": (50.0, (int, float)),
            "burst": (200, (int,)),
            "max_peers_per_session": (32, (int,)),
            "max_sessions": (1000, (int,)),
            "max_connections": (20000, (int,)),
            "send_queue": (1024, (int,)),
            "allow_create": (True, (bool,)),
        },
        # token: null = a random one per server (kept when it restarts on the same address),
        # "none" = no token at all (explicit opt-out: anyone who reaches the port may join).
        # resume_key: signs the resume secrets of `joined`; null = random per process (a
        # server restarted in the same process still honours them), set it to keep peer ids
        # across restarts of the server process
        # host_token: a join carrying it is a session host; null = each session's creator
        "auth": {"token": (None, (str, None)), "resume_key": (None, (str, None)),
                 "host_token": (None, (str, None))},
        # browser pages from these origins (besides the server's own) may connect; "*": any
        "allowed_origins": ([], (list,)),
        "tls": {"cert": (None, (str, None)), "key": (None, (str, None))},
    },
    "webrtc": {
        "ice_servers": ([], (list,)),
        "ice_transport_policy": ("all", (str,)),
        "host_addresses": (None, (list, None)),
        "low_latency": (True, (bool,)),
        "connect_timeout": (20.0, (int, float)),
    },
    "sfu": {
        "enabled": (False, (bool,)),
        "url": (None, (str, list, None)),  # a list: several Janus (sfu/bridge.py)
        "bitrate": (None, (int, None)),  # bits/s cap per publisher, >= 64000 (Janus room)
        "require_e2ee": (False, (bool,)),  # Janus refuses plain publishers (docs/e2ee.md)
    },
    "e2ee": {"passphrase": (None, (str, None))},  # never logged
    "media": {
        "video": {
            "resolution": ("VGA", (str,)),
            "fps": (30, (int, float)),
            "max_kbps": (None, (int, float, None)),  # cap for what a kernel sends
            "simulcast": (None, (bool, None)),  # SFU sessions: browsers and kernels; null: on
        },
        "audio": {"sample_rate": (48000, (int,))},
    },
    # the widgets' link to the page: auto (WebRTC, moving to the comm when ICE has not
    # connected within webrtc_timeout s or fails later), webrtc, or comm (media on the
    # widget's own comm: through an SSH tunnel, JupyterHub, wherever Jupyter works)
    "widgets": {
        "transport": ("auto", (str,)),
        "webrtc_timeout": (5.0, (int, float)),
    },
}


def _defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _defaults(spec) if isinstance(spec, dict) else copy.deepcopy(spec[0])
        for key, spec in schema.items()
    }


DEFAULTS: dict[str, Any] = _defaults(_SCHEMA)

_CHOICES = {
    "webrtc.ice_transport_policy": ("all", "relay"),
    "media.video.resolution": ("QVGA", "VGA", "HD", "FullHD"),
    "widgets.transport": ("auto", "webrtc", "comm"),
}


def _type_ok(value: Any, types: tuple[Any, ...]) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):  # bool is an int: accept it only where bool is meant
        return bool in types
    return isinstance(value, tuple(t for t in types if t is not None))


def _merge(base: dict[str, Any], over: Mapping[str, Any], schema: Mapping[str, Any],
           where: str) -> None:
    if not isinstance(over, Mapping):
        raise ConfigError(f"'{where or 'config'}' must be a mapping of keys to values")
    for key, value in over.items():
        path = f"{where}.{key}" if where else str(key)
        spec = schema.get(key)
        if spec is None:
            hint = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1)
            did = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(
                f"unknown config key '{path}'{did}; known keys here: {', '.join(schema)}"
            )
        if isinstance(spec, dict):
            _merge(base[key], value, spec, path)
            continue
        if not _type_ok(value, spec[1]):
            names = " or ".join("null" if t is None else t.__name__ for t in spec[1])
            raise ConfigError(
                f"config key '{path}' must be {names}; got {type(value).__name__} {value!r}"
            )
        if path in _CHOICES and value not in _CHOICES[path]:
            raise ConfigError(
                f"config key '{path}' must be one of {', '.join(_CHOICES[path])}; got {value!r}"
            )
        base[key] = copy.deepcopy(value)


def _check_ice_servers(servers: list[Any]) -> None:
    for i, server in enumerate(servers):
        if isinstance(server, str):
            server = {"urls": server}
        if not isinstance(server, Mapping) or "urls" not in server:
            raise ConfigError(
                f"config key 'webrtc.ice_servers[{i}]' must be a URL string or a mapping with "
                "'urls' (and 'username', 'credential' for TURN)"
            )
        urls = server["urls"]
        for url in [urls] if isinstance(urls, str) else urls:
            if not isinstance(url, str) or not url.startswith(("stun:", "turn:", "turns:")):
                raise ConfigError(
                    f"config key 'webrtc.ice_servers[{i}].urls' has {url!r}: use stun:HOST:PORT "
                    "or turn:HOST:PORT"
                )


def load_config(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Return validated settings: defaults, then ``$ZERO_NB_CONFIG``, then ``config``.

    ``config`` is a mapping with config.yaml's keys, or a path to a YAML file.
    Raises :class:`zero_nb.errors.ConfigError` naming the bad key.
    """
    result = copy.deepcopy(DEFAULTS)
    layers: list[tuple[str, Mapping[str, Any]]] = []
    env_path = os.environ.get(ENV_VAR)
    if env_path:
        layers.append((env_path, _read(env_path)))
    if isinstance(config, (str, os.PathLike)):
        layers.append((str(config), _read(config)))
    elif config is not None:
        layers.append(("config=", config))
    for origin, layer in layers:
        try:
            _merge(result, layer, _SCHEMA, "")
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    _check_ice_servers(result["webrtc"]["ice_servers"])
    _check_sfu_url(result["sfu"]["url"])
    if (bitrate := result["sfu"]["bitrate"]) is not None and bitrate < 64_000:
        raise ConfigError(f"config key 'sfu.bitrate' is {bitrate} bits/s: Janus ignores caps "
                          "under 64000; give at least 64000 (e.g. 300000 for 300 kbit/s)")
    if result["widgets"]["webrtc_timeout"] <= 0:
        raise ConfigError("config key 'widgets.webrtc_timeout' must be > 0 seconds (how long "
                          "`auto` waits for WebRTC before it moves to the comm), e.g. 5")
    return result


def _check_sfu_url(url: Any) -> None:
    urls = url if isinstance(url, list) else [] if url is None else [url]
    if isinstance(url, list) and not url:
        raise ConfigError("config key 'sfu.url' is an empty list: give one Janus WebSocket "
                          "URL or several (e.g. [ws://10.0.0.5:8188, ws://10.0.0.6:8188])")
    for i, item in enumerate(urls):
        where = f"sfu.url[{i}]" if isinstance(url, list) else "sfu.url"
        if not isinstance(item, str) or not item.startswith(("ws://", "wss://")):
            raise ConfigError(f"config key '{where}' has {item!r}: use a Janus WebSocket "
                              "URL, ws://HOST:8188 or wss://HOST:8989")
    if len(set(urls)) != len(urls):
        raise ConfigError("config key 'sfu.url' lists the same Janus twice: each URL once")


def _read(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data
