"""A bot's tile in the Conference widget: over the widget comm vs over today's WebRTC link.

    /work/tools/wrun python benchmarks/remote.py          # ~3 min, writes "## Remote"
    /work/tools/wrun python benchmarks/remote.py --quick   # smoke run, prints only

Two runs, each with one real JupyterLab and one headless Chromium on the same machine (the
WebRTC link connects here) and a bot in this process sending a stamped 640x480 30 fps test
pattern: first the tile alone (the notebook sends a tiny bot source, so the page captures
nothing), then with the page's camera and mic on as well. The page shows the bot's tile over
the WebRTC link (stamp read at requestVideoFrameCallback of the tile's <video>), then over
the comm (the kernel forwards the bot's VP8 frames as received; stamp read on the tile's
canvas as it is painted). Glass to glass = paint time minus the send time in the stamp (one
clock). CPU: the kernel process, all Chromium processes and the Jupyter server over each
window, per tile (one tile here); the page's main-thread lag from a 10 ms timer.
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


# the page's main thread: how late a 10 ms timer fires (JupyterLab, the comm's messages, the
# decoders' output and the paints share that thread)
LAG_JS = """(reset) => {
  if (reset) {
    clearInterval(window.__znbLagTimer);
    window.__znbLags = [];
    let last = performance.now();
    window.__znbLagTimer = setInterval(() => {
      const now = performance.now();
      window.__znbLags.push(now - last - 10);
      last = now;
    }, 10);
    return null;
  }
  const lags = window.__znbLags.slice().sort((a, b) => a - b);
  return lags.length ? [lags[Math.floor(lags.length / 2)], lags[Math.floor(lags.length * 0.95)]]
    : [0, 0];
}"""


def window(page: Any, js: str, arg: Any, seconds: float, lab_pid: int) -> dict[str, float]:
    page.evaluate(js, arg)
    page.evaluate(LAG_JS, True)
    kernel, browser = kernel_procs(lab_pid), chromium_procs()
    server = [psutil.Process(lab_pid)]
    k0, b0, s0, t0 = cpu_of(kernel), cpu_of(browser), cpu_of(server), time.monotonic()
    page.wait_for_timeout(seconds * 1000)  # Playwright's events flow while it waits
    samples = page.evaluate(js, arg) or []
    dt = time.monotonic() - t0
    lag50, lag95 = page.evaluate(LAG_JS, False)
    ages = [s[1] for s in samples]
    return {"p50": pct(ages, 0.5), "p95": pct(ages, 0.95), "fps": len(samples) / dt,
            "kernel": 100 * (cpu_of(kernel) - k0) / dt, "page": 100 * (cpu_of(browser) - b0) / dt,
            "server": 100 * (cpu_of(server) - s0) / dt, "lag50": lag50, "lag95": lag95}


def run(seconds: float, rounds: int, camera: bool) -> dict[str, list[dict[str, float]]]:
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
                f"room = zero_nb.join('bench', os.environ['ZNB_URL'], name='nb', config={CFG}"
                + (", video=zero_nb.sources.solid((0, 0, 0), 64, 48, fps=5), audio=None"
                   if not camera else "") + ")\n"
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
            # the WebRTC windows first: a link that moved to the comm stays there
            for _ in range(rounds):
                results["webrtc"].append(window(page, READ_VIDEO_STAMPS_JS, key, seconds,
                                                lab.proc.pid))
            page.evaluate("() => [...zeroNbWidgets.conferences][0].useComm('bench')")
            wait_until(lambda: page.evaluate(READ_STAMPS_JS, slot) is not None, 20,
                       "the comm tile")
            page.wait_for_timeout(1500)
            for _ in range(rounds):
                results["comm"].append(window(page, READ_STAMPS_JS, slot, seconds,
                                              lab.proc.pid))
            print(results, flush=True)
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
    seconds, rounds = (3.0, 1) if args.quick else (8.0, 3)
    tile = {k: summary(v) for k, v in run(seconds, rounds, camera=False).items()}
    both = {k: summary(v) for k, v in run(seconds, rounds, camera=True).items()}
    web, comm = tile["webrtc"], tile["comm"]
    ok_lat = comm["p50"] <= web["p50"] + 30
    ok_fps = comm["fps"] >= 0.9 * web["fps"]
    lines = [
        "## Remote: a bot's tile over the widget comm vs the WebRTC link",
        "",
        f"`benchmarks/remote.py`, {datetime.date.today()}: one JupyterLab, headless Chromium on "
        "the same machine, a bot sending a stamped 640x480 30 fps test pattern; "
        f"{rounds} windows per transport (WebRTC's first: a link on the comm stays there), "
        "medians of the windows. "
        "Glass to glass: stamp send time to paint (WebRTC: requestVideoFrameCallback of the "
        "tile's <video>; comm: the canvas paint after VideoDecoder). CPU %: the kernel process, "
        "all Chromium processes, and the Jupyter server, per tile (one tile); page lag: how late "
        "a 10 ms timer fires on the page's main thread (p50/p95). Two runs: the tile alone (the "
        "notebook sends a tiny bot source, so the page captures nothing), then with the page's "
        "camera and mic on too (640x480, over the transport the row names).",
        "",
        "| run | transport | p50 ms | p95 ms | fps | kernel CPU % | page CPU % | server CPU % "
        "| page lag ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run_name, rows in (("tile alone", tile), ("with the page camera", both)):
        for name, row in (("WebRTC link", rows["webrtc"]), ("comm (forwarded VP8)", rows["comm"])):
            lines.append(f"| {run_name} | {name} | {row['p50']:.0f} | {row['p95']:.0f} | "
                         f"{row['fps']:.1f} | {row['kernel']:.0f} | {row['page']:.0f} | "
                         f"{row['server']:.0f} | {row['lag50']:.0f}/{row['lag95']:.0f} |")
    lines += ["", f"Target, tile alone (comm p50 <= WebRTC p50 + 30 ms; fps >= 0.9x): latency "
              f"{'met' if ok_lat else 'NOT met'}, fps {'met' if ok_fps else 'NOT met'}. With "
              f"the page camera on as well the comm's p50 is "
              f"{both['comm']['p50'] - both['webrtc']['p50']:+.0f} ms from WebRTC's.",
              "",
              "Where the comm's extra time goes (measured 2026-12-07 with a CPU profile of the "
              "page during the comm window, camera on): the page's main thread is 23 % in "
              "`drawImage` of the decoded VideoFrame onto the tile's canvas, ~36 % in native "
              "work outside JS (paint, compositing) and only ~3 % in JupyterLab's message "
              "(de)serialization; the page encodes its 640x480 camera with WebCodecs in "
              "software as well. Everything here shares 2 cores (kernel, Jupyter server, "
              "Chromium, the bot's encoder in this process), so with the camera on the machine "
              "is saturated and both transports slow down; behind a real tunnel the page and "
              "the kernel are on different machines. Not yet tried: painting through a "
              "MediaStreamTrackGenerator into a <video> (the compositor path WebRTC's tiles "
              "take) where the browser has one."]
    print("\n".join(lines))
    if not args.quick:
        replace_section("## Remote", lines)


if __name__ == "__main__":
    main()
