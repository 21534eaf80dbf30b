"""Media pipeline benchmark: bare aiortc vs zero_nb, two processes per case, one run.

    python benchmarks/pipeline.py            # full run (~6 min), writes benchmarks/RESULTS.md
    python benchmarks/pipeline.py --quick    # smoke run (~1.5 min), prints only
    python benchmarks/pipeline.py --loss     # only the 5% loss A/B (writes its section)

Each case runs a sender process and a receiver process on loopback inside a private network
namespace (the script re-executes itself under ``unshare -n`` when needed). Latency is
send -> numpy in the receiver, read from the time stamp the test pattern carries in its
pixels. The receiver's CPU is its process CPU time over the window.

Cases: bare aiortc receiver (``recv()`` then ``to_ndarray`` on every frame) vs a zero_nb bot
reading its feed, with the low-latency receive path off (stock jitter buffer) and on,
A/B alternated; the same at 5 fps consumption (CPU); 5% injected loss (stock vs low latency,
A/B alternated); audio step latency; slow-consumer memory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEDIA = {"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}


def only_loopback() -> bool:
    return [n for _, n in socket.if_nameindex()] == ["lo"]


def netns_command(argv: list[str]) -> list[str]:
    """``argv`` re-run in a private network namespace with only ``lo`` (up)."""
    ns = ["unshare", "-rn"] if os.geteuid() != 0 else ["unshare", "-n"]
    return [*ns, "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *argv]


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- senders --------------------------------------------------------------------------------

def zn_sender(url: str, size: tuple[int, int], seconds: float, audio_steps: bool) -> None:
    import zero_nb
    from zero_nb import sources

    video = None if audio_steps else sources.test_pattern(size[0], size[1], 30)
    audio = None
    if audio_steps:
        import numpy as np

        amp = sources.level_to_amplitude(-10)
        t = np.arange(960) / 48000

        def make(i: int) -> np.ndarray:
            # on during even half-seconds of wall time: onsets at known instants
            on = int(time.time() * 2) % 2 == 0
            return (amp * np.sin(2 * np.pi * 440 * t) * on).astype(np.float32)

        audio = sources.AudioSource(make, label="steps")
    room = zero_nb.join("bench", url, name="sender", video=video, audio=audio, config=MEDIA)
    time.sleep(seconds)
    room.leave()


async def _bare_offer(conn, track):
    """Send ``track`` to the peer at the other end of ``conn``; return the pc."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from zero_nb.kernel_rtc.net.ice import host_addresses

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track)
    with host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    conn.send(pc.localDescription.sdp)
    answer = await asyncio.to_thread(conn.recv)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


def bare_sender(conn, size: tuple[int, int], seconds: float) -> None:
    from zero_nb import sources

    async def main() -> None:
        pc = await _bare_offer(conn, sources.test_pattern(size[0], size[1], 30).track())
        await asyncio.sleep(seconds)
        await pc.close()

    asyncio.run(main())


# -- receivers ------------------------------------------------------------------------------

def _latency_ms(img) -> float | None:
    from zero_nb.sources import read_stamp

    stamp = read_stamp(img)
    if stamp is None:
        return None
    ms = ((time.time() * 1000) - stamp[1]) % 2**32
    return ms if ms < 60_000 else None  # a stamp damaged by the codec reads as nonsense


