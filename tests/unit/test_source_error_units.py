"""Sources and filters that fail: zero-argument callables, raising, None and bad shapes.

Pure units: a source's own track is pulled directly (no peers, no sockets).
"""

import asyncio

import av
import numpy as np

from zero_nb import sources
from zero_nb.kernel_rtc.frames import as_rgb
from zero_nb.kernel_rtc.media.feeds import AudioFeed
from zero_nb.kernel_rtc.media.local import FilterChain

RED = np.zeros((32, 48, 3), np.uint8)
RED[:] = (255, 0, 0)


def pull(source, n):
    """``n`` frames from the source's track, as the room's output track would pull them."""
    async def run():
        track = source.track()
        return [await track.recv() for _ in range(n)]
    try:
        return asyncio.run(run())
    finally:
        source.close()


def test_zero_argument_callable_and_index_callable():
    """``from_frames(lambda: img)`` and ``from_frames(lambda i: img)`` both make frames."""
    for make in (lambda: RED, lambda i: RED, lambda *a: RED, lambda i=0: RED):
        src = sources.from_frames(make, fps=200)
        frames = pull(src, 2)
        assert src.errors == 0
        assert frames[0].to_ndarray(format="rgb24")[0, 0, 0] > 200
    seen = []
    src = sources.from_frames(lambda i: seen.append(i) or RED, fps=200)
    pull(src, 3)
    assert seen == [0, 1, 2]


def fail_then_recover(make_bad, n=5):
    """A source that makes RED, then ``make_bad()`` for ``n`` frames, then RED again."""
    state = {"bad": False}
    reports = []
    src = sources.from_frames(lambda i: make_bad() if state["bad"] else RED, fps=200)
    src.on_error = reports.append

    async def run():
        track = src.track()
        await track.recv()
        state["bad"] = True
        failing = [await track.recv() for _ in range(n)]
        state["bad"] = False
        return failing, await track.recv()

    try:
        failing, back = asyncio.run(run())
    finally:
        src.close()
    return src, reports, failing, back


def test_raising_none_and_bad_shape_send_black_report_once_and_recover():
    """A failing producer is counted per frame, reported once per failure with the
    exception's text, sends black meanwhile and is called again until it works."""
    def unplugged():
        raise OSError("camera unplugged")

    cases = ((unplugged, "camera unplugged"), (lambda: None, "None"),
             (lambda: np.zeros((4,), np.uint8), "shape"))
    for make_bad, needle in cases:
        src, reports, failing, back = fail_then_recover(make_bad)
        assert src.errors == 5 and needle in src.last_error, (needle, src.last_error)
        assert len(reports) == 1 and needle in reports[0], reports
        assert all(f.to_ndarray(format="rgb24").max() < 30 for f in failing), needle
        assert (failing[0].width, failing[0].height) == (48, 32)  # black at the last size
        assert back.to_ndarray(format="rgb24")[0, 0, 0] > 200
        assert [f.pts for f in failing] == sorted(f.pts for f in failing)


def test_raising_audio_source_sends_silence_and_recovers():
    """An audio source that raises sends silence, reports once, and comes back."""
    state = {"fail": False}
    tone = sources.tone(440, -6)._make

    def make(i):
        if state["fail"]:
            raise RuntimeError("mic gone")
        return tone(i)

    reports = []
    src = sources.AudioSource(make, label="flaky mic")
    src.on_error = reports.append

    async def run():
        track = src.track()
        state["fail"] = True
        failing = [await track.recv() for _ in range(3)]
        state["fail"] = False
        return failing, await track.recv()

    try:
        failing, back = asyncio.run(run())
    finally:
        src.close()
    assert src.errors == 3 and len(reports) == 1 and "mic gone" in reports[0]
    assert "flaky mic" in reports[0]
    assert all(np.all(AudioFeed.to_float(f) == 0) for f in failing)
    assert isinstance(back, av.AudioFrame) and AudioFeed.level_of(AudioFeed.to_float(back)) > -7


def test_filter_failure_reported_once_per_failure_and_recovers():
    """A filter that raises is skipped (the frame goes on), reported once until it works."""
    reports = []
    chain = FilterChain(reports.append)
    state = {"fail": True}

    def paint(img):
        if state["fail"]:
            raise ValueError("model not loaded")
        return np.zeros_like(img)

    chain.add(paint)
    for _ in range(3):
        assert chain(RED, as_rgb) is RED
    assert len(reports) == 1 and "model not loaded" in reports[0] and "paint" in reports[0]
    state["fail"] = False
    assert chain(RED, as_rgb).max() == 0
    state["fail"] = True
    chain(RED, as_rgb)
    assert len(reports) == 2  # a new failure after a recovery is reported again
    assert chain.stats()[0]["errors"] == 4
