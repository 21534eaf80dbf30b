"""A class through Janus: N encoded students and one teacher kernel that receives them all.

    python benchmarks/class.py                  # N = 10, 20, 30 + live-encoding baseline
    python benchmarks/class.py --sizes 10 --window 8 --no-write     # a quick look
    python benchmarks/class.py --profile 30     # also py-spy the teacher at N = 30
    python benchmarks/class.py --sizes 10 --gallery 30 --no-baseline --no-write  # the page

Students are one process (one engine loop, many rooms) sending encoded VP8 clips unchanged
(``sources.from_file(clip, loop=True, encoded=True)``): 320x240 at 15 fps, a distinct colour
each (left half) and a moving texture (right half) at about 250 kbps, keyframe every second.
They receive nothing (``room.subscribe([])``). The teacher is its own process, a kernel
receiving every student (numpy frames, like a notebook). Janus, the signaling server and
both processes run here, in this script's private network namespace (it re-executes itself
under ``unshare -n``), Janus' ICE on a veth holding 127.0.0.1/32 (tests/sfu_support.py).

Then the teacher on the web page instead of a kernel (``--gallery``): headless Chromium shows
the class through Janus, decoded fps per tile from getStats.

Baseline in the same run: the same class of 10 with students encoding the same content live
(``sources.from_frames``), to show what sending files unchanged saves the students' process.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import MEDIA, only_loopback, rss_mb  # noqa: E402
from benchmarks.sfu import TICK, cpu_ticks  # noqa: E402

FPS = 15
KBPS = 250
MIN_FPS = 14.0
MAX_CORE_PCT_PER_STREAM = 1.0
MAX_JOIN_S = 30.0
CLIPS = Path(tempfile.gettempdir()) / "zero_nb_class_clips"
PROFILE = Path(tempfile.gettempdir()) / "zero_nb_class_teacher.pyspy"  # raw, kept to re-read


# -- the two processes ---------------------------------------------------------------------------

def teacher(url: str, session: str, n: int, no_remb: bool, conn: Any) -> None:
    """Receives every student; answers the orchestrator's commands over ``conn``.
    ``no_remb`` False: the same-run baseline before the cut, aiortc's REMB estimate kept."""
    import zero_nb

    if not no_remb:
        _keep_remb_estimate()

    room = zero_nb.join(session, url, name="teacher", config=MEDIA, timeout=60)
    conn.send("joined")
    counts: dict[str, int] = {}
    t0 = 0.0
    while True:
        command = conn.recv()
        if command == "wait":  # until every student shows its colour
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                ok = _colours(room, n)
                if len(ok) == n and all(ok.values()):
                    break
                time.sleep(0.1)
            conn.send(time.monotonic())
        elif command == "start":
            counts, t0 = _counts(room), time.monotonic()
        elif command == "stop":
            elapsed = time.monotonic() - t0
            now = _counts(room)
            fps = {k: (now.get(k, v) - v) / elapsed for k, v in counts.items()}
            conn.send({"fps": fps, "colour_ok": _colours(room, n)})
        elif command == "leave":
            room.leave()
            conn.send("left")
            return


def _keep_remb_estimate() -> None:
    """Undo zero_nb's cut for a baseline: subscriptions keep aiortc's REMB estimate."""
    from zero_nb.sfu import kernel

    kernel._skip_remb_estimate = lambda pc: None


def _counts(room: Any) -> dict[str, int]:
    return {p.name: p.video.frame_count for p in list(room.peers.values())}


def _colours(room: Any, n: int) -> dict[str, bool]:
    from tests import class_support

    return {p.name: class_support.colour_ok(p.video.latest(),
                                            class_support.expected_colour(p.name, n))
            for p in list(room.peers.values()) if p.name.startswith("s")}


def students(url: str, session: str, clips: list[str], live: bool, conn: Any) -> None:
    """All students in this one process (one engine loop)."""
    import zero_nb
    from tests import class_support
    from zero_nb import sources
    from zero_nb.kernel_rtc.media.encoded import clip_frame

    conn.recv()  # go
    if live:  # baseline: the same moving content, encoded here per student
        rooms = []
        for i, rgb in enumerate(class_support.colours(len(clips))):
            def make(index: int, rgb: Any = rgb) -> Any:
                return clip_frame(rgb, index % (4 * FPS), 320, 240, motion=True)
            room = zero_nb.join(session, url, name=f"s{i:02d}", config=MEDIA, timeout=60,
                                video=sources.from_frames(make, FPS))
            room.subscribe([])
            rooms.append(room)
    else:
        rooms = class_support.join_students(url, session, [Path(c) for c in clips], MEDIA)
    conn.send("joined")
    conn.recv()  # leave
    for room in rooms:
        room.leave()
    conn.send("left")