async def _bare_answer(conn):
    """Answer the bare sender's offer from ``conn``; return the pc and its first track."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from zero_nb.kernel_rtc.net.ice import host_addresses

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    got: dict[str, object] = {}
    pc.on("track", lambda track: got.setdefault("track", track))
    offer = await asyncio.to_thread(conn.recv)
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    with host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createAnswer())
    conn.send(pc.localDescription.sdp)
    while "track" not in got:
        await asyncio.sleep(0.01)
    return pc, got["track"]


def _frame_latencies(feed, t0: float, window: float) -> tuple[list[float], object]:
    """Latency of every new frame of ``feed`` until ``window`` s after ``t0``; and the last."""
    lat: list[float] = []
    img = None
    for img in feed.frames(timeout=5):
        ms = _latency_ms(img)
        if ms is not None:
            lat.append(ms)
        if time.monotonic() - t0 >= window:
            break
    return lat, img


def bare_receiver(conn, out, warmup: float, window: float, read_fps: float) -> None:
    async def main() -> None:
        pc, track = await _bare_answer(conn)
        start = time.monotonic()
        lat: list[float] = []
        frames = 0
        t0 = c0 = None
        while time.monotonic() - start < warmup + window:
            frame = await track.recv()
            img = frame.to_ndarray(format="rgb24")  # eager, on every frame
            if time.monotonic() - start < warmup:
                continue
            if t0 is None:
                t0, c0 = time.monotonic(), cpu_s()
            frames += 1
            ms = _latency_ms(img)
            if ms is not None:
                lat.append(ms)
        elapsed = time.monotonic() - t0
        out.put({"fps": frames / elapsed, "lat": lat, "cpu": (cpu_s() - c0) / elapsed * 100})
        await pc.close()

    asyncio.run(main())


def zn_receiver(url: str, out, warmup: float, window: float, read_fps: float,
                low_latency: bool, loss: float, audio_steps: bool) -> None:
    import contextlib

    import zero_nb
    from tests.netem import emulate

    cfg = {"webrtc": {**MEDIA["webrtc"], "low_latency": low_latency}}
    net = emulate(loss=loss, seed=1) if loss else contextlib.nullcontext()
    with net:
        room = zero_nb.join("bench", url, name="receiver", config=cfg)
        peer = room.wait_for_peers(1, timeout=30)[0]
        time.sleep(warmup)
        if audio_steps:
            t0 = time.time()
            time.sleep(window)
            times, levels = peer.audio.level_history()
            delays = []
            prev = -120.0
            for t, lv in zip(times, levels, strict=True):
                if t >= t0 and prev < -40 <= lv:
                    onset = int(t * 2) / 2  # the half-second boundary the tone started at
                    delays.append((t - onset) * 1000)
                prev = lv
            out.put({"audio": delays})
            room.leave()
            return
        feed = peer.video
        start_frames = feed.frame_count
        t0, c0 = time.monotonic(), cpu_s()
        lat: list[float] = []
        if read_fps:
            while time.monotonic() - t0 < window:
                img = feed.latest()
                ms = _latency_ms(img) if img is not None else None
                if ms is not None:
                    lat.append(ms)
                time.sleep(1 / read_fps)
        else:
            lat, _ = _frame_latencies(feed, t0, window)
        elapsed = time.monotonic() - t0
        skipped = room.stats()[peer.peer_id]["in"]["video"].get("frames_skipped", 0)
        out.put({"fps": (feed.frame_count - start_frames) / elapsed, "lat": lat,
                 "cpu": (cpu_s() - c0) / elapsed * 100, "dropped": feed.dropped,
                 "skipped": skipped})
        room.leave()


def zn_slow_reader(url: str, out, seconds: float) -> None:
    import zero_nb

    room = zero_nb.join("bench", url, name="slow", config=MEDIA)
    peer = room.wait_for_peers(1, timeout=30)[0]
    time.sleep(3)
    samples = []
    t0 = time.monotonic()
    lat = []
    while time.monotonic() - t0 < seconds:
        img = peer.video.latest()
        ms = _latency_ms(img)
        if ms is not None:
            lat.append(ms)
        samples.append(rss_mb())
        time.sleep(0.1)  # a 10 fps consumer of a 30 fps stream
    out.put({"rss_start": samples[0], "rss_end": samples[-1], "rss_max": max(samples),
             "lat": lat})
    room.leave()


def bare_slow_reader(conn, out, seconds: float) -> None:
    async def main() -> None:
        pc, track = await _bare_answer(conn)
        await asyncio.sleep(3)
        samples, lat = [], []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            frame = await track.recv()  # plain recv at 10 fps: aiortc's queue grows
            ms = _latency_ms(frame.to_ndarray(format="rgb24"))
            if ms is not None:
                lat.append(ms)
            samples.append(rss_mb())
            await asyncio.sleep(0.1)
        out.put({"rss_start": samples[0], "rss_end": samples[-1], "rss_max": max(samples),
                 "lat": lat})
        await pc.close()

    asyncio.run(main())


# -- filter round trip: sender -> middle (recv -> fn -> send) -> receiver ----------------------

def mark(img):
    """The filter under test: invert the picture below the stamp rows (the stamp survives)."""
    out = img.copy()
    out[24:] = 255 - out[24:]
    return out


def zn_middle(url: str, seconds: float) -> None:
    import zero_nb
    from zero_nb.kernel_rtc.media.sources import FeedSource

    room = zero_nb.join("bench", url, name="middle", config=MEDIA)
    src = None
    deadline = time.monotonic() + 30
    while src is None and time.monotonic() < deadline:
        for peer in room.peers.values():
            if peer.name == "sender" and peer.video.frame_count:
                src = peer.video
        time.sleep(0.05)

    async def wire() -> None:
        room.local.video.set_source(FeedSource(src))
        room.local.video.add_filter(mark)

    room.engine.run(wire(), 10, "wiring the middle")
    time.sleep(seconds)
    room.leave()


def zn_filter_receiver(url: str, out, warmup: float, window: float) -> None:
    import zero_nb

    room = zero_nb.join("bench", url, name="receiver", config=MEDIA, video=None)
    deadline = time.monotonic() + 30
    peer = None
    while peer is None and time.monotonic() < deadline:
        peer = next((p for p in room.peers.values() if p.name == "middle"
                     and p.video.frame_count), None)
        time.sleep(0.05)
    time.sleep(warmup)
    feed = peer.video
    start, t0 = feed.frame_count, time.monotonic()
    lat, img = _frame_latencies(feed, t0, window)
    elapsed = time.monotonic() - t0
    out.put({"fps": (feed.frame_count - start) / elapsed, "lat": lat,
             "inverted": bool(img[60:].mean() > 127) if img is not None else None})
    room.leave()


def bare_middle(conn_in, conn_out, seconds: float) -> None:
    from aiortc import MediaStreamTrack
    from av import VideoFrame

    class Transform(MediaStreamTrack):  # aiortc's server example: recv -> fn -> send
        kind = "video"

        def __init__(self, track) -> None:
            super().__init__()
            self.track = track

        async def recv(self):
            frame = await self.track.recv()
            img = mark(frame.to_ndarray(format="rgb24"))
            new = VideoFrame.from_ndarray(img, format="rgb24")
            new.pts, new.time_base = frame.pts, frame.time_base
            return new

    async def main() -> None:
        pc_in, track = await _bare_answer(conn_in)
        pc_out = await _bare_offer(conn_out, Transform(track))
        await asyncio.sleep(seconds)
        await pc_in.close()
        await pc_out.close()

    asyncio.run(main())


def run_filter_case(kind: str, warmup=3.0, window=8.0) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    total = warmup + window + 15
    server = None
    if kind == "bare":
        a1, b1 = ctx.Pipe()
        a2, b2 = ctx.Pipe()
        procs = [ctx.Process(target=bare_sender, args=(a1, (640, 480), total)),
                 ctx.Process(target=bare_middle, args=(b1, a2, total)),
                 ctx.Process(target=bare_receiver, args=(b2, out, warmup, window, 0.0))]
    else:
        import zero_nb

        server = zero_nb.serve("127.0.0.1", 0)
        procs = [ctx.Process(target=zn_sender, args=(server.url, (640, 480), total, False)),
                 ctx.Process(target=zn_middle, args=(server.url, total)),
                 ctx.Process(target=zn_filter_receiver, args=(server.url, out, warmup, window))]
    for p in procs:
        p.start()
    try:
        return out.get(timeout=total + 40)
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        if server is not None:
            server.stop()


def filter_main(rounds: int) -> None:
    acc: dict[str, list[dict]] = {"bare": [], "zn": []}
    for r in range(rounds):
        for kind in (("bare", "zn") if r % 2 == 0 else ("zn", "bare")):
            res = run_filter_case(kind)
            s = summarize(res)
            acc[kind].append(s)
            print(f"filter round trip {kind:<5} fps {s['fps']:>5}  p50 {s['p50']:>6} ms  "
                  f"p95 {s['p95']:>6} ms (n={s['n']})", flush=True)
    med = {k: {m: round(statistics.median(x[m] for x in v), 1) for m in ("fps", "p50", "p95")}
           for k, v in acc.items()}
    b, z = med["bare"], med["zn"]
    lines = [
        "## Filter round trip",
        "",
        f"`python benchmarks/pipeline.py --filter` on {datetime.date.today()}: 640x480 VP8 "
        "30 fps, three processes (sender -> middle applies an invert filter -> receiver), "
        f"{rounds} rounds alternated, medians. Latency is sender stamp -> numpy at the "
        "receiver (two hops, two encodes).",
        "",
        "| middle | fps | p50 ms | p95 ms |",
        "|---|---|---|---|",
        f"| bare aiortc transform track (recv -> fn -> send, inline) | {b['fps']} | {b['p50']} "
        f"| {b['p95']} |",
        f"| zero_nb `add_filter` on a `FeedSource` (worker thread, newest wins) | {z['fps']} | "
        f"{z['p50']} | {z['p95']} |",
        "",
        f"Ratio fps {z['fps'] / b['fps']:.2f}x; p50 {z['p50'] - b['p50']:+.1f} ms "
        f"({(z['p50'] - b['p50']) / (1000 / 30):+.2f} frame intervals).",
        "",
    ]
    replace_section("## Filter round trip", lines)


def replace_section(title: str, lines: list[str]) -> None:
    """Write ``lines`` as RESULTS.md's section ``title``: in place if it exists, else last."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    block = "\n".join(lines).rstrip() + "\n"
    start = text.find(title)
    if start >= 0:
        end = text.find("\n## ", start + 5)
        text = text[:start] + block + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)
    print(f"wrote {path} ({title})")


