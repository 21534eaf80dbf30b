#!/usr/bin/env python3
"""Signaling server benchmarks: connections held, join latency, relay throughput.

    python benchmarks/signaling.py            # full run (a few minutes), writes RESULTS.md
    python benchmarks/signaling.py --quick    # smoke run (< 60 s), prints only

(a) how many joined connections one server process holds, and its memory per connection;
(b) join -> peer-joined latency with many clients in many sessions;
(c) relay throughput of offer-sized (~3 KB SDP) messages between pairs, against a minimal
    relay written with the same websockets library, measured in the same run.

Each server runs as a subprocess (``python -m zero_nb serve --port 0 --config FILE``) on
127.0.0.1; the clients run in this process. The raw relay runs as a subprocess of this script
(``--raw-relay``). Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Signaling"
BANNER = re.compile(r"signaling server on (ws://127\.0\.0\.1:(\d+)/ws(?:\?token=\S+)?)")
RAW_BANNER = re.compile(r"raw relay on (ws://127\.0\.0\.1:(\d+))")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes ---------------------------------------------------------------------------------
def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def proc_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class ServerProc:
    """A server subprocess whose stdout banner names its URL; stderr goes to a log file."""

    def __init__(self, cmd: list[str], banner: re.Pattern[str], log: Path) -> None:
        self.cmd, self.banner, self.log_path = cmd, banner, log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    async def __aenter__(self) -> ServerProc:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get(
            "PYTHONPATH", "")}
        env.pop("ZERO_NB_CONFIG", None)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, cwd=ROOT, env=env)
        line = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = await asyncio.to_thread(self.proc.stdout.readline)  # type: ignore[union-attr]
            if not line:
                break
            if m := self.banner.search(line):
                self.url = m.group(1)
                return self
        self.stop()
        raise RuntimeError(f"server did not start ({line!r}); see {self.log_path}")

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def signaling_server(tmp: Path, name: str, limits: dict[str, Any],
                     heartbeat: dict[str, float] | None = None) -> ServerProc:
    config: dict[str, Any] = {"signaling": {"limits": limits}}
    if heartbeat:
        config["signaling"]["heartbeat"] = heartbeat
    path = tmp / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    cmd = [sys.executable, "-m", "zero_nb", "serve", "--port", "0", "--config", str(path)]
    return ServerProc(cmd, BANNER, tmp / f"{name}.log")


def raw_relay_server(tmp: Path) -> ServerProc:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--raw-relay"]
    return ServerProc(cmd, RAW_BANNER, tmp / "raw-relay.log")


async def run_raw_relay() -> None:
    """Minimal relay on the same library: connections to /pair/N are paired, frames forwarded."""
    waiting: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        key = ws.request.path
        mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        other = waiting.pop(key, None)
        if other is None:
            waiting[key] = (ws, mine)
            partner = await mine
        else:
            partner, theirs = other
            theirs.set_result(ws)
        with contextlib.suppress(websockets.ConnectionClosed):
            async for msg in ws:
                await partner.send(msg)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=4 * 65536) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"raw relay on ws://127.0.0.1:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


# -- helpers -----------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def bounded(n: int, limit: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run make(0..n-1) with at most ``limit`` in flight; exceptions are returned, not raised."""
    sem = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with sem:
            return await make(i)

    return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)


async def open_ws(url: str, i: int = 0, **kw: Any) -> ClientConnection:
    # one source address per 20,000 connections, in case ephemeral ports run short
    src = f"127.0.0.{1 + i // 20000}"
    return await connect(url, ping_interval=None, open_timeout=60, local_addr=(src, 0), **kw)


async def recv_json(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def abort_all(conns: list[ClientConnection]) -> None:
    for ws in conns:
        if ws.transport is not None:
            ws.transport.abort()


def fake_sdp(size: int = 3000) -> str:
    """An offer-like SDP of about ``size`` characters (random ids, as real ones have)."""
    rnd = random.Random(7)

    def hexs(n: int) -> str:
        return "".join(rnd.choice("0123456789ABCDEF") for _ in range(n))

    lines = ["v=0", f"o=- {rnd.getrandbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS"]
    for mid, kind in enumerate(("audio", "video")):
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF 111 96 97 98 99 100 101",
                  "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
                  f"a=ice-ufrag:{hexs(4)}", f"a=ice-pwd:{hexs(24)}", "a=ice-options:trickle",
                  "a=fingerprint:sha-256 " + ":".join(hexs(2) for _ in range(32)),
                  "a=setup:actpass", f"a=mid:{mid}", "a=sendrecv", "a=rtcp-mux"]
        for pt, codec in ((111, "opus/48000/2"), (96, "VP8/90000"), (97, "rtx/90000"),
                          (98, "VP9/90000"), (99, "rtx/90000"), (100, "H264/90000")):
            lines += [f"a=rtpmap:{pt} {codec}", f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli",
                      f"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1"]
        lines.append(f"a=ssrc:{rnd.getrandbits(31)} cname:{hexs(16)}")
    sdp = "\r\n".join(lines) + "\r\n"
    while len(sdp) < size:
        sdp += f"a=candidate:{rnd.getrandbits(31)} 1 udp 2122260223 127.0.0.1 " \
               f"{rnd.randint(1024, 65535)} typ host generation 0\r\n"
    return sdp[:size]