# -- one class size ------------------------------------------------------------------------------

def _class_setup(janus: Any, n: int) -> tuple[list[str], Any]:
    """The students' clips (moving, KBPS, FPS) and a signaling server backed by ``janus``."""
    import zero_nb
    from tests import class_support

    clips = [str(c) for c in class_support.student_clips(CLIPS, n, motion=True, kbps=KBPS,
                                                           fps=FPS)]
    return clips, zero_nb.serve("127.0.0.1", 0, config={
        "signaling": {"heartbeat": {"interval": 2.0, "timeout": 6.0}},
        "sfu": {"enabled": True, "url": janus.url}})


def run_case(janus: Any, n: int, window: float, *, live: bool = False,
             profile: Path | None = None, no_remb: bool = True) -> dict[str, Any]:

    clips, server = _class_setup(janus, n)
    ctx = mp.get_context("spawn")
    session = f"class{n}{'live' if live else ''}{'' if no_remb else 'remb'}"
    t_conn, t_child = ctx.Pipe()
    s_conn, s_child = ctx.Pipe()
    procs = [ctx.Process(target=teacher, args=(server.url, session, n, no_remb, t_child),
                         daemon=True),
             ctx.Process(target=students, args=(server.url, session, clips, live, s_child),
                         daemon=True)]
    try:
        procs[0].start()
        assert t_conn.poll(60) and t_conn.recv() == "joined", "the teacher did not join"
        procs[1].start()
        time.sleep(3.0)  # the students' imports, so the join time is the join
        t_go = time.monotonic()
        s_conn.send("go")
        t_conn.send("wait")
        assert s_conn.poll(180), "the students did not join"
        s_conn.recv()
        assert t_conn.poll(180), "the teacher never saw every student"
        join_s = t_conn.recv() - t_go
        time.sleep(2.0)  # let the last keyframes and bitrate settle
        row = _measure(janus, procs, t_conn, window, profile)
    finally:
        for conn in (t_conn, s_conn):
            conn.send("leave")
        for conn in (t_conn, s_conn):
            if conn.poll(30):
                conn.recv()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
        server.stop()
    row.update(n=n, live=live, join_s=join_s, no_remb=no_remb)
    _print_row(row)
    return row


# -- the teacher's page in Chromium ---------------------------------------------------------------

def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc's parent ids)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _chromium_cpu(profile: str) -> int:
    """CPU ticks so far of the Chromium whose profile dir is ``profile`` (all its processes)."""
    total = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"--user-data-dir={profile}".encode() not in cmdline.read_bytes():
                continue
            for pid in _descendants(int(cmdline.parent.name)):
                total += cpu_ticks(pid)
        except (OSError, ValueError):
            continue
        break  # the browser process: the others are below it
    return total


def gallery_case(janus: Any, n: int, window: float) -> dict[str, Any]:
    """The teacher on the web page instead of a kernel: headless Chromium shows the class of
    ``n`` through Janus; decoded fps per tile (getStats framesDecoded) and Chromium's CPU."""
    from playwright.sync_api import sync_playwright

    from tests.browser.helpers import CHROMIUM, FLAGS, Page

    clips, server = _class_setup(janus, n)
    session = f"gallery{n}"
    s_conn, s_child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(
        target=students, args=(server.url, session, clips, False, s_child), daemon=True)
    try:
        proc.start()
        s_conn.send("go")
        assert s_conn.poll(180), "the students did not join"
        s_conn.recv()
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 800})
            page = Page(context.pages[0] if context.pages else context.new_page(),
                        server)
            t0 = time.monotonic()
            page.open(session=session, name="teacher", autojoin="1", mic="0")
            page.wait_decoding([f"s{i:02d}" for i in range(n)], 120.0)
            join_s = time.monotonic() - t0
            time.sleep(2.0)  # let the tiles settle
            cpu0, t1 = _chromium_cpu(profile), time.monotonic()
            fps = page.decoded_fps(window)
            cpu = (_chromium_cpu(profile) - cpu0) / TICK / (time.monotonic() - t1) * 100
            tiles = page.page.locator(".znb-tile:not(.znb-local)").count()
            context.close()
    finally:
        s_conn.send("leave")
        if s_conn.poll(30):
            s_conn.recv()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
        server.stop()
    values = list(fps.values()) or [0.0]
    row = {"n": n, "tiles": tiles, "join_s": join_s, "fps_min": min(values),
           "fps_median": statistics.median(values), "chromium_cpu": cpu}
    print(f"N={n:2} teacher's page in Chromium: {tiles} tiles shown in {join_s:4.1f} s, decoded "
          f"fps per tile min {row['fps_min']:4.1f} median {row['fps_median']:4.1f}, Chromium "
          f"{cpu:5.1f}% ({cpu / max(1, tiles):4.2f}%/tile)", flush=True)
    return row


