"""A recorded session exported to ELAN and Praat, read back by pympi and praatio (the
manifest written by hand, so every tier and time is known; the media path is tested in
tests/integration/test_session_recording.py)."""

import json
import sys

import pytest

import zero_nb.session
from zero_nb.errors import MissingExtra

pympi = pytest.importorskip("pympi")
textgrid = pytest.importorskip("praatio.textgrid")


def _session(tmp_path):
    out = tmp_path / "call"
    out.mkdir()
    lines = [
        {"type": "session", "version": 1, "session": "lab", "self": "k1", "name": "me",
         "started_unix": 1.7e9, "started_utc": "2023-11-14T22:13:20+00:00",
         "monotonic_origin": 100.0, "clock": "offset-per-file"},
        {"type": "participant", "participant": "local", "name": "me", "kind": "kernel",
         "segment": 0, "file": "me-local-0.webm", "offset": 0.0,
         "codecs": {"video": "vp8", "audio": "opus"}, "fps": 30},
        {"type": "participant", "participant": "p2", "name": "ann", "kind": "peer",
         "segment": 0, "file": "ann-p2-0.webm", "offset": 0.25,
         "codecs": {"video": "vp8", "audio": "opus"}, "fps": 30},
        {"type": "event", "t": 0.25, "event": "join", "participant": "p2", "name": "ann"},
        {"type": "event", "t": 1.0, "event": "speaking-start", "participant": "local"},
        {"type": "event", "t": 2.5, "event": "speaking-end", "participant": "local"},
        {"type": "event", "t": 2.0, "event": "speaking-start", "participant": "p2"},
        {"type": "event", "t": 3.0, "event": "chat", "participant": "p2", "name": "ann",
         "data": "hello", "to": None},
        {"type": "event", "t": 3.5, "event": "chat", "participant": "local", "name": "me",
         "data": "hi ann", "to": None},
        {"type": "participant", "participant": "p3", "name": "bo", "kind": "peer",
         "segment": 0, "file": "bo-p3-0.webm", "offset": 4.0,
         "codecs": {"video": "vp8", "audio": None}, "fps": 30},
        {"type": "event", "t": 4.0, "event": "join", "participant": "p3", "name": "bo"},
        {"type": "event", "t": 5.0, "event": "leave", "participant": "p2"},
        {"type": "end", "t": 6.0},
    ]
    (out / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return zero_nb.session.load(out)


def test_speech_segments_close_at_end_or_leave(tmp_path):
    session = _session(tmp_path)
    assert session.speech_segments() == {"local": [(1.0, 2.5)], "p2": [(2.0, 5.0)], "p3": []}
    assert session.duration == 6.0


def test_elan_export_reads_back_with_tiers_times_and_media(tmp_path):
    session = _session(tmp_path)
    path = session.to_elan(tmp_path / "call" / "call.eaf")
    eaf = pympi.Elan.Eaf(str(path))
    assert set(eaf.get_tier_names()) == {"me", "ann", "bo", "chat"}
    assert eaf.get_annotation_data_for_tier("me") == [(1000, 2500, "speech")]
    assert eaf.get_annotation_data_for_tier("ann") == [(2000, 5000, "speech")]
    assert eaf.get_annotation_data_for_tier("bo") == []
    # a chat message lasts until the next one (or 2 s)
    assert sorted(eaf.get_annotation_data_for_tier("chat")) == [
        (3000, 3500, "ann: hello"), (3500, 5500, "me: hi ann")]
    media = {m["RELATIVE_MEDIA_URL"]: m for m in eaf.get_linked_files()}
    assert set(media) == {"./me-local-0.webm", "./ann-p2-0.webm", "./bo-p3-0.webm"}
    # ELAN's time origin: the media time at annotation (session) time 0
    assert int(media["./bo-p3-0.webm"]["TIME_ORIGIN"]) == -4000
    assert int(media["./ann-p2-0.webm"]["TIME_ORIGIN"]) == -250
    assert all(m["MIME_TYPE"] == "video/webm" and m["MEDIA_URL"].startswith("file:///")
               for m in media.values())
    assert eaf.get_parameters_for_tier("ann")["PARTICIPANT"] == "ann"


def test_praat_export_reads_back(tmp_path):
    session = _session(tmp_path)
    path = session.to_praat(tmp_path / "call.TextGrid")
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert list(grid.tierNames) == ["me", "ann", "bo", "chat"]
    assert (grid.minTimestamp, grid.maxTimestamp) == (0, 6.0)
    assert [tuple(e) for e in grid.getTier("me").entries] == [(1.0, 2.5, "speech")]
    assert [tuple(e) for e in grid.getTier("ann").entries] == [(2.0, 5.0, "speech")]
    assert list(grid.getTier("bo").entries) == []
    assert [tuple(e) for e in grid.getTier("chat").entries] == [
        (3.0, "ann: hello"), (3.5, "me: hi ann")]


def test_repeated_names_get_distinct_tiers(tmp_path):
    session = _session(tmp_path)
    session.participants["p3"].name = "ann"
    eaf = pympi.Elan.Eaf(str(session.to_elan(tmp_path / "x.eaf")))
    assert set(eaf.get_tier_names()) == {"me", "ann (p2)", "ann (p3)", "chat"}


@pytest.mark.parametrize(("module", "export"), [("pympi", "to_elan"),
                                                ("praatio.textgrid", "to_praat")])
def test_missing_package_names_the_extra(tmp_path, monkeypatch, module, export):
    session = _session(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(MissingExtra, match=r"zero_nb\[analysis\]"):
        getattr(session, export)(tmp_path / "out")