# -- (a) connections held ----------------------------------------------------------------------
@dataclass
class HoldResult:
    target: int
    held: int
    failures: dict[str, int]
    rss_before_kib: int
    rss_after_kib: int
    open_s: float
    ping_p50_ms: float
    ping_p99_ms: float

    @property
    def kib_per_conn(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.held)


async def bench_hold(tmp: Path, target: int, per_session: int = 10,
                     compression: str | None = "deflate") -> HoldResult:
    limits = {"max_connections": target + 1000, "max_sessions": target,
              "max_peers_per_session": per_session}
    async with signaling_server(tmp, "hold", limits,
                                {"interval": 3600.0, "timeout": 600.0}) as server:
        await asyncio.sleep(1.0)
        rss0 = server.rss_kib()

        async def join_one(i: int) -> ClientConnection:
            ws = await open_ws(server.url, i, compression=compression)
            await ws.send(json.dumps({"type": "join", "session": f"hold{i // per_session}",
                                      "name": f"h{i}"}))
            reply = await recv_json(ws, 60)
            if reply["type"] != "joined":
                await ws.close()
                raise RuntimeError(reply.get("code", reply["type"]))
            return ws

        start = time.perf_counter()
        results = await bounded(target, 200, join_one)
        open_s = time.perf_counter() - start
        conns = [r for r in results if isinstance(r, ClientConnection)]
        failures: dict[str, int] = {}
        for r in results:
            if isinstance(r, BaseException):
                key = f"{type(r).__name__}: {str(r)[:60]}"
                failures[key] = failures.get(key, 0) + 1
        await asyncio.sleep(2.0)
        rss1 = server.rss_kib()
        # still serving while holding them all: ping a sample (skipping queued peer-joined)
        rtts = []
        for ws in random.Random(1).sample(conns, min(200, len(conns))):
            t0 = time.perf_counter()
            await ws.send('{"type":"ping"}')
            while (await recv_json(ws))["type"] != "pong":
                pass
            rtts.append((time.perf_counter() - t0) * 1000)
        abort_all(conns)
    return HoldResult(target, len(conns), failures, rss0, rss1, open_s,
                      pct(rtts, 50), pct(rtts, 99))


# -- (b) join -> peer-joined latency -----------------------------------------------------------
@dataclass
class JoinResult:
    clients: int
    sessions: int
    join_rate: float
    peer_joined_ms: list[float] = field(default_factory=list)
    joined_ms: list[float] = field(default_factory=list)
    missing: int = 0


async def bench_join_latency(tmp: Path, clients: int, sessions: int,
                             join_rate: float = 500.0) -> JoinResult:
    per = clients // sessions
    out = JoinResult(clients, sessions, join_rate)
    async with signaling_server(tmp, "join", {"max_peers_per_session": max(32, per)}) as server:
        conns = await bounded(clients, 100, lambda i: open_ws(server.url, i))
        bad = [c for c in conns if isinstance(c, BaseException)]
        if bad:
            raise RuntimeError(f"{len(bad)} connections failed: {bad[0]!r}")
        sent_at: dict[str, float] = {}
        expected = sum(range(per)) * sessions  # k-th joiner of a session is announced to k-1
        done = asyncio.Event()

        async def reader(i: int, ws: ClientConnection) -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    now = time.perf_counter()
                    m = json.loads(raw)
                    if m["type"] == "peer-joined":
                        out.peer_joined_ms.append((now - sent_at[m["name"]]) * 1000)
                        if len(out.peer_joined_ms) >= expected:
                            done.set()
                    elif m["type"] == "joined":
                        out.joined_ms.append((now - sent_at[f"c{i}"]) * 1000)

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
        # round-major order: each session's k-th join arrives after all sessions' (k-1)-th,
        # at a steady rate, so joins interleave across sessions as in real use
        order = [s * per + k for k in range(per) for s in range(sessions)]
        t0 = time.perf_counter()
        for n, i in enumerate(order):
            delay = t0 + n / join_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            name = f"c{i}"
            sent_at[name] = time.perf_counter()
            await conns[i].send(json.dumps({"type": "join", "session": f"lat{i // per}",
                                            "name": name}))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), 30)
        out.missing = expected - len(out.peer_joined_ms)
        for task in readers:
            task.cancel()
        abort_all(conns)
    return out


