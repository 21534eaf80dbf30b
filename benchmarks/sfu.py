"""Mesh vs SFU (Janus VideoRoom): N kernel bots, one process each, per-participant cost.

    python benchmarks/sfu.py                 # N = 4 and 8 (~4 min), writes benchmarks/RESULTS.md
    python benchmarks/sfu.py --sizes 4 8 16  # add 16 if you have the time and cores
    python benchmarks/sfu.py --quick         # N = 4 only, prints only

Every bot sends a 320x240 test pattern at 20 fps (VP8) and receives everybody else. In mesh
mode each bot encodes its video once per other participant and sends it N-1 times; in SFU
mode it encodes and sends once to Janus (twice with its half-size simulcast layer; mode
``sfu-1`` turns that off as the baseline), which forwards. Janus runs like in
tests/integration/test_sfu.py: in this script's private network namespace (the script
re-executes itself under ``unshare -n``) with ICE on a veth holding 127.0.0.1/32.

Per bot over the measurement window: CPU (utime+stime from /proc/PID/stat), uplink bitrate
(outbound RTP bytes of all its connections), and receive fps of every other participant's
video (frames delivered as numpy). A mode "holds" N when every receiver gets >= 15 fps from
every sender. Every pair below that is explained on one line (benchmarks/pair_diag.py: its
connection, ICE and DTLS state, RTP sent and received, frames released to the decoder and
delivered, gaps given up on, PLIs/NACKs, key frame requests, peer and signaling events);
``--pairs-out FILE`` appends every pair's figures as JSON lines, ``--log`` adds signaling drops
and mesh negotiation. Bots leave only once all have reported: one leaving early made a
slower bot count its video as 0 fps (the "b3<-b0 0 fps" of a mesh N=8 run, 2026-12-01).
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEDIA = {"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}
SIZE = (320, 240)
FPS = 20
MIN_FPS = 15.0
EXPLAINED = 8  # slow pairs explained per case, the slowest first
TICK = os.sysconf("SC_CLK_TCK")


def only_loopback() -> bool:
    return [n for _, n in socket.if_nameindex()] == ["lo"]


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# -- one bot (its own process) ------------------------------------------------------------------

async def _sent_bytes(room: Any) -> int:
    """Outbound RTP bytes of every connection (mesh: one per peer; SFU: the publisher)."""
    pcs = room.topology.sending() if room.topology is not None else []
    total = 0
    for pc in pcs:
        try:
            report = await pc.getStats()
        except Exception:
            continue
        total += sum(s.bytesSent for s in report.values() if s.type == "outbound-rtp")
    return total


async def _measure(room: Any) -> tuple[int, dict[str, Any]]:
    from benchmarks.pair_diag import snapshot

    return await _sent_bytes(room), await snapshot(room)


def measure(room: Any) -> tuple[int | None, dict[str, Any] | None]:
    """Uplink bytes and the per-pair snapshot (benchmarks/pair_diag.py), or Nones."""
    try:  # a saturated machine may take long: a missing figure, not a dead bot
        return room.engine.run(_measure(room), 30, "stats")
    except Exception as exc:
        print(f"{room.name}: no stats: {type(exc).__name__}: {exc}", flush=True)
        return None, None


def log_to_stderr(who: str) -> None:
    """--log: signaling (server: drops; bots: reconnects) and mesh negotiation, timestamped."""
    import logging

    logging.basicConfig(format=f"%(asctime)s {who} %(name)s: %(message)s", level=logging.WARNING)
    for name in ("zero_nb.signaling", "zero_nb.mesh"):
        logging.getLogger(name).setLevel(logging.DEBUG if who != "main" else logging.INFO)
    logging.getLogger("zero_nb.signaling.ws").setLevel(logging.WARNING)


def record_events(room: Any) -> list[tuple[Any, ...]]:
    """(monotonic time, event, peer name or state) of the room's peer and signaling events."""
    events: list[tuple[Any, ...]] = []
    for event in ("peer-joined", "peer-left", "connection", "state"):
        def note(*args: Any, event: str = event) -> None:
            events.append((time.monotonic(), event,
                           *[getattr(a, "name", a) for a in args]))
        room.on(event, note)
    return events


