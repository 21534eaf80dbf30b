"""The browser's E2EE code (js/rtc/e2ee*.js, run by Node's WebCrypto) and the kernel's
(zero_nb.kernel_rtc.e2ee.crypto) read and write one frame format. Pure: no sockets, no browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from zero_nb.kernel_rtc.e2ee.crypto import FrameSealer, Keyring, open_frame

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

# Runs the worker script js/rtc/e2ee.js would start (``workerSource()``) in Node, with
# ``self`` = globalThis: seals the given frames and opens the given sealed ones through the
# worker's own stream pipeline.
SCRIPT = """
const [root, input] = process.argv.slice(1);
const { deriveKey } = await import(root + "/js/rtc/e2ee.js");
const { workerSource } = await import(root + "/js/rtc/e2ee-worker.js");
const job = JSON.parse(input);
const states = [];
globalThis.self = globalThis;
globalThis.postMessage = (m) => { if (m.type === "state") states.push(m.state); };
new Function(workerSource())();
globalThis.onmessage({ data: { type: "key", keyId: 0,
  key: await deriveKey(job.passphrase, job.session) } });
async function run(op, kind, frames) {
  const out = [];
  const readable = new ReadableStream({ start(c) {
    for (const hex of frames) c.enqueue({ data: Uint8Array.from(Buffer.from(hex, "hex")).buffer,
      getMetadata: () => ({}) });
    c.close(); } });
  const done = new Promise((resolve) => {
    const writable = new WritableStream({
      write(f) { out.push(Buffer.from(f.data).toString("hex")); }, close: resolve });
    globalThis.onmessage({ data: { type: "streams", op, kind, id: 1, readable, writable } });
  });
  await done;
  return out;
}
const result = {};
for (const [name, op, kind, frames] of job.runs) result[name] = await run(op, kind, frames);
result.states = states;
console.log(JSON.stringify(result));
"""


def _node(job: dict) -> dict:
    if NODE is None:
        pytest.skip("node is not installed")
    done = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT, str(ROOT), json.dumps(job)],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


KEYFRAME = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0xA0, 0x00, 0x78, 0x00]) + bytes(range(90))
DELTA = bytes([0x31, 0x04, 0x00]) + bytes(range(40))
OPUS = bytes([0x78]) + bytes(range(60))


def test_browser_sealed_frames_open_in_the_kernel() -> None:
    """Frames sealed by the browser worker open with the kernel's key for the same passphrase
    and session, with the codec header bytes in clear."""
    out = _node({"passphrase": "s3cret", "session": "lab", "runs": [
        ["video", "encrypt", "video", [KEYFRAME.hex(), DELTA.hex()]],
        ["audio", "encrypt", "audio", [OPUS.hex()]]]})
    ring = Keyring.from_passphrase("s3cret", "lab")
    key, delta = (bytes.fromhex(h) for h in out["video"])
    assert key[:10] == KEYFRAME[:10] and delta[:3] == DELTA[:3]
    assert open_frame(ring, "VP8", key) == KEYFRAME
    assert open_frame(ring, "VP8", delta) == DELTA
    assert open_frame(ring, "OPUS", bytes.fromhex(out["audio"][0])) == OPUS


def test_kernel_sealed_frames_open_in_the_browser_and_wrong_keys_drop() -> None:
    """Frames sealed by the kernel open in the browser worker ("ok"); under another
    passphrase they are dropped and the worker says "wrong-key"."""
    sealer = FrameSealer(Keyring.from_passphrase("s3cret", "lab"))
    sealed = [sealer.seal("VP8", KEYFRAME).hex(), sealer.seal("VP8", DELTA).hex()]
    good = _node({"passphrase": "s3cret", "session": "lab",
                  "runs": [["video", "decrypt", "video", sealed]]})
    assert [bytes.fromhex(h) for h in good["video"]] == [KEYFRAME, DELTA]
    assert good["states"] == ["ok"]
    bad = _node({"passphrase": "s3cret", "session": "other-session",
                 "runs": [["video", "decrypt", "video", sealed]]})
    assert bad["video"] == [] and bad["states"] == ["wrong-key"]