def _measure(janus: Any, procs: list[Any], t_conn: Any, window: float,
             profile: Path | None) -> dict[str, Any]:
    pids = {"teacher": procs[0].pid, "students": procs[1].pid, "janus": janus.pid}
    cpu0 = {k: cpu_ticks(p) for k, p in pids.items()}
    t0 = time.monotonic()
    t_conn.send("start")
    time.sleep(window)
    t_conn.send("stop")
    elapsed = time.monotonic() - t0
    cpu = {k: (cpu_ticks(p) - cpu0[k]) / TICK / elapsed * 100 for k, p in pids.items()}
    result = t_conn.recv()
    if profile is not None:  # after the window: sampling must not skew its figures
        subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record",
                        "--pid", str(pids["teacher"]), "--format", "raw", "--output",
                        str(profile), "--duration", str(int(window)), "--rate", "100",
                        "--native"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                       timeout=window + 60, check=False)
    fps = list(result["fps"].values()) or [0.0]
    return {"fps_min": min(fps), "fps_median": statistics.median(fps), "streams": len(fps),
            "colour_ok": sum(result["colour_ok"].values()),
            "teacher_cpu": cpu["teacher"], "students_cpu": cpu["students"],
            "janus_cpu": cpu["janus"], "janus_rss": rss_mb(pids["janus"])}


def _print_row(r: dict[str, Any]) -> None:
    per = r["teacher_cpu"] / max(1, r["streams"])
    kind = " live-encoding students" if r["live"] else \
        " teacher with aiortc's REMB estimate (before the cut)" if not r["no_remb"] else ""
    print(f"N={r['n']:2}{kind}: join "
          f"{r['join_s']:4.1f} s, fps min {r['fps_min']:4.1f} median {r['fps_median']:4.1f}, "
          f"colour {r['colour_ok']}/{r['n']}, teacher {r['teacher_cpu']:5.1f}% "
          f"({per:4.2f}%/stream), students {r['students_cpu']:5.1f}%, Janus "
          f"{r['janus_cpu']:4.1f}% {r['janus_rss']:4.0f} MB", flush=True)


# -- profile of the teacher -------------------------------------------------------------------

# innermost matching frame wins; a frame looks like "func (path/file.py:line)" or a native symbol
CATEGORIES = [
    ("VP8 decode (libvpx, decoder thread)", ("codecs/vpx.py", "vpx_codec", "vp8_", "vp8d")),
    ("SRTP unprotect (libsrtp)", ("srtp", "aes_", "hmac", "sha1")),
    ("bandwidth estimate for REMB (rate.py)", ("aiortc/rate.py",)),
    ("jitter buffer", ("jitterbuffer.py",)),
    ("RTP/RTCP parsing (rtp.py)", ("aiortc/rtp.py",)),
    ("RTCP reports (receiver)", ("_send_rtcp", "_handle_rtcp", "rtcp")),
    ("RTP receive path (rtcrtpreceiver.py)", ("rtcrtpreceiver.py",)),
    ("DTLS transport demux (rtcdtlstransport.py)", ("rtcdtlstransport.py",)),
    ("ICE / UDP (aioice)", ("aioice/",)),
    ("zero_nb feeds / low-latency path", ("zero_nb/",)),
    ("frame to numpy / PyAV", ("av/", "libav", "sws_", "swscale")),
    ("asyncio event loop", ("asyncio/", "selectors.py", "epoll")),
]


