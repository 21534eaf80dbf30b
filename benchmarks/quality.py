"""Quality caps over time, and what low layers save a teacher's kernel.

    python benchmarks/quality.py            # ~40 s, writes RESULTS.md and benchmarks/quality.png
    python benchmarks/quality.py --quick    # shorter phases, prints only

Run inside a loopback-only namespace (as root: ``unshare -n sh -c 'ip link set lo up && ...'``).
Part 1: two kernels in a mesh, the sender a moving 640x480 30 fps test pattern; every few
seconds ``room.local.video.set_quality`` changes (none -> 150 kbps -> 320x240 -> 10 fps ->
none); sent bitrate (exact, per packet), received frame size and fps are sampled twice a
second. The uncapped phases are the baseline of the same run.
Part 2: the decode cost behind "29 low layers vs 29 high layers": VP8 streams of the same
moving content at 320x240 (a low simulcast layer of VGA) and 640x480, decoded with PyAV as
aiortc does, CPU per stream at 15 fps.
Part 3: a kernel's sender-side cost of simulcast (sfu/simulcast.py): VP8 encode CPU of the
same moving content as 1, 2 (and at 1280x720, 3) layers, the one layer being the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import MEDIA, cpu_s, only_loopback, replace_section  # noqa: E402
from tests.stats_support import sent_video_bytes  # noqa: E402

PHASES = [("no cap", {}), ("max_kbps=150", {"max_kbps": 150}),
          ("320x240", {"width": 320, "height": 240}), ("fps=10", {"fps": 10}),
          ("no cap again", {})]


def caps_over_time(phase_s: float) -> list[dict]:
    import zero_nb
    from zero_nb import sources

    server = zero_nb.serve("127.0.0.1", 0)
    a = zero_nb.join("q", server.url, name="a", config=MEDIA,
                     video=sources.test_pattern(640, 480, 30))
    b = zero_nb.join("q", server.url, name="b", config=MEDIA)
    samples: list[dict] = []
    try:
        b.wait_for_peers(1, timeout=20)
        feed = b.peer("a").video
        t0 = time.monotonic()
        last = (t0, sent_video_bytes(a, b.peer_id))
        for label, caps in PHASES:
            a.local.video.set_quality(**caps)
            end = time.monotonic() + phase_s
            while time.monotonic() < end:
                time.sleep(0.5)
                now, sent = time.monotonic(), sent_video_bytes(a, b.peer_id)
                img = feed.latest()
                samples.append({"t": now - t0, "phase": label,
                                "kbps": (sent - last[1]) * 8 / (now - last[0]) / 1000,
                                "width": None if img is None else img.shape[1],
                                "fps": feed.fps})
                last = (now, sent)
    finally:
        a.leave()
        b.leave()
        server.stop()
    return samples


def phase_table(samples: list[dict], phase_s: float) -> list[dict]:
    rows = []
    for label, _ in PHASES:
        part = [s for s in samples if s["phase"] == label]
        settled = part[len(part) // 2:]  # second half: after the change took effect
        rows.append({"phase": label,
                     "kbps": statistics.median(s["kbps"] for s in settled),
                     "width": statistics.mode(s["width"] for s in settled),
                     "fps": statistics.median(s["fps"] for s in settled)})
    return rows


def plot(samples: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    t = [s["t"] for s in samples]
    ax1.plot(t, [s["kbps"] for s in samples], label="sent kbps")
    ax1.set_ylabel("kbit/s")
    ax2.plot(t, [s["width"] or 0 for s in samples], label="received width (px)")
    ax2.plot(t, [s["fps"] * 10 for s in samples], label="received fps x10")
    ax2.set_xlabel("seconds")
    ax2.legend(loc="lower left")
    for s0, s1 in itertools.pairwise(samples):
        if s1["phase"] != s0["phase"]:
            for ax in (ax1, ax2):
                ax.axvline(s1["t"], color="grey", lw=0.5)
            ax1.text(s1["t"], ax1.get_ylim()[1] * 0.9, s1["phase"], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def decode_cost(width: int, height: int, seconds: float = 20.0, fps: int = 15) -> float:
    """Percent of one core to decode one moving VP8 stream of this size at ``fps``."""
    import av

    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.bit_rate = 250_000 if width <= 320 else 800_000
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets = []
    for i, frame in enumerate(moving_frames(width, height, int(seconds * fps))):
        frame.pts, frame.time_base = i, enc.time_base
        packets += [bytes(p) for p in enc.encode(frame)]
    dec = av.CodecContext.create("vp8", "r")
    start = cpu_s()
    for data in packets:
        dec.decode(av.Packet(data))
    return (cpu_s() - start) / seconds * 100


def moving_frames(width: int, height: int, count: int) -> list:
    """``count`` frames of a moving test pattern (yuv420p), as a kernel source makes them."""
    import av
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        img = ((xx + 8 * i) % 256).astype(np.uint8)[..., None].repeat(3, axis=2)
        img[..., 1] = (yy + 4 * i) % 256
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        frames.append(frame)
    return frames


def simulcast_cost(width: int = 640, height: int = 480, seconds: float = 20.0,
                   fps: int = 15) -> list[float]:
    """Percent of one core a kernel spends encoding its ``width`` x ``height`` video at
    ``fps`` with aiortc's VP8 encoder as 1, 2, ... layers, up to the count sfu/simulcast.py
    sends at that size (2 under 720 lines, 3 from 720 up): one layer is the baseline, each
    lower layer adds its scaled copy (lowest last), encoded under its own cap."""
    from aiortc.codecs.vpx import Vp8Encoder

    from zero_nb.sfu.simulcast import _LayerCap, layer_plan, scaled

    frames = moving_frames(width, height, int(seconds * fps))
    lower = layer_plan(height)[::-1]  # half first, then quarter
    costs = []
    for count in range(1, len(lower) + 2):
        high = Vp8Encoder()
        extra = [(spec.divisor, _LayerCap(None, spec.kbps, spec.share).cap_encoder(
            Vp8Encoder())) for spec in lower[:count - 1]]
        start = cpu_s()
        for frame in frames:
            high.encode(frame)
            for divisor, encoder in extra:
                encoder.encode(scaled(frame, divisor))
        costs.append((cpu_s() - start) / seconds * 100)
    return costs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not only_loopback():
        print("run inside a loopback-only network namespace (see the docstring)")
        return 2
    phase_s = 4.0 if args.quick else 7.0
    samples = caps_over_time(phase_s)
    rows = phase_table(samples, phase_s)
    low, high = decode_cost(320, 240), decode_cost(640, 480)
    one, two = simulcast_cost()
    hd = simulcast_cost(1280, 720, 10.0)
    lines = ["## Quality caps", "",
             f"`benchmarks/quality.py`, {time.strftime('%Y-%m-%d')}: one kernel sends a moving "
             "640x480 30 fps test pattern to another; `set_quality` changes every "
             f"{phase_s:g} s (figures: median of each phase's settled second half; the "
             "uncapped phases are the same run's baseline). Plot: `benchmarks/quality.png`.",
             "", "| phase | sent kbit/s | received width | received fps |",
             "|---|---|---|---|"]
    lines += [f"| {r['phase']} | {r['kbps']:.0f} | {r['width']} | {r['fps']:.1f} |"
              for r in rows]
    lines += ["", "Teacher-side decode cost (PyAV VP8, moving content, 15 fps, % of one core "
              "per stream): 320x240 (a VGA sender's low layer) "
              f"{low:.2f} %, 640x480 (high) {high:.2f} % — 29 low layers {29 * low:.0f} % vs "
              f"29 high {29 * high:.0f} % of a core ({high / low:.1f}x).", "",
              "Sender-side cost of a kernel's simulcast (`zero_nb/sfu/simulcast.py`, SFU "
              "sessions): encoding its 640x480 15 fps video with aiortc's VP8 encoder takes "
              f"{one:.1f} % of a core as one layer (baseline) and {two:.1f} % as two (plus "
              f"the scaled 320x240 copy): +{two - one:.1f} points "
              f"({(two / one - 1) * 100:.0f} %). At 1280x720 15 fps (3 layers from 720 "
              f"lines up): {hd[0]:.1f} % as one layer (baseline), {hd[1]:.1f} % as two "
              f"(+ 640x360), {hd[2]:.1f} % as three (+ 320x180): +{hd[2] - hd[0]:.1f} "
              f"points ({(hd[2] / hd[0] - 1) * 100:.0f} %) for three.", "",
              "Caps are independent (each `set_quality` call replaces all of them): between "
              "caps the rate follows REMB, which ramps up during the run. aiortc's VP8 "
              "encoder assumes a fixed frame rate, so an fps cap also lowers the bitrate "
              "in proportion.", ""]
    print("\n".join(lines))
    if not args.quick:
        plot(samples, ROOT / "benchmarks" / "quality.png")
        replace_section("## Quality caps", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