# -- orchestration ----------------------------------------------------------------------------

def run_case(kind: str, size=(640, 480), *, low_latency=True, read_fps=0.0, loss=0.0,
             warmup=2.0, window=6.0, audio_steps=False, slow=0.0) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    total = warmup + window + 12 + slow
    if kind == "bare":
        a, b = ctx.Pipe()
        sender = ctx.Process(target=bare_sender, args=(a, size, total))
        if slow:
            receiver = ctx.Process(target=bare_slow_reader, args=(b, out, slow))
        else:
            receiver = ctx.Process(target=bare_receiver, args=(b, out, warmup, window, read_fps))
        server = None
    else:
        import zero_nb

        server = zero_nb.serve("127.0.0.1", 0)
        sender = ctx.Process(target=zn_sender, args=(server.url, size, total, audio_steps))
        if slow:
            receiver = ctx.Process(target=zn_slow_reader, args=(server.url, out, slow))
        else:
            receiver = ctx.Process(target=zn_receiver, args=(
                server.url, out, warmup, window, read_fps, low_latency, loss, audio_steps))
    sender.start()
    receiver.start()
    try:
        return out.get(timeout=total + 30)
    finally:
        for proc in (receiver, sender):
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        if server is not None:
            server.stop()


def summarize(res: dict) -> dict:
    lat = res.get("lat", [])
    return {"fps": round(res.get("fps", 0), 1), "p50": round(pct(lat, 0.5), 1),
            "p95": round(pct(lat, 0.95), 1), "cpu": round(res.get("cpu", 0), 1),
            "n": len(lat)}


