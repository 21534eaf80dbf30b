"""The ``%zero`` IPython magics, ``zero_nb.plot`` and the example notebooks run end to end."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MEDIA_CONFIG, UNIT, wait_until

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture
def shell():
    """A real IPython InteractiveShell with the zero_nb extension loaded; cleaned up after."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "zero_nb")
    ip.user_ns["CONFIG"] = MEDIA_CONFIG
    yield ip
    run(ip, "stop")
    ip.run_line_magic("unload_ext", "zero_nb")
    for key in ("zero_room", "zero_server", "zero_recording", "CONFIG"):
        ip.user_ns.pop(key, None)


def run(ip, line: str) -> str:
    """Run ``%zero line`` and return what it printed."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        ip.run_line_magic("zero", line)
    return buf.getvalue()


def test_bad_subcommand_prints_one_line(shell):
    """An unknown subcommand or a bad option prints a single line, no traceback."""
    for line in ("frobnicate", "serve --port notanumber", "join"):
        out = run(shell, line)
        assert out.strip() and len(out.strip().splitlines()) == 1, out
        assert "Traceback" not in out


def test_errors_print_one_line_without_room(shell):
    """ZeroNBError (leave/stats with no room) prints one line."""
    for line in ("leave", "stats"):
        out = run(shell, line)
        assert out.strip().splitlines() == [out.strip()] and "not in a room" in out


def test_help_is_the_docstring(shell):
    """``%zero?`` shows the usage docstring."""
    doc = shell.find_line_magic("zero").__doc__
    assert "%zero serve" in doc and "%zero join SESSION" in doc and "%zero status" in doc


def test_serve_status_reload_stop(shell):
    """serve pushes zero_server and prints the page link with its token; status shows both;
    reloading keeps it; stop stops it."""
    out = run(shell, "serve --port 0")
    server = shell.user_ns["zero_server"]
    assert server.address in out and server.running
    assert server.page_url in out and f"?token={server.token}" in server.page_url, out
    assert server.page_url in run(shell, "status")
    shell.run_line_magic("reload_ext", "zero_nb")
    shell.run_line_magic("load_ext", "zero_nb")  # already loaded: harmless
    assert server.address in run(shell, "status")
    assert "already serving" in run(shell, "serve --port 0")
    run(shell, "stop")
    assert not server.running


@pytest.mark.media
def test_join_status_stats_leave(shell):
    """serve, join with a bot peer, status mentions the session and peer, stats, leave."""
    import zero_nb

    run(shell, "serve --port 0")
    out = run(shell, "join magic-lab --name kernel --config CONFIG --no-audio")
    assert "joined 'magic-lab'" in out, out
    room = shell.user_ns["zero_room"]
    bot = zero_nb.join("magic-lab", shell.user_ns["zero_server"], name="bot",
                       video=zero_nb.sources.solid((0, 200, 0), 64, 48, 10),
                       audio=zero_nb.sources.tone(440, -12), config=MEDIA_CONFIG)
    try:
        room.wait_for_peers(1, timeout=20 * UNIT)
        status = run(shell, "status")
        assert "magic-lab" in status and "bot" in status and "kernel" in status, status
        deadline = time.monotonic() + 10 * UNIT
        while "connected" not in status and time.monotonic() < deadline:
            time.sleep(0.2)
            status = run(shell, "status")
        assert "connected" in status, status
        stats = run(shell, "stats")
        assert stats.splitlines()[0].split()[:3] == ["peer", "dir", "kind"], stats
        assert "bot" in stats
        assert "already in" in run(shell, "join other --config CONFIG")
        assert "left 'magic-lab'" in run(shell, "leave")
        assert room.closed
    finally:
        bot.leave()


@pytest.mark.media
def test_record_and_record_stop(shell, tmp_path):
    """record DIR records the session (status says so), a second record and a stop with
    nothing recording say what to do, record stop finishes and the session loads; leave
    finishes a recording still running."""
    import zero_nb

    assert "not in a room" in run(shell, f"record {tmp_path / 'x'}")
    run(shell, "serve --port 0")
    run(shell, "join magic-rec --name kernel --config CONFIG --no-audio")
    room = shell.user_ns["zero_room"]
    bot = zero_nb.join("magic-rec", shell.user_ns["zero_server"], name="bot",
                       video=zero_nb.sources.test_pattern(64, 48, fps=10), config=MEDIA_CONFIG)
    try:
        room.wait_for_peers(1, timeout=20 * UNIT)
        out = run(shell, f"record {tmp_path / 'one'}")
        assert "recording 'magic-rec'" in out and "%zero record stop" in out, out
        recording = shell.user_ns["zero_recording"]
        assert "already recording" in run(shell, f"record {tmp_path / 'two'}")
        assert "recording:" in run(shell, "status")
        bot.send("hi")
        assert wait_until(lambda: any(e["event"] == "chat" for e in
                                      zero_nb.session.load(tmp_path / "one").event_list),
                          10 * UNIT)
        out = run(shell, "record stop")
        assert recording.stopped and "zero_nb.session.load(" in out, out
        session = zero_nb.session.load(tmp_path / "one")
        assert {p.name for p in session.participants.values()} == {"kernel", "bot"}
        assert session.ended is not None
        assert "not recording" in run(shell, "record stop")
        run(shell, f"record {tmp_path / 'three'}")
        out = run(shell, "leave")
        assert shell.user_ns["zero_recording"].stopped and "recorded" in out, out
        assert zero_nb.session.load(tmp_path / "three").ended is not None
    finally:
        bot.leave()


def test_plot_helpers_render():
    """histogram and stats_over_time render to PNG without a display."""
    from zero_nb import plot

    fig = plot.histogram(np.zeros((8, 8, 3), np.uint8))
    assert plot._png(fig).startswith(b"\x89PNG")
    recs = [{"time": t, "name": "a", "peer_id": "p", "kind": "video", "direction": "in",
             "fps": 5.0, "bitrate_kbps": 100.0} for t in range(3)]
    assert plot._png(plot.stats_over_time([recs[:2], recs[2]])).startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        plot.histogram(np.zeros((8, 8)))


@pytest.mark.media
def test_plot_levels_and_live_levels():
    """levels() plots remote audio; live_levels() renders in a thread and stops."""
    import zero_nb
    from zero_nb import plot

    server = zero_nb.serve("127.0.0.1", 0)
    a = zero_nb.join("plot-lab", server, name="a", audio=zero_nb.sources.tone(440, -10),
                     config=MEDIA_CONFIG)
    b = zero_nb.join("plot-lab", server, name="b", audio=zero_nb.sources.tone(660, -30),
                     config=MEDIA_CONFIG)
    try:
        a.wait_for_peers(1, timeout=20 * UNIT)
        time.sleep(1.0)
        ax = plot.levels(a, seconds=5).axes[0]
        assert {ln.get_label() for ln in ax.get_lines()} >= {"b", "a (local)"}
        live = plot.live_levels(a, seconds=5, interval=0.1)
        deadline = time.monotonic() + 10 * UNIT
        while live.frames < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        live.stop()
        assert live.frames >= 2 and not live.running and live.error is None
    finally:
        b.leave()
        a.leave()
        server.stop()


@pytest.mark.media
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    """The notebook runs top to bottom in a fresh kernel with no cell errors."""
    import os

    root = str(path.parents[1])  # the kernel imports this checkout's zero_nb
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=int(120 * UNIT), kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


def test_notebooks_exist():
    """All eight example notebooks are present."""
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08"]
