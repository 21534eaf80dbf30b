"""The page's sender caps (js/rtc/send_quality.js), run in Node: the encodings each
resolution and the data saver give, single and simulcast, and the outbound stats summary.
Pure: no browser, no sockets."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

SCRIPT = """
const [root, input] = process.argv.slice(1);
const q = await import(root + "/js/rtc/send_quality.js");
const out = {};
for (const [name, fn, args] of JSON.parse(input)) out[name] = q[fn](...args);
console.log(JSON.stringify(out));
"""

SINGLE = [{}]
TWO = [{"rid": "h"}, {"rid": "l"}]
THREE = [{"rid": "h"}, {"rid": "m"}, {"rid": "l"}]
VGA = {"resolution": "VGA", "dataSaver": False}
SAVER = {"resolution": "VGA", "dataSaver": True}


def run(*calls: tuple[str, str, list]) -> dict:
    if NODE is None:
        pytest.skip("node is not installed")
    result = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT, str(ROOT),
                             json.dumps(calls)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_single_encoding_caps_per_resolution_and_data_saver():
    """VGA: 800 kbit/s unscaled; a camera giving 720 lines for VGA is scaled to 480; the data
    saver: 150 kbit/s at 240 lines (half of VGA)."""
    out = run(("vga", "encodingsFor", [SINGLE, VGA, 480]),
              ("big", "encodingsFor", [SINGLE, VGA, 720]),
              ("hd", "encodingsFor", [SINGLE, {"resolution": "HD", "dataSaver": False}, 720]),
              ("saver", "encodingsFor", [SINGLE, SAVER, 480]),
              ("screen", "encodingsFor", [SINGLE, {**VGA, "capture": False}, 1080]),
              ("room", "encodingsFor", [SINGLE, VGA, 480, 300_000]))
    assert out["vga"] == [{"active": True, "maxBitrate": 800_000, "scaleResolutionDownBy": 1}]
    assert out["big"][0]["scaleResolutionDownBy"] == 1.5
    assert out["hd"][0]["maxBitrate"] == 1_500_000
    assert out["saver"] == [{"active": True, "maxBitrate": 150_000,
                             "scaleResolutionDownBy": 2}]
    assert out["screen"][0]["scaleResolutionDownBy"] == 1  # a screen is never scaled to VGA
    assert out["room"][0]["maxBitrate"] == 300_000  # the SFU room's cap wins


def test_simulcast_layers_stay_consistent():
    """2 layers at VGA: h 800 k, l 160 k at /2; data saver shrinks both so h has 240 lines
    (l 120) and they share 150 k (l at Chromium's 30 k floor). 3 layers at HD: h 240 lines,
    the lower ones at least 30 k, 150 k in all. No layer goes inactive (Janus does not fall
    back from a stopped layer)."""
    hd = {"resolution": "HD", "dataSaver": False}
    out = run(("two", "encodingsFor", [TWO, VGA, 480]),
              ("two_saver", "encodingsFor", [TWO, SAVER, 480]),
              ("three", "encodingsFor", [THREE, hd, 720]),
              ("three_saver", "encodingsFor", [THREE, {**hd, "dataSaver": True}, 720]),
              ("plan", "layerPlan", [2, 1_500_000]))
    assert out["two"] == [
        {"rid": "h", "active": True, "maxBitrate": 800_000, "scaleResolutionDownBy": 1},
        {"rid": "l", "active": True, "maxBitrate": 160_000, "scaleResolutionDownBy": 2}]
    assert out["two_saver"] == [
        {"rid": "h", "active": True, "maxBitrate": 120_000, "scaleResolutionDownBy": 2},
        {"rid": "l", "active": True, "maxBitrate": 30_000, "scaleResolutionDownBy": 4}]
    three = out["three_saver"]
    assert [e["scaleResolutionDownBy"] for e in three] == [3, 6, 12]
    assert all(e["active"] for e in three) and sum(e["maxBitrate"] for e in three) == 150_000
    assert min(e["maxBitrate"] for e in three) == 30_000
    assert [e["maxBitrate"] for e in out["three"]] == [1_500_000, 500_000, 150_000]
    # the publish-time plan (sfu_publisher.js simulcastLayers) is the same table
    assert out["plan"][1] == {"rid": "l", "maxBitrate": 300_000, "scaleResolutionDownBy": 2}


def test_differ_only_on_the_fields_we_set():
    want = [{"active": True, "maxBitrate": 150_000, "scaleResolutionDownBy": 2}]
    out = run(("same", "encodingsDiffer", [[{**want[0], "priority": "low"}], want]),
              ("default", "encodingsDiffer", [[{"maxBitrate": 150_000,
                                                 "scaleResolutionDownBy": 2}], want]),
              ("other", "encodingsDiffer", [[{"maxBitrate": 800_000}], want]))
    assert out == {"same": False, "default": False, "other": True}


def test_sending_summary_reports_layers_target_and_the_worst_reason():
    """Outbound video over every connection: bytes add up, inactive layers are left out, the
    worst qualityLimitationReason wins (bandwidth > cpu > other > none)."""
    report_a = [
        {"type": "outbound-rtp", "kind": "video", "rid": "h", "active": False,
         "bytesSent": 1000, "frameWidth": 640, "frameHeight": 480,
         "qualityLimitationReason": "bandwidth"},
        {"type": "outbound-rtp", "kind": "video", "rid": "l", "active": True, "bytesSent": 500,
         "frameWidth": 320, "frameHeight": 240, "targetBitrate": 150_000,
         "qualityLimitationReason": "cpu"},
        {"type": "outbound-rtp", "kind": "audio", "bytesSent": 99}]
    report_b = [{"type": "outbound-rtp", "kind": "video", "bytesSent": 10,
                 "frameWidth": 640, "frameHeight": 480, "targetBitrate": 50_000,
                 "qualityLimitationReason": "none"}]
    out = run(("both", "summarizeSending", [[report_a, report_b]]),
              ("none", "summarizeSending", [[]]))
    assert out["both"] == {"bytesSent": 1510, "targetKbps": 200, "limitation": "cpu",
                           "layers": [{"rid": "", "width": 640, "height": 480},
                                      {"rid": "l", "width": 320, "height": 240}]}
    assert out["none"] == {"bytesSent": 0, "targetKbps": None, "limitation": None,
                           "layers": []}
