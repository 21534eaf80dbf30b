"""Quality caps without a network: frame shaping, the bitrate ceiling, the loss rule."""

from __future__ import annotations

import av
import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder

from zero_nb.kernel_rtc.media.quality import FLOOR_BPS, Quality, loss_step


def _frame(width: int = 640, height: int = 480) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")


def test_size_caps_keep_the_aspect_and_never_enlarge():
    q = Quality()
    q.set(width=320, height=240)
    assert q.size_for(640, 480) == (320, 240)
    assert q.size_for(1280, 720) == (320, 180)
    assert q.size_for(160, 120) == (160, 120)
    shaped = q.shape(_frame())
    assert (shaped.width, shaped.height) == (320, 240)


def test_fps_cap_skips_frames_on_a_clock():
    """30 frames offered in one second under fps=10 leave 10, the rest counted."""
    q = Quality()
    q.set(fps=10)
    kept = sum(q.shape(_frame(64, 48), now=i / 30) is not None for i in range(30))
    assert kept == 10 and q.skipped == 20


def test_capped_encoder_goes_below_aiortcs_floor_and_follows_remb_under_the_cap():
    q = Quality()
    q.set(max_kbps=150)
    enc = q.cap_encoder(Vp8Encoder())
    assert enc.target_bitrate == 150_000  # aiortc alone would clamp to 250 k
    enc.target_bitrate = 100_000  # REMB below the cap still lowers it
    assert enc.target_bitrate == 100_000
    enc.target_bitrate = 10_000
    assert enc.target_bitrate == FLOOR_BPS
    q.set()
    enc.target_bitrate = 900_000
    assert enc.target_bitrate == 900_000


def test_loss_rule():
    """Over 10 % loss the limit drops by half the loss; under 2 % it grows 5 %; between,
    it holds; back above the ceiling it disappears."""
    assert loss_step(1_000_000, 0.20, 1_500_000) == pytest.approx(900_000)
    assert loss_step(1_000_000, 0.01, 1_500_000) == pytest.approx(1_050_000)
    assert loss_step(1_000_000, 0.05, 1_500_000) == pytest.approx(1_000_000)
    assert loss_step(1_450_000, 0.0, 1_500_000) is None
    assert loss_step(40_000, 0.9, 1_500_000) == FLOOR_BPS


def _offer() -> tuple[str, int]:
    """An aiortc offer with audio and video, and the video sender's SSRC."""
    import asyncio

    from aiortc import RTCPeerConnection

    async def offer() -> tuple[str, int]:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="sendonly")
        video = pc.addTransceiver("video", direction="sendonly")
        sdp = (await pc.createOffer()).sdp
        await pc.close()
        return sdp, video.sender._ssrc

    return asyncio.run(offer())


@pytest.mark.parametrize("lower", [(1234,), (1234, 5678)], ids=["2 layers", "3 layers"])
def test_an_offer_declares_the_layers_in_one_sim_group(lower):
    """declare_layers: the SIM group (lowest first, high last) and the lower SSRCs' cname go
    in the video section that sends the high SSRC, after its own SSRC lines; audio is
    untouched."""
    from zero_nb.sfu.simulcast import declare_layers

    sdp, high = _offer()
    out = declare_layers(sdp, high, (*lower, high))
    audio, video = out.split("m=video")
    assert "ssrc-group:SIM" not in audio and audio == sdp.split("m=video")[0]
    lines = video.split("\r\n")
    cname = next(line.split("cname:")[1] for line in lines if line.startswith(f"a=ssrc:{high} "))
    sim = lines.index(f"a=ssrc-group:SIM {' '.join(map(str, lower))} {high}")
    assert lines[sim + 1:sim + 1 + len(lower)] == [f"a=ssrc:{s} cname:{cname}" for s in lower]
    assert not any(line.startswith("a=ssrc") for line in lines[sim + 1 + len(lower):])
    assert sum(line.startswith("a=ssrc-group:SIM") for line in out.split("\r\n")) == 1
    with pytest.raises(ValueError, match="no media section"):
        declare_layers(sdp, 42, (*lower, 42))


def test_the_layer_plan_follows_the_frame_height_as_chromium_does():
    """Under 720 lines (or unknown): 2 layers, full and half; from 720 up: 3, lowest first
    at a quarter and a half of the size; frames scale to even sizes."""
    from zero_nb.sfu.simulcast import LOW_KBPS, MID_KBPS, layer_plan, scaled

    assert [s.divisor for s in layer_plan(None)] == [2] == [s.divisor for s in layer_plan(719)]
    assert [(s.divisor, s.kbps) for s in layer_plan(720)] == [(4, LOW_KBPS), (2, MID_KBPS)]
    assert layer_plan(1080) == layer_plan(720)
    hd = _frame(1280, 720)
    assert [(f.width, f.height) for f in (scaled(hd, 2), scaled(hd, 4))] == [
        (640, 360), (320, 180)]
    assert (scaled(_frame(640, 480), 2).width, scaled(_frame(640, 480), 2).height) == (320, 240)
    odd = scaled(_frame(1000, 562), 4)
    assert (odd.width, odd.height) == (250, 140)
    tiny = _frame(6, 6)
    assert scaled(tiny, 4) is tiny and scaled(tiny, 2) is not tiny