# -- (c) relay throughput ----------------------------------------------------------------------
@dataclass
class RelayResult:
    label: str
    msgs_per_s: float
    mb_per_s: float
    server_cpu: float  # fraction of one core
    client_cpu: float

    @property
    def server_us_per_msg(self) -> float:
        return self.server_cpu / self.msgs_per_s * 1e6 if self.msgs_per_s else float("nan")


def median_result(label: str, runs: list[RelayResult]) -> RelayResult:
    """Median of each figure over trials (trials alternate servers, so load hits both)."""
    med = statistics.median
    return RelayResult(label, med(r.msgs_per_s for r in runs), med(r.mb_per_s for r in runs),
                       med(r.server_cpu for r in runs), med(r.client_cpu for r in runs))


async def relay_run(label: str, server: ServerProc, pairs: int, seconds: float,
                    signaling: bool, compression: str | None, window: int = 128,
                    ack_every: int = 16) -> RelayResult:
    """Senders stream offer frames to their peers (at most ``window`` unacknowledged)."""
    sdp = fake_sdp()
    links = []
    for p in range(pairs):
        if signaling:
            a = await open_ws(server.url, compression=compression)
            b = await open_ws(server.url, compression=compression)
            for ws in (a, b):
                await ws.send(json.dumps({"type": "join", "session": f"relay{p}"}))
            ida, idb = (await recv_json(a))["peer_id"], (await recv_json(b))["peer_id"]
            assert (await recv_json(a))["type"] == "peer-joined"
        else:
            a = await open_ws(f"{server.url}/pair/{p}", compression=compression)
            b = await open_ws(f"{server.url}/pair/{p}", compression=compression)
            ida, idb = "a", "b"
        frame = json.dumps({"type": "offer", "to": idb, "sdp": sdp}).encode()
        links.append((a, b, ida, frame))

    received = [0] * pairs
    nbytes = [0] * pairs
    stop = asyncio.Event()

    async def sender(p: int) -> None:
        a, _, _, frame = links[p]
        acked, sent = 0, 0
        credit = asyncio.Event()
        credit.set()

        async def acks() -> None:
            nonlocal acked
            while True:
                m = json.loads(await a.recv())
                acked = m["data"]
                credit.set()

        task = asyncio.create_task(acks())
        try:
            while not stop.is_set():
                if sent - acked >= window:
                    credit.clear()
                    await credit.wait()
                    continue
                await a.send(frame, text=True)
                sent += 1
        finally:
            task.cancel()

    async def receiver(p: int) -> None:
        _, b, ida, _ = links[p]
        while not stop.is_set():
            raw = await b.recv(decode=False)
            received[p] += 1
            nbytes[p] += len(raw)
            if received[p] % ack_every == 0:
                await b.send(json.dumps({"type": "message", "to": ida, "data": received[p]}))

    tasks = [asyncio.create_task(f(p)) for p in range(pairs) for f in (sender, receiver)]
    await asyncio.sleep(1.0)  # warm-up
    n0, b0, t0 = sum(received), sum(nbytes), time.perf_counter()
    s0, c0 = server.cpu_s(), proc_cpu_s(os.getpid())
    await asyncio.sleep(seconds)
    n1, b1, t1 = sum(received), sum(nbytes), time.perf_counter()
    s1, c1 = server.cpu_s(), proc_cpu_s(os.getpid())
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception():
            raise RuntimeError(f"{label}: relay failed") from task.exception()
    abort_all([ws for a, b, _, _ in links for ws in (a, b)])
    dt = t1 - t0
    return RelayResult(label, (n1 - n0) / dt, (b1 - b0) / dt / 1e6, (s1 - s0) / dt,
                       (c1 - c0) / dt)