def bot(name: str, commands: Any, ready: Any, start: Any, stop: Any, done: Any,
        out: Any) -> None:
    """One participant process: joins one case after another (imports paid once)."""
    import zero_nb
    from benchmarks.pair_diag import install_counters
    from zero_nb import sources

    install_counters()
    if os.environ.get("ZERO_NB_BENCH_LOG"):
        log_to_stderr(name)
    while True:
        command = commands.get()
        if command is None:
            return
        url, session, n = command
        room = zero_nb.join(session, url, name=name, config=MEDIA,
                            video=sources.test_pattern(SIZE[0], SIZE[1], FPS))
        events = record_events(room)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                peers = list(room.peers.values())
                if len(peers) >= n - 1 and all(p.video.frame_count > 0 for p in peers):
                    break
                time.sleep(0.2)
            ready.put(name)
            start.wait()
            local = room.host.local_media("video")
            # the peer objects, not room.peers at the end: a peer gone meanwhile (it left,
            # or signaling dropped it) still counts what it delivered
            held = {p.name: p for p in room.peers.values()}
            sent0, snap0 = measure(room)
            frames0 = {k: p.video.frame_count for k, p in held.items()}
            local0, t0 = local.frame_count, time.monotonic()
            stop.wait()
            elapsed = time.monotonic() - t0
            local1 = local.frame_count
            frames1 = {k: p.video.frame_count for k, p in held.items()}
            names1 = sorted(p.name for p in room.peers.values())
            sent1, snap1 = measure(room)
            fps = {k: (frames1[k] - v) / elapsed for k, v in frames0.items()}
            out.put({"name": name, "fps": fps, "peers": len(frames0),
                     "send_fps": (local1 - local0) / elapsed, "snap0": snap0, "snap1": snap1,
                     "names1": names1,
                     "events": [(round(t - t0, 2), *rest) for t, *rest in events],
                     "uplink_kbps": None if sent0 is None or sent1 is None else
                     (sent1 - sent0) * 8 / elapsed / 1000})
            done.wait(120)
        finally:
            room.leave()


# -- cases ---------------------------------------------------------------------------------------

