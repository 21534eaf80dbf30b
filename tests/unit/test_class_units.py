"""Class pieces without sockets: Janus placement, sfu.url validation, encoded sources, clips."""

from __future__ import annotations

import asyncio
import itertools
import time

import av
import numpy as np
import pytest

from zero_nb import sources
from zero_nb.config import load_config
from zero_nb.errors import ConfigError, SourceError
from zero_nb.kernel_rtc.media.encoded import EncodedAudioSource, EncodedVideoSource, clip_frame
from zero_nb.kernel_rtc.media.local import LocalMedia
from zero_nb.sfu.bridge import Backend, JanusBridge, place
from zero_nb.signaling.sessions import Session


def backends(*counts: int, down: tuple[int, ...] = ()) -> list[Backend]:
    out = []
    for i, n in enumerate(counts):
        b = Backend(f"ws://127.0.0.{i + 1}:8188")
        b.sessions = {f"s{i}-{k}" for k in range(n)}
        b.healthy = i not in down
        out.append(b)
    return out


def test_place_picks_fewest_sessions_first_on_tie():
    """A new session goes to the Janus with the fewest sessions; ties go to the earlier one."""
    assert place(backends(3, 1, 2)).url.endswith(".2:8188")
    assert place(backends(1, 1, 1)).url.endswith(".1:8188")


def test_place_skips_a_janus_that_is_down():
    """A Janus that stopped answering gets no new session, even with the fewest."""
    assert place(backends(0, 5, 9, down=(0,))).url.endswith(".2:8188")


def test_place_with_every_janus_down_still_answers():
    """With none answering, the least loaded is chosen (its failure is then logged)."""
    assert place(backends(4, 2, down=(0, 1))).url.endswith(".2:8188")
    with pytest.raises(ValueError):
        place([])


def test_bridge_spreads_sessions_and_moves_one_off_a_dead_janus():
    """Sessions alternate over two Janus; a joiner of a session on a dead Janus moves it."""
    async def scenario() -> None:
        bridge = JanusBridge(["ws://127.0.0.1:1", "ws://127.0.0.1:2"], health_interval=60)
        hooks = bridge.hooks()
        sessions = [Session(f"s{i}", None) for i in range(4)]
        for s in sessions:
            hooks.created(s)
        urls = [hooks.joined_extra(s)["sfu"]["url"] for s in sessions]
        assert urls == ["ws://127.0.0.1:1", "ws://127.0.0.1:2"] * 2
        bridge.backends[0].healthy = False
        moved = hooks.joined_extra(sessions[0])["sfu"]
        assert moved["url"] == "ws://127.0.0.1:2"
        assert bridge.backend_of("s0") is bridge.backends[1]
        hooks.created(Session("s4", None))
        assert bridge.backend_of("s4") is bridge.backends[1]
        hooks.ended(sessions[1])
        assert "s1" not in bridge.rooms and bridge.backend_of("s1") is None
        for task in list(bridge._tasks) + bridge._watchers:
            task.cancel()
        await asyncio.gather(*bridge._tasks, *bridge._watchers, return_exceptions=True)

    asyncio.run(scenario())


def test_sfu_url_string_or_list():
    """sfu.url takes one ws:// URL or a list; bad or repeated entries name the key."""
    assert load_config({"sfu": {"url": "ws://a:8188"}})["sfu"]["url"] == "ws://a:8188"
    assert load_config({"sfu": {"url": ["ws://a:1", "wss://b:2"]}})["sfu"]["url"][1] == "wss://b:2"
    for bad, where in ((["ws://a:1", "http://b"], "sfu.url[1]"), ([], "empty"),
                       (["ws://a:1", "ws://a:1"], "twice"), ("a:8188", "sfu.url")):
        with pytest.raises(ConfigError, match=where.replace("[", r"\[").replace("]", r"\]")):
            load_config({"sfu": {"url": bad}})


def test_write_test_clip_keyframe_every_second(tmp_path):
    """The clip holds VP8 (+ Opus), a keyframe every second, the colour and the counter."""
    path = sources.write_test_clip(tmp_path / "c.webm", (0, 0, 255), 3, fps=15, tone_hz=440)
    with av.open(str(path)) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp8", "opus"]
        keys = [i for i, p in enumerate(c.demux(video=0)) if p.size and p.is_keyframe]
    assert keys == [0, 15, 30]
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert sources.read_stamp(frames[7]) == (7, 0)
    assert np.abs(frames[7][100:, :].reshape(-1, 3).mean(0) - (0, 0, 255)).max() < 12