async def bench_relay(tmp: Path, pairs: int, seconds: float, trials: int,
                      modes: list[str | None]) -> list[tuple[RelayResult, RelayResult]]:
    # the per-connection rate limit (50 msg/s by default) is raised for this measurement
    limits = {"rate": 1e9, "burst": 1_000_000_000}
    out = []
    async with signaling_server(tmp, "relay", limits) as sig, raw_relay_server(tmp) as raw:
        for compression in modes:
            tag = "deflate" if compression else "no compression"
            ours, base = [], []
            for _ in range(trials):  # alternate, so a burst of outside load hits both
                ours.append(await relay_run("", sig, pairs, seconds, True, compression))
                base.append(await relay_run("", raw, pairs, seconds, False, compression))
            out.append((median_result(f"zero_nb ({tag})", ours),
                        median_result(f"raw websockets ({tag})", base)))
    return out


# -- report ------------------------------------------------------------------------------------
def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    return (f"{os.cpu_count()} cores ({model or platform.processor()}){mem}, "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"websockets {websockets.__version__}")


def report(args: argparse.Namespace, hold: HoldResult, hold_plain: HoldResult,
           join: JoinResult, relay: list[tuple[RelayResult, RelayResult]], elapsed: float,
           load: str) -> str:
    cmd = "python benchmarks/signaling.py" + (" --quick" if args.quick else "")
    fails = "; ".join(f"{v} x {k}" for k, v in hold.failures.items()) or "none"
    per = join.clients // join.sessions
    lines = [
        SECTION,
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {machine()}.",
        f"Command: `{cmd}` ({elapsed:.0f} s). Each server runs in its own process "
        "(`python -m zero_nb serve --config ...`); clients run in the benchmark process; all on "
        f"127.0.0.1. Load average before/after: {load} (other work shared the 2 cores, so "
        "absolute figures are pessimistic; CPU per message is the steadiest figure).",
        "",
        "### Connections held by one server process",
        "",
        f"- Joined and held: **{hold.held:,} / {hold.target:,}** connections "
        f"({hold.target // 10:,} sessions of 10), opened in {hold.open_s:.1f} s "
        f"({hold.held / hold.open_s:,.0f} joins/s, 200 handshakes in flight); failures: {fails}."
        " Config: `max_connections`/`max_sessions` raised, heartbeat interval 1 h.",
        f"- Server RSS {hold.rss_before_kib / 1024:.1f} MiB idle → "
        f"{hold.rss_after_kib / 1024:.1f} MiB holding them: "
        f"**{hold.kib_per_conn:.1f} KiB per connection** with permessage-deflate negotiated "
        f"(as browsers do); {hold_plain.kib_per_conn:.1f} KiB per connection for "
        f"{hold_plain.held:,} clients that do not offer compression.",
        f"- While holding them: ping round trip on 200 random connections p50 "
        f"{hold.ping_p50_ms:.2f} ms, p99 {hold.ping_p99_ms:.2f} ms.",
        "",
        "### Join → peer-joined latency",
        "",
        f"- {join.clients:,} clients in {join.sessions} sessions of {per}, joins arriving at "
        f"{join.join_rate:.0f}/s interleaved across sessions; time from sending `join` to each "
        "peer already there receiving `peer-joined` "
        f"({len(join.peer_joined_ms):,} samples, {join.missing} missing): "
        f"**p50 {pct(join.peer_joined_ms, 50):.2f} ms, p99 {pct(join.peer_joined_ms, 99):.2f} "
        f"ms**, max {max(join.peer_joined_ms, default=float('nan')):.2f} ms.",
        f"- join → `joined` to the joiner: p50 {pct(join.joined_ms, 50):.2f} ms, "
        f"p99 {pct(join.joined_ms, 99):.2f} ms.",
        "",
        "### Relay throughput (offer messages with a 3,000-character SDP)",
        "",
        f"{args.pairs} sender→receiver pairs at once, each with ≤ 128 unacknowledged messages "
        "(receivers ack every 16th through the same server); median of "
        f"{args.trials} trial(s) of {args.seconds:g} s (after 1 s warm-up), alternating "
        "servers. **The zero_nb server's rate limit was raised for this measurement** "
        "(`signaling.limits.rate: 1e9`, `burst: 1e9`; the default 50 msg/s per connection "
        "caps each sender). Baseline: a minimal relay on the same websockets library in its "
        "own process (pairs connections, forwards frames verbatim, no JSON).",
        "",
        "| server | messages/s | MB/s | server CPU | server CPU µs/msg | client CPU "
        "| ratio (msg/s) | ratio (CPU/msg) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ours, base in relay:
        for r in (ours, base):
            ratios = (f"**{ours.msgs_per_s / base.msgs_per_s:.2f}** | "
                      f"**{base.server_us_per_msg / ours.server_us_per_msg:.2f}**"
                      if r is ours else " | ")
            lines.append(f"| {r.label} | {r.msgs_per_s:,.0f} | {r.mb_per_s:.1f} | "
                         f"{r.server_cpu:.0%} | {r.server_us_per_msg:.0f} | "
                         f"{r.client_cpu:.0%} | {ratios} |")
    lines += [
        "",
        "CPU is per process as a fraction of one core. ratio (msg/s) = zero_nb throughput / "
        "baseline throughput; ratio (CPU/msg) = baseline server CPU per message / zero_nb's, "
        "i.e. the throughput ratio to expect when both servers are CPU-bound.",
        "",
    ]
    return "\n".join(lines)


def write_results(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


async def main(args: argparse.Namespace) -> None:
    fds = raise_fd_limit()
    q = args.quick
    hold_target = args.connections or (1000 if q else 10_000)
    if hold_target + 200 > fds:
        raise SystemExit(f"RLIMIT_NOFILE is {fds}: too low for {hold_target} connections")
    start = time.perf_counter()
    load0 = loadavg()
    with tempfile.TemporaryDirectory(prefix="zero_nb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"(a) holding {hold_target:,} joined connections...", flush=True)
        hold = await bench_hold(tmp, hold_target)
        print(f"    held {hold.held:,}; RSS {hold.rss_before_kib / 1024:.1f} -> "
              f"{hold.rss_after_kib / 1024:.1f} MiB = {hold.kib_per_conn:.1f} KiB/connection; "
              f"failures {hold.failures or 'none'}", flush=True)
        plain_target = hold_target // 5
        hold_plain = await bench_hold(tmp, plain_target, compression=None)
        print(f"    without permessage-deflate: {hold_plain.kib_per_conn:.1f} KiB/connection "
              f"({hold_plain.held:,} held)", flush=True)
        clients, sessions = (200, 20) if q else (1000, 100)
        print(f"(b) join latency, {clients} clients in {sessions} sessions...", flush=True)
        join = await bench_join_latency(tmp, clients, sessions)
        print(f"    peer-joined p50 {pct(join.peer_joined_ms, 50):.2f} ms, "
              f"p99 {pct(join.peer_joined_ms, 99):.2f} ms ({len(join.peer_joined_ms)} samples,"
              f" {join.missing} missing)", flush=True)
        print(f"(c) relay throughput, {args.pairs} pairs, {args.trials} x {args.seconds:g} s "
              "per server and mode...", flush=True)
        relay = await bench_relay(tmp, args.pairs, args.seconds, args.trials, [None, "deflate"])
        for ours, base in relay:
            for r in (ours, base):
                print(f"    {r.label:32} {r.msgs_per_s:9,.0f} msg/s {r.mb_per_s:7.1f} MB/s  "
                      f"server CPU {r.server_cpu:4.0%} ({r.server_us_per_msg:.0f} us/msg)  "
                      f"client CPU {r.client_cpu:4.0%}", flush=True)
            print(f"    ratio {ours.msgs_per_s / base.msgs_per_s:.2f} (msg/s), "
                  f"{base.server_us_per_msg / ours.server_us_per_msg:.2f} (CPU/msg)", flush=True)
    load = f"{load0} / {loadavg()}"
    section = report(args, hold, hold_plain, join, relay, time.perf_counter() - start, load)
    print()
    print(section)
    if args.write if args.write is not None else not q:
        write_results(section)
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, < 60 s, no RESULTS.md")
    parser.add_argument("--connections", type=int, default=0, help="(a) target (10,000)")
    parser.add_argument("--pairs", type=int, default=None, help="(c) pairs (8; quick 4)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="(c) seconds per trial (3; quick 1.5)")
    parser.add_argument("--trials", type=int, default=None, help="(c) trials (3; quick 1)")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="write RESULTS.md (default: yes for a full run, no for --quick)")
    parser.add_argument("--raw-relay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_relay:
        asyncio.run(run_raw_relay())
        sys.exit(0)
    if args.pairs is None:
        args.pairs = 4 if args.quick else 8
    if args.seconds is None:
        args.seconds = 1.5 if args.quick else 3.0
    if args.trials is None:
        args.trials = 1 if args.quick else 3
    asyncio.run(main(args))