# a thread waiting (queue, condition, GIL, select, pipe): not CPU time; --native keeps them
IDLE = ("Condition.wait (threading.py", "Queue.get (queue.py", "_ConnectionBase.recv",
        "Selector.select", "pthread_cond_timedwait", "pthread_cond_wait", "take_gil",
        "epoll_wait", "Event.wait (threading.py")


def summarise_profile(path: Path) -> list[tuple[str, float]]:
    """Share of the teacher's busy samples per category (py-spy raw: 'stack count')."""
    totals: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or any(k in stack for k in IDLE):
            continue
        frames = stack.split(";")[::-1]
        category = REMB_SEND if _sends_remb(stack) else next(
            (name for frame in frames for name, keys in CATEGORIES
             if any(k in frame for k in keys)), "other")
        totals[category] = totals.get(category, 0) + int(count)
    busy = sum(totals.values()) or 1
    return sorted(((k, 100 * v / busy) for k, v in totals.items()), key=lambda kv: -kv[1])


REMB_SEND = "sending REMB (SRTCP protect + sendto, from _handle_rtp_packet)"


def _sends_remb(stack: str) -> bool:
    # the only plain _send_rtcp inside _handle_rtp_packet is REMB (NACK, PLI have their own)
    return "_handle_rtp_packet" in stack and "._send_rtcp (" in stack and \
        "_send_rtcp_" not in stack


def remb_share(path: Path) -> float:
    """Share of busy samples spent on REMB: aiortc's estimate (rate.py) and sending it (the
    only plain ``_send_rtcp`` inside ``_handle_rtp_packet``)."""
    busy = remb = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit() or any(k in stack for k in IDLE):
            continue
        busy += int(n)
        if _sends_remb(stack) or "RemoteBitrateEstimator.add" in stack:
            remb += int(n)
    return 100 * remb / (busy or 1)


def top_functions(path: Path, count: int = 15) -> list[tuple[str, float]]:
    """Innermost Python function of each busy sample, by share (to see what to cut)."""
    totals: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit() or any(k in stack for k in IDLE):
            continue
        frames = [f for f in stack.split(";") if ".py:" in f]
        key = frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[1].split(":")[0] + \
            ")" if frames else "native"
        totals[key] = totals.get(key, 0) + int(n)
    busy = sum(totals.values()) or 1
    return sorted(((k, 100 * v / busy) for k, v in totals.items()), key=lambda kv: -kv[1])[
        :count]


# -- RESULTS.md ----------------------------------------------------------------------------------