def test_the_lower_layers_caps_follow_the_high_layers():
    """2 layers: low 150 kbit/s or a quarter of the high cap; 3 layers: mid 500 kbit/s or a
    third, low 150 kbit/s or a tenth; read live, and the capped encoder follows."""
    from zero_nb.sfu.simulcast import LOW_KBPS, MID_KBPS, _LayerCap, layer_plan

    high = Quality()
    (two_low,) = (_LayerCap(high, s.kbps, s.share) for s in layer_plan(480))
    low, mid = (_LayerCap(high, s.kbps, s.share) for s in layer_plan(720))
    assert two_low.max_bps == low.max_bps == LOW_KBPS * 1000 == _LayerCap(None).max_bps
    assert mid.max_bps == MID_KBPS * 1000
    high.set(max_kbps=1200)
    assert (two_low.max_bps, mid.max_bps, low.max_bps) == (150_000, 400_000, 120_000)
    high.set(max_kbps=200)
    assert (two_low.max_bps, mid.max_bps, low.max_bps) == (50_000, 66_666, 20_000)
    high.set(max_kbps=6000)
    assert (two_low.max_bps, mid.max_bps, low.max_bps) == (150_000, 500_000, 150_000)
    encoder = two_low.cap_encoder(Vp8Encoder())
    high.set(max_kbps=120)
    assert encoder.target_bitrate == 30_000  # the capped encoder reads it on every frame


def test_limitation_names_the_network_only_when_it_binds():
    """"bandwidth" when the loss rule holds the target under the ceiling, or a REMB estimate
    the encoder uses; "none" for the user's own cap, an easy picture, or no limit."""
    from zero_nb.kernel_rtc.media.quality import limitation

    q = Quality()
    enc = q.cap_encoder(Vp8Encoder())
    enc.target_bitrate = 400_000  # REMB: 400 k of aiortc's 1.5 M
    assert limitation(enc, 390) == "bandwidth"
    assert limitation(enc, 250) == "none"  # the picture needs less than REMB grants
    assert limitation(enc, None) == "none"
    q.set(max_kbps=300)  # the user's cap binds, not the network
    assert limitation(enc, 300) == "none"
    enc._zero_nb_loss_bps = 200_000  # the loss rule holds it under the cap
    assert limitation(enc, 195) == "bandwidth"
    assert limitation(enc, 120) == "bandwidth"  # loss is the network, whatever the picture
    enc._zero_nb_loss_bps = 350_000  # a loss limit above the user's cap does not bind
    assert limitation(enc, 300) == "none"
    enc._zero_nb_loss_bps = None
    q.set()
    enc.target_bitrate = 1_500_000
    assert limitation(enc, 1_490) == "none"  # at aiortc's ceiling: nothing holds it back
    assert limitation(object(), 100) is None  # not a capped encoder


def test_data_saver_tightens_caps_and_restores_them():
    """On: at most 150 kbps and 320x240 (tighter caps stay); off: the caps from before."""
    from zero_nb.kernel_rtc.media.quality import DATA_SAVER

    q = Quality()
    q.set(max_kbps=100, width=1280, fps=15)
    q.data_saver(True)
    assert q.as_dict() == {"max_kbps": 100, "width": DATA_SAVER["width"],
                           "height": DATA_SAVER["height"], "fps": 15}
    q.data_saver(True)  # twice on: still restores the caps from before the first
    q.data_saver(False)
    assert q.as_dict() == {"max_kbps": 100, "width": 1280, "height": None, "fps": 15}
    q.data_saver(False)  # off while off: nothing changes
    assert q.as_dict()["width"] == 1280
    q.set()
    q.data_saver(True)
    assert q.as_dict()["max_kbps"] == DATA_SAVER["max_kbps"]


def test_extra_layers_keep_the_high_layers_hooks_but_its_cap():
    """Each lower layer (ExtraLayer) encodes through the high layer's hooks (E2EE...) except
    its cap, which its own cap reads instead; every layer has its own SSRC."""
    import asyncio

    from aiortc import RTCPeerConnection, VideoStreamTrack

    from zero_nb.kernel_rtc.media.encoders import add_encoder_hook
    from zero_nb.sfu.simulcast import ExtraLayer, layer_plan

    def seal(encoder):  # stands for the E2EE hook
        return encoder

    async def layers() -> None:
        pc = RTCPeerConnection()
        video = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        high = Quality()
        add_encoder_hook(video.sender, high.cap_encoder)
        add_encoder_hook(video.sender, seal)
        extra = [ExtraLayer(video, VideoStreamTrack(), spec) for spec in layer_plan(720)]
        assert [layer.hooks for layer in extra] == [[seal], [seal]]
        assert all(layer.quality.high is high for layer in extra)
        high.set(max_kbps=900)
        assert [layer.quality.max_bps for layer in extra] == [90_000, 300_000]
        ssrcs = {video.sender._ssrc, *(layer.ssrc for layer in extra)}
        assert len(ssrcs) == 3
        await pc.close()  # stops the wrapped sender: the extra layers' tracks end with it
        assert all(layer.track.readyState == "ended" for layer in extra)

    asyncio.run(layers())
