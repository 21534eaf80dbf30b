"""The gallery's layer policy (js/ui/layers.js, run in Node): everyone "high" in a small grid;
past FEW_TILES only the pinned participant and the active speaker, asked again only on change.
Pure: no sockets, no browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
const [root] = process.argv.slice(1);
const { FEW_TILES, LayerPolicy } = await import(root + "/js/ui/layers.js");
const asked = [];
const policy = new LayerPolicy((key, layer) => { asked.push([key, layer]); });
const grid = (n, pinned = null, active = null) => ({ pinned, active, tiles: new Map(
  ["you", ...Array.from({ length: n }, (_, i) => `p${i}`)].map((key) =>
    [key, { key, local: key === "you" }])) });
const steps = [];
const step = (g) => { asked.length = 0; policy.apply(g); steps.push([...asked]); };
step(grid(3));                  // 4 tiles: few, everyone high
step(grid(3));                  // nothing changed: nothing asked
step(grid(5, null, "p1"));      // 6 tiles: thumbnails, the active one high
step(grid(5, "p4", "p1"));      // pin p4
step(grid(5, null, "p1"));      // unpin
console.log(JSON.stringify({ few: FEW_TILES, steps }));
"""


def test_thumbnails_low_pinned_and_active_high_asked_once() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run([node, "--input-type=module", "-e", SCRIPT, str(ROOT)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["few"] == 4
    few, same, crowd, pin, unpin = result["steps"]
    assert few == [["p0", "high"], ["p1", "high"], ["p2", "high"]]
    assert same == []
    assert sorted(crowd) == [["p0", "low"], ["p2", "low"], ["p3", "low"], ["p4", "low"]]
    assert pin == [["p4", "high"]]
    assert unpin == [["p4", "low"]]