def report(label: str, res: dict, rows: list | None = None) -> dict:
    s = summarize(res)
    if rows is not None:
        rows.append((label, s))
    print(f"{label:<44} fps {s['fps']:>5}  p50 {s['p50']:>6} ms  p95 {s['p95']:>6} ms  "
          f"cpu {s['cpu']:>5}%  (n={s['n']})", flush=True)
    return s


def medians(runs: list[dict]) -> dict:
    return {k: round(statistics.median(x[k] for x in runs), 1) for k in runs[0]}


def sizes_ab(sizes: list, rounds: int, window: float) -> dict[str, dict]:
    """Bare aiortc vs zero_nb stock vs low latency per size, alternated; CPU at 5 fps."""
    results: dict[str, dict] = {}
    for size in sizes:
        tag = f"{size[0]}x{size[1]}"
        acc: dict[str, list[dict]] = {"bare": [], "stock": [], "low": []}
        for r in range(rounds):
            order = ["bare", "stock", "low"] if r % 2 == 0 else ["low", "stock", "bare"]
            for which in order:
                if which == "bare":
                    res = run_case("bare", size, window=window)
                else:
                    res = run_case("zn", size, low_latency=which == "low", window=window)
                acc[which].append(report(f"{tag} {which:<5} full-rate (round {r + 1})", res))
        for which, runs in acc.items():
            results[f"{tag} {which}"] = medians(runs)
        cpu_bare = report(f"{tag} bare  eager to_ndarray, CPU",
                          run_case("bare", size, window=window))
        cpu_zn = report(f"{tag} zero_nb read at 5 fps, CPU",
                        run_case("zn", size, read_fps=5, window=window))
        results[f"{tag} cpu"] = {"bare": cpu_bare["cpu"], "zn5": cpu_zn["cpu"]}
    return results


