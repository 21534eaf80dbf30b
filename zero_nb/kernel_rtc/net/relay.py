"""Which TURN URL aiortc gets: the first one of the user's list that answers from this machine.

aiortc keeps only the first TURN URL of the whole ``iceServers`` list (one relay per
connection) and silently drops the rest. A list written for every network -- ``turn:`` over
UDP first, then ``?transport=tcp``, then ``turns:`` on 443 -- would leave a kernel behind a
firewall that allows no UDP with no relay at all. So before the first peer connection a room
asks every TURN URL for an allocation at once (a few seconds at most) and hands aiortc the
earliest in the list that granted one; when none does, the room says why, naming what to
configure. The probe uses aioice's public ``create_turn_endpoint``, the same code path the
real relay candidate takes (TLS included: ``turns:`` verifies the certificate with the
system's CAs, or ``SSL_CERT_FILE`` for a private one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aioice.stun
import aioice.turn
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

__all__ = ["PROBE_TIMEOUT", "RelayChoice", "choose_relay", "no_path_hint", "turn_urls"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 4.0  # s: a relay slower than this to allocate would not carry a call anyway

FIREWALL_HINT = (
    "if this machine (or theirs) allows no UDP, add a TURN server reachable over TCP or TLS "
    "to webrtc.ice_servers, e.g. {urls: ['turn:HOST:3478?transport=tcp', "
    "'turns:HOST:443'], username: ..., credential: ...} (docs/deployment.md)"
)


@dataclass(frozen=True)
class RelayChoice:
    """The configuration to use, the TURN URL it relays through, and why none, if so."""

    configuration: RTCConfiguration
    url: str | None = None
    problem: str | None = None


def _urls(server: RTCIceServer) -> list[str]:
    return [server.urls] if isinstance(server.urls, str) else list(server.urls)


def turn_urls(servers: Sequence[RTCIceServer]) -> list[tuple[str, RTCIceServer]]:
    """Every ``turn:``/``turns:`` URL in list order, each with the server entry it came from."""
    return [(url, server) for server in servers for url in _urls(server)
            if url.startswith(("turn:", "turns:"))]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"its TLS certificate is not trusted here ({exc.verify_message}); a private "
                f"CA's certificate can be named in SSL_CERT_FILE")
    if isinstance(exc, aioice.stun.TransactionFailed):
        return f"it refused the allocation ({exc}): check username and credential"
    if isinstance(exc, (aioice.stun.TransactionTimeout, asyncio.TimeoutError)):
        return "no answer (UDP blocked on the way, or the server down?)"
    if isinstance(exc, PermissionError):
        return "this machine may not send there (a firewall)"
    return str(exc) or type(exc).__name__


async def _allocate(url: str, server: RTCIceServer) -> None:
    """One TURN allocation through ``url``, released at once; raises why it failed."""
    parsed = parse_stun_turn_uri(url)
    transport, _ = await aioice.turn.create_turn_endpoint(
        asyncio.DatagramProtocol, server_addr=(parsed["host"], parsed["port"]),
        username=server.username, password=server.credential,
        ssl=parsed["scheme"] == "turns", transport=parsed["transport"])
    transport.close()


async def choose_relay(configuration: RTCConfiguration,
                       timeout: float = PROBE_TIMEOUT) -> RelayChoice:
    """``configuration`` with the first answering TURN URL first (alone in its entry)."""
    candidates = turn_urls(configuration.iceServers or [])
    if not candidates:
        return RelayChoice(configuration)
    tasks = [asyncio.ensure_future(asyncio.wait_for(_allocate(u, s), timeout))
             for u, s in candidates]
    try:
        chosen = None
        for (url, server), task in zip(candidates, tasks, strict=True):
            # in list order: a later URL wins only once every earlier one has failed
            with contextlib.suppress(Exception):
                await task
                chosen = (url, server)
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if chosen is None:
        failures = "; ".join(
            f"{url}: {_reason(t.exception() or asyncio.TimeoutError())}"
            for (url, _), t in zip(candidates, tasks, strict=True) if not t.cancelled())
        problem = (f"no TURN server in webrtc.ice_servers answers from this machine "
                   f"({failures}); peers this machine cannot reach directly will not "
                   f"connect: {FIREWALL_HINT}")
        log.warning("%s", problem)
        return RelayChoice(configuration, problem=problem)
    url, server = chosen
    if url != candidates[0][0]:
        log.info("relaying through %s: %s did not answer from here (aiortc uses one TURN "
                 "URL)", url, ", ".join(u for u, _ in candidates[:candidates.index(chosen)]))
    first = RTCIceServer(urls=url, username=server.username, credential=server.credential,
                         credentialType=server.credentialType)
    rest = [s for s in configuration.iceServers or [] if s is not server] + [
        RTCIceServer(urls=[u for u in _urls(server) if u != url], username=server.username,
                     credential=server.credential, credentialType=server.credentialType)]
    rest = [s for s in rest if _urls(s)]
    return RelayChoice(RTCConfiguration(iceServers=[first, *rest],
                                        iceTransportPolicy=configuration.iceTransportPolicy),
                       url=url)


def no_path_hint(webrtc: Mapping[str, Any], choice: RelayChoice | None) -> str:
    """What to configure when ICE to a peer failed, given what the relay probe found."""
    if choice is not None and choice.problem:
        return choice.problem
    if choice is not None and choice.url:
        return (f"this kernel relays through {choice.url}: can the other side reach it, "
                f"over TCP/TLS if it allows no UDP?")
    if webrtc.get("ice_servers"):
        return FIREWALL_HINT
    return f"no STUN/TURN server is configured (webrtc.ice_servers is empty); {FIREWALL_HINT}"
