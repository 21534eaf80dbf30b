"""Explicit ICE configuration: servers, transport policy, and an allow-list of host addresses.

aiortc adds Google's public STUN server when ``iceServers`` is None, so we always pass a list.
aioice gathers host candidates on every interface but never on loopback; the allow-list
(``webrtc.host_addresses``, like pion's IP filter) replaces that discovery for the peer
connections that ask for it, so loopback calls work and multi-NIC/VPN stalls are avoided.
Without an allow-list, a machine whose only interface is loopback (a laptop offline) offers
loopback, so same-machine sessions work with the default config; when ICE has nothing at all
to try, :func:`ice_problem` says why, naming the setting to change.
The allow-list is carried in a context variable around each gathering call, so peer
connections with different settings in one process do not interfere.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import aioice.ice
import ifaddr
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from ...errors import ConfigError

__all__ = ["host_addresses", "ice_problem", "local_addresses", "rtc_configuration"]

_allowed: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "zero_nb_host_addresses", default=None
)
_stock_get_host_addresses = aioice.ice.get_host_addresses
_LOOPBACK = ("127.0.0.1", "::1")


def local_addresses() -> set[str]:
    """Every address configured on this machine's interfaces, loopback included."""
    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.add(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return found


def _usable(addresses: Sequence[str], use_ipv4: bool, use_ipv6: bool) -> list[str]:
    present = local_addresses()
    out = []
    for addr in addresses:
        version = ipaddress.ip_address(addr).version
        if addr in present and ((version == 4 and use_ipv4) or (version == 6 and use_ipv6)):
            out.append(addr)
    return out


def _filtered_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    allowed = _allowed.get()
    if allowed is not None:
        return _usable(allowed, use_ipv4, use_ipv6)
    found = _stock_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    if found:
        return found
    # only loopback is up (offline laptop): without it there is nothing to offer at all,
    # and loopback is exactly what two participants on this machine need
    return _usable(_LOOPBACK, use_ipv4, use_ipv6)[:1]  # one is enough: IPv4 if present


# Installed once at import; without an allow-list in context it is exactly aioice's own.
aioice.ice.get_host_addresses = _filtered_get_host_addresses


@contextlib.contextmanager
def host_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Gather host candidates only on ``addresses`` inside this block (None = all)."""
    token = _allowed.set(tuple(addresses) if addresses is not None else None)
    try:
        yield
    finally:
        _allowed.reset(token)


def ice_problem(webrtc: Mapping[str, Any]) -> str | None:
    """Why ICE would have no candidate at all with config.yaml's ``webrtc`` section (no
    usable host address and no TURN server), or None when it has something to try."""
    if any("turn" in str(e if isinstance(e, str) else e.get("urls", ""))
           for e in webrtc.get("ice_servers") or []):
        return None  # relay candidates need no host address of ours
    addresses = webrtc.get("host_addresses")
    token = _allowed.set(tuple(addresses) if addresses is not None else None)
    try:
        if _filtered_get_host_addresses(use_ipv4=True, use_ipv6=True):
            return None
    finally:
        _allowed.reset(token)
    have = ", ".join(sorted(local_addresses())) or "none"
    if addresses is None:
        return (f"ICE has nothing to try: this machine has no usable network address "
                f"(addresses: {have}); set webrtc.host_addresses to one it has, e.g. "
                f"['127.0.0.1'] for participants on this machine")
    return (f"ICE has nothing to try: webrtc.host_addresses is {list(addresses)} but this "
            f"machine has {have}; list addresses it has (['127.0.0.1'] for participants on "
            f"this machine) or remove webrtc.host_addresses")


def _ice_server(entry: Any) -> RTCIceServer:
    if isinstance(entry, str):
        return RTCIceServer(urls=entry)
    return RTCIceServer(urls=entry["urls"], username=entry.get("username"),
                        credential=entry.get("credential"))


def rtc_configuration(webrtc: Mapping[str, Any]) -> RTCConfiguration:
    """The aiortc configuration for config.yaml's ``webrtc`` section (always a list)."""
    addresses = webrtc.get("host_addresses")
    if addresses is not None:
        for addr in addresses:
            try:
                ipaddress.ip_address(addr)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"webrtc.host_addresses has {addr!r}: list IP addresses such as 127.0.0.1"
                ) from None
    policy = RTCIceTransportPolicy(webrtc.get("ice_transport_policy", "all"))
    servers = [_ice_server(e) for e in webrtc.get("ice_servers") or []]
    if policy is RTCIceTransportPolicy.RELAY and not any(
        any(u.startswith("turn") for u in ([s.urls] if isinstance(s.urls, str) else s.urls))
        for s in servers
    ):
        raise ConfigError(
            "webrtc.ice_transport_policy is 'relay' but no TURN server is configured: "
            "add one to webrtc.ice_servers (turn:HOST:PORT with username and credential)"
        )
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)