def loss_ab(rounds: int, window: float) -> dict[str, dict]:
    """640x480 with 5% injected video loss: stock jitter buffer vs the low-latency path
    (loss tail included), A/B alternated, medians; ``skipped``: frames dropped behind
    unrepaired gaps."""
    acc: dict[str, list[dict]] = {"stock": [], "low": []}
    for r in range(rounds):
        for which in (("stock", "low") if r % 2 == 0 else ("low", "stock")):
            res = run_case("zn", (640, 480), low_latency=which == "low", loss=0.05,
                           window=window)
            s = report(f"640x480 {which} 5% loss (round {r + 1})", res)
            acc[which].append({**s, "skipped": res.get("skipped", 0)})
    return {k: medians(v) for k, v in acc.items()}


def audio_ab(quick: bool) -> dict[str, dict]:
    audio = {}
    for loss in (0.0, 0.05):
        for which in ("stock", "low"):
            res = run_case("zn", low_latency=which == "low", audio_steps=True, loss=loss,
                           window=6.0 if quick else 10.0)
            d = res["audio"]
            key = which + ("+loss" if loss else "")
            audio[key] = {"p50": round(pct(d, 0.5), 1), "p95": round(pct(d, 0.95), 1),
                          "n": len(d)}
            print(f"audio step latency {key:<10} p50 {audio[key]['p50']} ms  "
                  f"p95 {audio[key]['p95']} ms  (n={len(d)})", flush=True)
    return audio


def slow_consumers(slow_s: float) -> dict[str, dict]:
    slow = {}
    for kind in ("bare", "zn"):
        res = run_case(kind, (640, 480), slow=slow_s)
        slow[kind] = {"rss_start": round(res["rss_start"]), "rss_end": round(res["rss_end"]),
                      "p50": round(pct(res["lat"], 0.5)), "last": round(res["lat"][-1])
                      if res["lat"] else None}
        print(f"slow consumer ({kind}, 10 fps of 30, {slow_s:.0f} s): RSS "
              f"{slow[kind]['rss_start']} -> {slow[kind]['rss_end']} MB, latency p50 "
              f"{slow[kind]['p50']} ms, last {slow[kind]['last']} ms", flush=True)
    return slow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run; no RESULTS.md")
    parser.add_argument("--rounds", type=int, default=None, help="A/B rounds per size")
    parser.add_argument("--filter", action="store_true",
                        help="only the filter round trip (writes its section)")
    parser.add_argument("--loss", action="store_true",
                        help="only the 5%% loss A/B (writes its section)")
    parser.add_argument("--e2ee", action="store_true",
                        help="only E2EE on vs off (benchmarks/e2ee.py; writes its section)")
    args = parser.parse_args()
    if args.e2ee:  # E2EE A/B lives in its own module: benchmarks/e2ee.py
        import e2ee

        return int(e2ee.main(["--rounds", str(args.rounds)] if args.rounds else []))
    if not only_loopback():
        return subprocess.call(netns_command([sys.executable, *sys.argv]))

    if args.filter:
        filter_main(args.rounds or 2)
        return 0
    quick = args.quick
    rounds = args.rounds or (1 if quick else 2)
    window = 4.0 if quick else 8.0
    loss_rounds, loss_window = (args.rounds or 3), (6.0 if quick else 15.0)
    if args.loss:
        loss = loss_ab(loss_rounds, loss_window)
        print(json.dumps({"loss": loss}))
        write_loss(loss, loss_rounds, loss_window)
        return 0
    sizes = [(640, 480)] if quick else [(640, 480), (1280, 720)]
    results = sizes_ab(sizes, rounds, window)
    loss = loss_ab(loss_rounds, loss_window)
    audio = audio_ab(quick)
    slow_s = 15.0 if quick else 60.0
    slow = slow_consumers(slow_s)
    print(json.dumps({"results": results, "loss": loss, "audio": audio, "slow": slow}))
    if not quick:
        write_results(results, audio, slow, sizes, slow_s)
        write_loss(loss, loss_rounds, loss_window)
    return 0