class Bots:
    """N participant processes (spawned once per N), driven case by case."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.n = n
        self.ready, self.out = ctx.Queue(), ctx.Queue()
        # done: every bot reported; before it, one that leaves early would make the slower
        # ones count its video as 0 fps (what made "b3<-b0 0 fps" in a mesh N=8 run)
        self.start, self.stop, self.done = ctx.Event(), ctx.Event(), ctx.Event()
        self.commands = [ctx.Queue() for _ in range(n)]
        self.procs = [ctx.Process(target=bot, args=(f"b{i}", q, self.ready, self.start,
                                                    self.stop, self.done, self.out),
                              daemon=True)
                      for i, q in enumerate(self.commands)]
        for p in self.procs:
            p.start()

    def close(self) -> None:
        self.start.set()
        self.stop.set()
        self.done.set()
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(15)
            if p.is_alive():
                p.terminate()


def run_case(bots: Bots, mode: str, janus: Any, window: float, tag: str,
             pairs_out: Path | None = None) -> dict[str, Any]:
    import zero_nb

    n = bots.n
    config: dict[str, Any] = {"signaling": {"heartbeat": {"interval": 2.0, "timeout": 6.0}}}
    if mode.startswith("sfu"):
        config["sfu"] = {"enabled": True, "url": janus.url}
    if mode == "sfu-1":  # the baseline of simulcast: one layer per kernel (sfu/simulcast.py)
        config["media"] = {"video": {"simulcast": False}}
    server = zero_nb.serve("127.0.0.1", 0, config=config)
    bots.start.clear()
    bots.stop.clear()
    bots.done.clear()
    t_join = time.monotonic()
    for q in bots.commands:
        q.put((server.url, f"{mode}{n}{tag}", n))
    try:
        for _ in range(n):
            bots.ready.get(timeout=90)
        setup_s = time.monotonic() - t_join
        time.sleep(2.0)  # let the last connections settle
        pids = [p.pid for p in bots.procs] + ([janus.pid] if mode.startswith("sfu") else [])
        load0 = os.getloadavg()[0]
        cpu0 = {pid: cpu_ticks(pid) for pid in pids}
        t0 = time.monotonic()
        bots.start.set()
        time.sleep(window)
        bots.stop.set()
        elapsed = time.monotonic() - t0
        cpu1 = {pid: cpu_ticks(pid) for pid in pids}
        results = [bots.out.get(timeout=60) for _ in range(n)]
        bots.done.set()
        time.sleep(1.0)  # the bots leave
    finally:
        server.stop()
    cpu = {pid: (cpu1[pid] - cpu0[pid]) / TICK / elapsed * 100 for pid in pids}
    bot_cpu = [cpu[p.pid] for p in bots.procs]
    fps_all = [f for r in results for f in r["fps"].values()]
    complete = all(r["peers"] == n - 1 for r in results)
    row = {
        "mode": mode, "n": n, "setup_s": setup_s, "load": (load0 + os.getloadavg()[0]) / 2,
        "cpu_mean": statistics.mean(bot_cpu), "cpu_max": max(bot_cpu),
        "janus_cpu": cpu[janus.pid] if mode.startswith("sfu") else None,
        "uplink_kbps": statistics.mean([r["uplink_kbps"] for r in results
                                        if r["uplink_kbps"] is not None] or [float("nan")]),
        "send_fps": statistics.mean(r["send_fps"] for r in results),
        "fps_min": min(fps_all) if fps_all else 0.0,
        "fps_median": statistics.median(fps_all) if fps_all else 0.0,
        "complete": complete,
    }
    row["holds"] = complete and row["fps_min"] >= MIN_FPS
    row["slow"] = sorted(f"{r['name']}<-{k}:{v:.1f}" for r in results
                         for k, v in r["fps"].items() if v < MIN_FPS)
    print(f"{mode:5} N={n:2}: setup {setup_s:4.1f} s, load {row['load']:4.1f}, CPU/bot "
          f"{row['cpu_mean']:5.1f}% (max {row['cpu_max']:5.1f}%), Janus "
          f"{row['janus_cpu'] or 0:4.1f}%, uplink/bot {row['uplink_kbps']:6.0f} kbps, send fps "
          f"{row['send_fps']:4.1f}, recv fps min {row['fps_min']:4.1f} median "
          f"{row['fps_median']:4.1f}, holds={row['holds']}", flush=True)
    if row["slow"] and len(row["slow"]) <= 6:
        print(f"     below {MIN_FPS:g} fps (receiver<-sender): {' '.join(row['slow'])}",
              flush=True)
    report_pairs(row, results, pairs_out)
    return row


def report_pairs(row: dict[str, Any], results: list[dict[str, Any]],
                 pairs_out: Path | None) -> None:
    """Explain every pair below MIN_FPS (benchmarks/pair_diag.py); all pairs to a JSONL."""
    from benchmarks.pair_diag import explain, pair_windows

    pairs = pair_windows(results)
    slow = [p for p in pairs if p["fps"] is None or p["fps"] < MIN_FPS]
    for pair in sorted(slow, key=lambda p: p["fps"] or 0.0)[:EXPLAINED]:
        print(f"     {explain(pair)}", flush=True)
    if len(slow) > EXPLAINED:
        print(f"     ... {len(slow) - EXPLAINED} more pairs below {MIN_FPS:g} fps", flush=True)
    if pairs_out is not None:
        with pairs_out.open("a") as f:
            for pair in pairs:
                f.write(json.dumps({"mode": row["mode"], "n": row["n"], "load": row["load"],
                                    **pair}) + "\n")


def best_rounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (mode, N) the round with the highest worst-receiver fps (least disturbed)."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["mode"], r["n"])
        if key not in best or r["fps_min"] > best[key]["fps_min"]:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r["n"], r["mode"] != "mesh"))


def write_results(rows: list[dict[str, Any]], window: float, rounds: int,
                  failed: list[int]) -> None:
    from benchmarks.pipeline import replace_section

    best = best_rounds(rows)

    def largest(mode: str) -> str:
        held = [r["n"] for r in best if r["mode"] == mode and r["holds"]]
        return str(max(held)) if held else "none of those tested"

    lines = [
        "## SFU",
        "",
        f"Mesh vs SFU (Janus 1.1 VideoRoom), `python benchmarks/sfu.py`, "
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores shared with other work "
        "(load average in the table). Every bot is its own process sending a "
        f"{SIZE[0]}x{SIZE[1]} test pattern at {FPS} fps (VP8) and receiving everyone; "
        f"{window:g} s window; modes alternate, {rounds} rounds each, the round with the best "
        "worst-receiver fps shown. CPU is utime+stime per bot process (100% = one core); "
        "uplink is outbound RTP bytes of all its connections; send fps is what its source "
        "produced; receive fps is frames delivered as numpy, per sender and receiver. "
        f"\"Holds\": every receiver gets >= {MIN_FPS:g} fps from every sender. Mode `sfu`: "
        "each kernel simulcasts 2 layers (full and half size, `zero_nb/sfu/simulcast.py`); "
        "`sfu-1`: one layer (`media.video.simulcast: false`), the same run's baseline.",
        "",
        "| mode | N | CPU per bot, mean / max | Janus CPU | uplink per bot | send fps | "
        "receive fps, min / median | holds | setup | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in best:
        janus = f"{r['janus_cpu']:.0f}%" if r["janus_cpu"] is not None else "-"
        lines.append(
            f"| {r['mode']} | {r['n']} | {r['cpu_mean']:.0f}% / {r['cpu_max']:.0f}% | {janus} | "
            f"{r['uplink_kbps']:.0f} kbps | {r['send_fps']:.1f} | {r['fps_min']:.1f} / "
            f"{r['fps_median']:.1f} | {'yes' if r['holds'] else 'no'} | {r['setup_s']:.1f} s | "
            f"{r['load']:.1f} |")
    lines += [
        "",
        f"Largest N tested where every receiver holds >= {MIN_FPS:g} fps: mesh "
        f"{largest('mesh')}, SFU {largest('sfu')} (one layer: {largest('sfu-1')})."
        + (f" N={', '.join(map(str, failed))} did not finish (bots not ready or not reporting "
           "within the time limits)." if failed else "") + " All bots share this machine's "
        f"{os.cpu_count()} cores (plus Janus in SFU mode, plus whatever else runs: see the load "
        "column), so total CPU, not the network, limits N here; in a real call each "
        "participant has its own machine and the per-bot figures are what matters: a mesh bot "
        "encodes and uploads N-1 copies of its video, an SFU bot one.",
        "",
    ]
    replace_section("## SFU", lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="N=4 only; no RESULTS.md")
    parser.add_argument("--modes", nargs="+", default=["mesh", "sfu", "sfu-1"],
                        help="sfu: kernels simulcast 2 layers; sfu-1: one layer (baseline)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating rounds per N (default 2; the best one is reported)")
    parser.add_argument("--pairs-out", type=Path, default=None,
                        help="append every (receiver, sender) window's figures to this JSONL")
    parser.add_argument("--log", action="store_true",
                        help="log signaling drops/reconnects and mesh negotiation to stderr")
    args = parser.parse_args()
    if args.log:
        os.environ["ZERO_NB_BENCH_LOG"] = "1"  # the bots inherit it
    if not only_loopback():
        ns = ["unshare", "-rn"] if os.geteuid() != 0 else ["unshare", "-n"]
        cmd = [*ns, "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable,
               *sys.argv]
        return subprocess.call(cmd)
    from tests.sfu_support import running_janus

    if args.log:
        log_to_stderr("main")

    sizes = args.sizes or ([4] if args.quick else [4, 8])
    rounds = args.rounds or (1 if args.quick else 2)
    rows: list[dict[str, Any]] = []
    failed: list[int] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, running_janus(Path(tmp)) as janus:
        for n in sizes:
            bots = Bots(n)
            try:
                for r in range(rounds):  # modes alternate: both see the same machine load
                    for mode in args.modes:
                        rows.append(run_case(bots, mode, janus, args.window, f"r{r}",
                                             args.pairs_out))
            except queue.Empty:  # bots never got ready or never reported: N too large here
                print(f"N={n}: a case did not finish; larger N skipped", flush=True)
                failed.append(n)
                break
            finally:
                bots.close()
    print(f"total {time.monotonic() - t0:.0f} s")
    if not args.quick:
        write_results(rows, args.window, rounds, failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
