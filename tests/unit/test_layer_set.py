"""LayerSet (zero_nb/sfu/simulcast.py): three SIM positions whose SSRCs never change, and
what each sends as the sent height crosses 720 lines. No sockets: a connection with no
offer."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, VideoStreamTrack

from zero_nb.kernel_rtc.media.encoders import add_encoder_hook, hooks_of
from zero_nb.kernel_rtc.media.quality import Quality
from zero_nb.sfu.simulcast import LOW_KBPS, MID_KBPS, LayerSet, scalable


def seal(encoder):  # stands for the E2EE hook
    return encoder


def test_positions_keep_their_ssrcs_and_change_what_they_send():
    """2 layers: low half size, mid (the transceiver's sender) full size under the user's
    cap, high silent; 3 layers: quarter, half under the mid cap, full under the user's
    cap. The SIM group lists low, mid, high whatever the count; one odd height (None)
    changes nothing."""

    async def run() -> None:
        pc = RTCPeerConnection()
        video = pc.addTransceiver(scalable(VideoStreamTrack()), direction="sendonly")
        user = Quality()
        add_encoder_hook(video.sender, user.cap_encoder)
        add_encoder_hook(video.sender, seal)
        layers = LayerSet(video, VideoStreamTrack, 480)
        # the mid position's cap replaced the user's, in place (E2EE still after it)
        assert hooks_of(video.sender) == [layers.mid_cap.cap_encoder, seal]
        user.set(max_kbps=900)

        def state():
            return ([layers.low.track.divisor, layers.mid_track.divisor,
                     layers.high.track.divisor],
                    [layers.low.quality.max_bps, layers.mid_cap.max_bps,
                     layers.high.quality.max_bps])

        assert layers.count == 2
        assert state() == ([2, 1, 0], [LOW_KBPS * 1000, 900_000, 900_000])
        ssrcs = layers.ssrcs
        assert layers.follow(720) and layers.count == 3
        assert state() == ([4, 2, 1], [90_000, 300_000, 900_000])
        user.set(max_kbps=None)
        assert state()[1] == [LOW_KBPS * 1000, MID_KBPS * 1000, None]
        assert not layers.follow(None) and not layers.follow(1080) and layers.count == 3
        assert layers.follow(479) and state()[0] == [2, 1, 0] and layers.ssrcs == ssrcs
        sdp = layers.declare(f"m=video 9 UDP/TLS/RTP/SAVPF 97\r\na=ssrc:{ssrcs[1]} cname:x\r\n")
        assert f"a=ssrc-group:SIM {ssrcs[0]} {ssrcs[1]} {ssrcs[2]}" in sdp
        assert all(f"a=ssrc:{s} cname:" in sdp for s in ssrcs)
        await pc.close()

    asyncio.run(run())


def test_layer_names_follow_the_users_words():
    """Janus' substream index as a layer name: 0 "low", the publisher's top "high" (2 of 3,
    1 of 2 once Janus showed it is the top), 1 of 3 "mid"."""
    from zero_nb.sfu.kernel import layer_name

    assert [layer_name(s, 2) for s in (0, 1, 2)] == ["low", "mid", "high"]
    assert [layer_name(s, 1) for s in (0, 1)] == ["low", "high"]
    assert layer_name(1, None) == "mid" and layer_name(2, None) == "high"