def write_loss(loss: dict, rounds: int, window: float) -> None:
    s, z = loss["stock"], loss["low"]
    lines = [
        "## Video loss tail",
        "",
        f"`python benchmarks/pipeline.py --loss` on {datetime.date.today()}: 640x480 VP8 "
        f"30 fps, two processes, 5% of media packets dropped on receive (`tests/netem.py`; "
        f"NACK/RTX/PLI react as to real loss), {rounds} rounds of {window:g} s alternated, "
        "medians. Low latency gives up on a gap that retransmission did not repair after "
        "100 ms of RTP time (or at once for a complete key frame behind it): the frames "
        "behind it are dropped (`skipped`), a key frame is requested.",
        "",
        "| 640x480, 5% injected loss | fps | p50 ms | p95 ms | frames skipped |",
        "|---|---|---|---|---|",
        f"| zero_nb, stock jitter buffer | {s['fps']} | {s['p50']} | {s['p95']} | — |",
        f"| zero_nb, low latency (default) | {z['fps']} | {z['p50']} | {z['p95']} | "
        f"{z['skipped']:g} |",
        "",
        f"Low latency vs stock: p50 {z['p50'] - s['p50']:+.1f} ms, p95 "
        f"{z['p95'] - s['p95']:+.1f} ms.",
        "",
    ]
    replace_section("## Video loss tail", lines)


def write_results(results, audio, slow, sizes, slow_s) -> None:
    lines = [
        "## Media pipeline",
        "",
        f"`python benchmarks/pipeline.py` on {datetime.date.today()}, 2-core machine, "
        "loopback in a private network namespace, VP8, 30 fps test pattern, two processes "
        "per case, A/B alternated, medians of the rounds.",
        "",
        "| size | receiver | fps | p50 ms | p95 ms | receiver CPU % |",
        "|---|---|---|---|---|---|",
    ]
    for w, h in sizes:
        tag = f"{w}x{h}"
        for which, label in (("bare", "bare aiortc (recv + to_ndarray)"),
                             ("stock", "zero_nb, stock jitter buffer"),
                             ("low", "zero_nb, low latency (default)")):
            r = results[f"{tag} {which}"]
            lines.append(f"| {tag} | {label} | {r['fps']} | {r['p50']} | {r['p95']} | "
                         f"{r['cpu']} |")
    lines += ["", "Ratios (zero_nb default / bare):", ""]
    for w, h in sizes:
        tag = f"{w}x{h}"
        b, z = results[f"{tag} bare"], results[f"{tag} low"]
        s = results[f"{tag} stock"]
        interval = 1000 / 30
        lines.append(
            f"- {tag}: fps {z['fps'] / b['fps']:.2f}x; p50 {z['p50'] - b['p50']:+.1f} ms vs bare "
            f"({(z['p50'] - b['p50']) / interval:+.2f} frame intervals); stock zero_nb p50 "
            f"{s['p50'] - b['p50']:+.1f} ms vs bare; CPU reading at 5 fps "
            f"{results[f'{tag} cpu']['zn5']}% vs bare eager {results[f'{tag} cpu']['bare']}% "
            f"({results[f'{tag} cpu']['zn5'] / max(results[f'{tag} cpu']['bare'], 0.1):.2f}x)")
    lines += [
        "",
        "Video under 5% loss: see *Video loss tail*.",
        "",
        "| audio step latency (tone onset -> level in the feed) | p50 ms | p95 ms | steps |",
        "|---|---|---|---|",
        *(f"| {k} | {v['p50']} | {v['p95']} | {v['n']} |" for k, v in audio.items()),
        "",
        f"Slow consumer (reads 10 fps of a 30 fps 640x480 stream for {slow_s:.0f} s):",
        "",
        "| receiver | RSS start MB | RSS end MB | latency p50 ms | latency at end ms |",
        "|---|---|---|---|---|",
        *(f"| {'bare aiortc, plain recv()' if k == 'bare' else 'zero_nb feed.latest()'} | "
          f"{v['rss_start']} | {v['rss_end']} | {v['p50']} | {v['last']} |"
          for k, v in slow.items()),
        "",
    ]
    replace_section("## Media pipeline", lines)


if __name__ == "__main__":
    sys.exit(main())
