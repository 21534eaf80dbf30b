"""A bot's tile in the Conference widget: over the widget comm vs over today's WebRTC link.

    /work/tools/wrun python benchmarks/remote.py          # ~1 min, writes "## Remote"
    /work/tools/wrun python benchmarks/remote.py --quick   # smoke run, prints only

One run, one real JupyterLab, one headless Chromium on the same machine (the WebRTC link
connects here), a bot in this process sending a stamped 640x480 30 fps test pattern. The page
shows the bot's tile first over the WebRTC link (stamp read at requestVideoFrameCallback of
the tile's <video>), then the same tile over the comm (the kernel forwards the bot's VP8
frames as received; stamp read on the tile's canvas as it is painted), alternating windows.
Glass to glass = paint time minus the send time in the stamp (one clock). CPU: the kernel
process and all Chromium processes over each window, per tile (one tile here).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import only_loopback, pct, replace_section  # noqa: E402

from tests.browser.comm_support import READ_STAMPS_JS, READ_VIDEO_STAMPS_JS  # noqa: E402
from tests.browser.helpers import CHROMIUM, FLAGS, wait_until  # noqa: E402
from tests.browser.jupyter import jupyter_lab, write_notebook  # noqa: E402

CFG = '{"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}'
MEDIA = {"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []}}


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def kernel_procs(lab_pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(lab_pid).children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())]


def chromium_procs() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or "")]


def window(page: Any, js: str, arg: Any, seconds: float, lab_pid: int) -> dict[str, float]:
    page.evaluate(js, arg)
    kernel, browser = kernel_procs(lab_pid), chromium_procs()
    k0, b0, t0 = cpu_of(kernel), cpu_of(browser), time.monotonic()
    page.wait_for_timeout(seconds * 1000)  # Playwright's events flow while it waits
    samples = page.evaluate(js, arg) or []
    dt = time.monotonic() - t0
    ages = [s[1] for s in samples]
    return {"p50": pct(ages, 0.5), "p95": pct(ages, 0.95), "fps": len(samples) / dt,
            "kernel": 100 * (cpu_of(kernel) - k0) / dt, "page": 100 * (cpu_of(browser) - b0) / dt}


def run(seconds: float, rounds: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    import zero_nb
    from zero_nb import sources

    server = zero_nb.serve("127.0.0.1", 0)
    tmp = Path(tempfile.mkdtemp(prefix="znb-remote-bench-"))
    root = tmp / "nb"
    root.mkdir()
    results: dict[str, list[dict[str, float]]] = {"webrtc": [], "comm": []}
    bot = zero_nb.join("bench", server.url, name="bot", config=MEDIA,
                       video=sources.test_pattern(640, 480, 30), audio=sources.tone(440, -12))
    try:
        with jupyter_lab(root, {"ZNB_URL": server.url}) as lab, sync_playwright() as pw:
            write_notebook(root / "b.ipynb", [
                "import os, zero_nb\n"
                f"room = zero_nb.join('bench', os.environ['ZNB_URL'], name='nb', config={CFG})\n"
                "room"])
            ctx = pw.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            lab.open(page, "b.ipynb")
            lab.run_cell(page, 0)
            page.wait_for_selector(".znb-conference", timeout=60_000)
            wait_until(lambda: bot.peers, 30, "the notebook in the session")
            key = bot.peer_id
            wait_until(lambda: page.evaluate(READ_VIDEO_STAMPS_JS, key) is not None, 30,
                       "the bot's tile")
            page.wait_for_timeout(3000)
            slot = page.evaluate("(k) => [...zeroNbWidgets.conferences][0].link.slotOf(k)", key)
            for _ in range(rounds):
                page.evaluate("() => [...zeroNbWidgets.conferences][0].useWebrtc('bench')")
                page.wait_for_timeout(1500)
                results["webrtc"].append(window(page, READ_VIDEO_STAMPS_JS, key, seconds,
                                                lab.proc.pid))
                page.evaluate("() => [...zeroNbWidgets.conferences][0].useComm('bench')")
                wait_until(lambda: page.evaluate(READ_STAMPS_JS, slot) is not None, 20,
                           "the comm tile")
                page.wait_for_timeout(1500)
                results["comm"].append(window(page, READ_STAMPS_JS, slot, seconds,
                                              lab.proc.pid))
                print(results["webrtc"][-1], results["comm"][-1], flush=True)
            ctx.close()
    finally:
        bot.leave()
        server.stop()
    return results


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: sorted(r[k] for r in rows)[len(rows) // 2] for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not only_loopback():
        sys.exit("run inside a loopback-only namespace (/work/tools/wrun)")
    results = run(3.0 if args.quick else 8.0, 1 if args.quick else 3)
    web, comm = summary(results["webrtc"]), summary(results["comm"])
    ok_lat = comm["p50"] <= web["p50"] + 30
    ok_fps = comm["fps"] >= 0.9 * web["fps"]
    lines = [
        "## Remote: a bot's tile over the widget comm vs the WebRTC link",
        "",
        f"`benchmarks/remote.py`, {datetime.date.today()}: one JupyterLab, headless Chromium on "
        "the same machine, a bot sending a stamped 640x480 30 fps test pattern; "
        f"{len(results['comm'])} alternating windows per transport, medians of the windows. "
        "Glass to glass: stamp send time to paint (WebRTC: requestVideoFrameCallback of the "
        "tile's <video>; comm: the canvas paint after VideoDecoder). CPU %: the kernel process, "
        "and all Chromium processes, per tile (one tile).",
        "",
        "| transport | p50 ms | p95 ms | fps | kernel CPU % | page CPU % |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in (("WebRTC link", web), ("comm (forwarded VP8)", comm)):
        lines.append(f"| {name} | {row['p50']:.0f} | {row['p95']:.0f} | {row['fps']:.1f} | "
                     f"{row['kernel']:.0f} | {row['page']:.0f} |")
    lines += ["", f"Target (comm p50 <= WebRTC p50 + 30 ms; fps >= 0.9x): latency "
              f"{'met' if ok_lat else 'NOT met'}, fps {'met' if ok_fps else 'NOT met'}."]
    print("\n".join(lines))
    if not args.quick:
        replace_section("## Remote", lines)


if __name__ == "__main__":
    main()