def write_results(rows: list[dict[str, Any]], window: float,
                  profile: list[tuple[str, float]] | None, profile_n: int | None,
                  gallery: dict[str, Any] | None = None) -> None:
    from benchmarks.pipeline import replace_section

    lines = [
        "## Class",
        "",
        f"A class through Janus 1.1, `python benchmarks/class.py`, "
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores, everything on this "
        "machine: Janus, the signaling server, one process holding every student (one engine "
        "loop), one teacher kernel process receiving them all as numpy. Students send "
        f"encoded VP8 clips unchanged (`from_file(..., encoded=True)`): 320x240, {FPS} fps, a "
        f"colour plus a moving texture at ~{KBPS} kbps, keyframe every second; they receive "
        f"nothing. {window:g} s window after the join. CPU is utime+stime (100% = one core). "
        "Join: from the students starting to join until the teacher shows every colour. "
        f"Targets: every stream >= {MIN_FPS:g} fps, <= {MAX_CORE_PCT_PER_STREAM:g}% of a core "
        f"per received stream in the teacher, join <= {MAX_JOIN_S:g} s.",
        "",
        "| students | join | fps min / median | colour right | teacher CPU | per stream "
        "| students' process CPU | Janus CPU | Janus RSS | targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per = r["teacher_cpu"] / max(1, r["streams"])
        met = (r["fps_min"] >= MIN_FPS and per <= MAX_CORE_PCT_PER_STREAM
               and r["join_s"] <= MAX_JOIN_S and r["colour_ok"] == r["n"])
        kind = f"{r['n']} live-encoding (baseline)" if r["live"] else \
            f"{r['n']} encoded, teacher with aiortc's REMB estimate (before the cut)" \
            if not r["no_remb"] else f"{r['n']} encoded"
        lines.append(
            f"| {kind} | {r['join_s']:.1f} s | {r['fps_min']:.1f} / {r['fps_median']:.1f} | "
            f"{r['colour_ok']}/{r['n']} | {r['teacher_cpu']:.0f}% | {per:.2f}% | "
            f"{r['students_cpu']:.0f}% | {r['janus_cpu']:.0f}% | {r['janus_rss']:.0f} MB | "
            f"{'met' if met else 'missed'} |")
    if profile:
        lines += ["", f"Where the teacher's time goes at N = {profile_n} (py-spy --native, "
                  "share of busy samples, innermost recognised frame):", ""]
        lines += [f"- {name}: {share:.0f}%" for name, share in profile if share >= 1]
        lines += ["", "Janus ignores subscribers' REMB, so the SFU topology turns off "
                  "aiortc's per-packet REMB estimate (and the REMB it sends) on every "
                  "subscription (`zero_nb/sfu/kernel.py`); the row \"with aiortc's REMB "
                  "estimate\" is the same run without that cut. What remains of REMB in the "
                  f"profile: {remb_share(PROFILE):.0f}% of the busy samples. The baseline's "
                  "students encode live at aiortc's own bitrate (above 250 kbps for this "
                  "texture), so its teacher gets more packets per stream."]
    if gallery:
        g = gallery
        lines += ["", f"The teacher on the web page instead (`--gallery {g['n']}`): headless "
                  f"Chromium showing the same class of {g['n']} through Janus, every student "
                  "on a tile (decoded fps per tile from getStats `framesDecoded` over the "
                  "window; CPU of all Chromium processes; the page also publishes its fake "
                  "camera as simulcast).", "",
                  "| students | tiles | all decoding after | decoded fps per tile min / median "
                  "| Chromium CPU | per tile |", "|---|---|---|---|---|---|",
                  f"| {g['n']} | {g['tiles']} | {g['join_s']:.1f} s | {g['fps_min']:.1f} / "
                  f"{g['fps_median']:.1f} | {g['chromium_cpu']:.0f}% | "
                  f"{g['chromium_cpu'] / max(1, g['tiles']):.2f}% |"]
    replace_section("## Class", [*lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--profile", type=int, default=None, metavar="N",
                        help="py-spy the teacher during the window of class size N")
    parser.add_argument("--with-remb", type=int, default=None, metavar="N",
                        help="also run class size N with aiortc's REMB estimate kept on the "
                             "teacher's subscriptions (the baseline before the cut)")
    parser.add_argument("--gallery", type=int, default=None, metavar="N",
                        help="also show a class of N on the web page in headless Chromium "
                             "(default: the largest size; 0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not only_loopback():
        ns = ["unshare", "-rn"] if os.geteuid() != 0 else ["unshare", "-n"]
        cmd = [*ns, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable,
               *sys.argv]
        return subprocess.call(cmd)
    from tests.sfu_support import running_janus

    CLIPS.mkdir(exist_ok=True)
    rows = []
    summary = None
    with tempfile.TemporaryDirectory() as tmp, running_janus(Path(tmp)) as janus:
        if not args.no_baseline:
            rows.append(run_case(janus, min(args.sizes), args.window, live=True))
        for n in args.sizes:
            spy = PROFILE if n == args.profile else None
            rows.append(run_case(janus, n, args.window, profile=spy))
            if spy is not None and spy.exists():
                summary = summarise_profile(spy)
                for name, share in summary:
                    print(f"   {share:5.1f}%  {name}")
                for name, share in top_functions(spy, 8):
                    print(f"   {share:5.1f}%  {name}")
                print(f"   REMB estimate + sending: {remb_share(spy):.0f}% of busy samples")
        if args.with_remb is not None:
            rows.append(run_case(janus, args.with_remb, args.window, no_remb=False))
        size = max(args.sizes) if args.gallery is None else args.gallery
        gallery = gallery_case(janus, size, args.window) if size else None
    if not args.no_write:
        write_results(rows, args.window, summary, args.profile, gallery)
    return 0


if __name__ == "__main__":
    sys.exit(main())