def test_moving_clip_keeps_left_half_in_colour():
    """motion=True textures the right half only: the left half still shows the colour."""
    img = clip_frame((10, 200, 30), 5, 320, 240, motion=True)
    assert (img[40:, :160] == (10, 200, 30)).all() and img[:, 160:].std() > 50


def test_encoded_source_rejects_other_codecs(tmp_path):
    """A file in a codec that cannot be sent unchanged says how to convert it."""
    path = tmp_path / "m.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(SourceError, match="vp8 or h264"):
        sources.from_file(path, encoded=True)


def packets(track, seconds: float) -> list[av.Packet]:
    async def run() -> list[av.Packet]:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            out.append(await track.recv())
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("suffix", [".webm", ".ivf", ".mp4", ".ts"])
def test_encoded_video_paced_looping_and_unchanged(tmp_path, suffix):
    """Packets leave at the file's rate, loop with rising pts, and start on a keyframe;
    H.264 arrives with Annex-B start codes."""
    clip = sources.write_test_clip(tmp_path / f"c{suffix}", (255, 0, 0), 1, fps=15)
    video, audio = sources.from_file(clip, loop=True, encoded=True)
    assert isinstance(video, EncodedVideoSource) and audio is None
    got = packets(video.track(), 1.6)
    assert 20 <= len(got) <= 28  # 15 fps for 1.6 s, across the loop point
    assert all(b.pts > a.pts for a, b in itertools.pairwise(got))
    if suffix in (".mp4", ".ts"):
        assert bytes(got[0])[:4] == b"\0\0\0\1"
    video.close()


def test_encoded_audio_and_mute(tmp_path):
    """Opus packets go out every 20 ms with counted pts; muted, a silent packet instead."""
    clip = sources.write_test_clip(tmp_path / "t.webm", (0, 255, 0), 1, tone_hz=440)
    _, audio = sources.from_file(clip, encoded=True)
    assert isinstance(audio, EncodedAudioSource)
    got = packets(audio.track(), 0.5)
    assert 22 <= len(got) <= 28 and got[1].pts - got[0].pts == 960
    audio.mute()
    muted = packets(audio.track(), 0.1)
    assert all(bytes(p) == audio._silence() for p in muted)
    audio.close()


def test_encoded_video_pause_sends_black_keyframes_then_resumes_on_a_keyframe(tmp_path):
    """Paused: a black keyframe every 0.5 s; resumed: the next file packet is a keyframe."""
    clip = sources.write_test_clip(tmp_path / "p.ivf", (255, 0, 0), 2, fps=15)
    video, _ = sources.from_file(clip, loop=True, encoded=True)
    assert video is not None
    track = video.track()
    packets(track, 0.3)
    video.pause()
    black = packets(track, 0.9)
    assert 1 <= len(black) <= 3
    decoder = av.CodecContext.create("vp8", "r")
    img = decoder.decode(black[0])[0].to_ndarray(format="rgb24")
    assert img.shape == (240, 320, 3) and img.max() < 20
    video.resume()
    first = packets(track, 0.01)[0]
    decoder = av.CodecContext.create("vp8", "r")
    assert decoder.decode(first)  # decodes alone: a keyframe
    video.close()


def test_filters_refused_on_encoded_sources(tmp_path):
    """Adding a filter to an encoded source (or the other way round) raises, saying why."""
    clip = sources.write_test_clip(tmp_path / "f.ivf", (255, 0, 0), 1)
    video, _ = sources.from_file(clip, encoded=True)

    async def run() -> None:
        media = LocalMedia("video", video)
        with pytest.raises(SourceError, match="encoded=False"):
            media.add_filter(lambda img: img)
        media.set_source(sources.solid((1, 2, 3), 32, 32, 5))
        media.add_filter(lambda img: img)
        video2, _ = sources.from_file(clip, encoded=True)
        with pytest.raises(SourceError, match="filters need decoded frames"):
            media.set_source(video2)
        media.close()

    asyncio.run(run())
