"""Helpers for the kernel -> page comm tests and benchmark: switch a Conference to the comm,
read its tiles' counters, read a stamped test pattern back at paint time, throttle a tunnel."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

__all__ = ["CANVAS_RGB_JS", "DOWN_STATS_JS", "READ_STAMPS_JS", "READ_VIDEO_STAMPS_JS",
           "USE_COMM_JS", "Throttle", "canvas_rgb", "settle"]

# every Conference on the page takes its tiles' media over the comm
USE_COMM_JS = """(reason) => {
  const views = [...(window.zeroNbWidgets?.conferences ?? [])];
  for (const v of views) v.useComm(reason);
  return views.length;
}"""

DOWN_STATS_JS = """() => {
  const v = [...(window.zeroNbWidgets?.conferences ?? [])][0];
  return v?.down ? v.down.stats() : null;
}"""

# mean RGB of the canvas showing slot `slot` (null before it painted)
CANVAS_RGB_JS = """(slot) => {
  const v = [...(window.zeroNbWidgets?.conferences ?? [])][0];
  const c = v?.down?.videos.get(slot)?.canvas;
  if (!c || !c.width) return null;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
  const n = d.length / 4;
  return sum.map((s) => s / n);
}"""

# The stamp reader (zero_nb.sources.read_stamp in JS) on an RGBA block of a canvas's top rows.
_STAMP_FN = """
const readStamp = (ctx) => {
  const d = ctx.getImageData(0, 0, 128, 24).data;
  let value = 0n;
  for (let bit = 0; bit < 48; bit++) {
    const row = Math.floor(bit / 16), col = bit % 16;
    const y = row * 8 + 4, x = col * 8 + 4;
    let sum = 0;
    for (let dy = -2; dy < 2; dy++) for (let dx = -2; dx < 2; dx++) {
      const i = ((y + dy) * 128 + x + dx) * 4;
      sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
    }
    const patch = sum / 16;
    if (patch > 60 && patch < 195) return null;
    value = (value << 1n) | (patch >= 128 ? 1n : 0n);
  }
  return [Number(value >> 32n), Number(value & 0xFFFFFFFFn)];
};
const ageOf = (sent) => (Date.now() - sent + 2 ** 32) % 2 ** 32;
"""

# Latency samples (ms, paint time minus the stamp's send time) of the comm tile in `slot`:
# installs the hook, returns the samples collected since the last call.
READ_STAMPS_JS = "(slot) => {" + _STAMP_FN + """
  const v = [...(window.zeroNbWidgets?.conferences ?? [])][0];
  const video = v?.down?.videos.get(slot);
  if (!video) return null;
  window.__znbStamps ??= [];
  if (!video.__stamped) {
    video.__stamped = true;
    const ctx = video.canvas.getContext("2d", { willReadFrequently: true });
    video.onPaint = () => {
      const s = readStamp(ctx);
      if (s && ageOf(s[1]) < 60000) window.__znbStamps.push([s[0], ageOf(s[1]), performance.now()]);
    };
  }
  return window.__znbStamps.splice(0);
}"""

# The same at requestVideoFrameCallback of a tile's <video> (today's WebRTC link).
READ_VIDEO_STAMPS_JS = "(key) => {" + _STAMP_FN + """
  const el = document.querySelector(`.znb-tile[data-peer="${key}"] video`);
  if (!el) return null;
  window.__znbVStamps ??= [];
  if (!el.__stamped) {
    el.__stamped = true;
    const c = document.createElement("canvas");
    c.width = 128; c.height = 24;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    const tick = () => {
      if (el.videoWidth) {
        ctx.drawImage(el, 0, 0, 128, 24, 0, 0, 128, 24);
        const s = readStamp(ctx);
        const age = s && ageOf(s[1]);
        if (s && age < 60000) window.__znbVStamps.push([s[0], age, performance.now()]);
      }
      el.requestVideoFrameCallback(tick);
    };
    el.requestVideoFrameCallback(tick);
  }
  return window.__znbVStamps.splice(0);
}"""

def canvas_rgb(page: Any, slot: int) -> list[float] | None:
    return page.evaluate(CANVAS_RGB_JS, slot)  # type: ignore[no-any-return]


class Throttle:
    """A TCP relay on 127.0.0.1 (``port``) to ``target`` whose server -> client direction
    can be limited to ``rate`` bytes/s at any time (None: as fast as it goes), like a slow
    SSH tunnel. Runs its own loop thread; :meth:`close` stops it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.rate: float | None = None
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._server: Any = None

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self._server = self.loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(reader, up_w, False), self._pipe(up_r, writer, True),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    limited: bool) -> None:
        try:
            while data := await reader.read(4096 if limited else 65536):
                writer.write(data)
                await writer.drain()
                rate = self.rate if limited else None
                if rate:
                    await asyncio.sleep(len(data) / rate)
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def settle(seconds: float) -> None:
    """A measuring window (not a synchronisation): let the stream run for ``seconds``."""
    time.sleep(seconds)
