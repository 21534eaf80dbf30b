"""Camera and microphone pickers on the page with Chromium's fake devices, switched live with
replaceTrack (same connection, no new offer), remembered, and a camera that stops mid-call
reported. What is sent is read from the connection's own sender, and the bot keeps receiving.

Chromium's fake cameras (``device-count=3``): fake_device_0 (I420) and fake_device_2 (MJPEG)
show the colour pie; fake_device_1 is Y16, a depth format WebRTC does not encode, so it is
not used to prove that frames flow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import Page, wait_until
from tests.conftest import UNIT

pytestmark = pytest.mark.media

QUERY = {"autojoin": "1", "processing": "0"}


# what the page's connection to the first peer sends: the sender's camera, its mean spread
# between colour channels (large for the colour pie) and how many frames the encoder made
SENT_JS = """async () => {
  const peer = [...window.zeroNb.peers.values()][0];
  const sender = peer.pc.getSenders().find((s) => s.track && s.track.kind === "video");
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = new MediaStream([sender.track]);
  await video.play();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 48;
  const g = canvas.getContext("2d");
  g.drawImage(video, 0, 0, 64, 48);
  const px = g.getImageData(0, 0, 64, 48).data;
  let spread = 0;
  for (let i = 0; i < px.length; i += 4) {
    spread += Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]);
  }
  video.srcObject = null;
  let frames = 0;
  (await peer.pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") frames = s.framesEncoded;
  });
  return { label: sender.track.label, spread: spread / (px.length / 4), frames };
}"""


def wait_sending(page: Page, camera: str, peer: Any) -> None:
    """Until the page's connection sends ``camera`` (the colour pie) and ``peer`` (at the bot)
    receives 30 more frames of it."""
    wait_until(lambda: (s := page.page.evaluate(SENT_JS))["label"] == camera
               and s["spread"] > 40, 10 * UNIT,
               f"the connection to send {camera} (last {page.page.evaluate(SENT_JS)})")
    start = peer.video.frame_count
    wait_until(lambda: peer.video.frame_count > start + 30, 10 * UNIT,
               f"frames from {camera} at the bot (from {start}, now {peer.video.frame_count})")


def open_menu(page: Page) -> None:
    if not page.page.locator("#controls-bar details.znb-more[open]").count():
        page.page.click("#controls-bar details.znb-more > summary")


def options(page: Page, select: str) -> dict[str, str]:
    return page.page.evaluate("""(sel) => Object.fromEntries([...document.querySelector(sel)
        .options].map((o) => [o.textContent, o.value]))""", select)


def local_device(page: Page, kind: str) -> str:
    return page.page.evaluate("(k) => window.zeroNb.media.currentDevice(k)", kind)


def test_switch_camera_and_mic_live_remembered_and_lost_camera_reported(
        browser: Any, bg_server: Any, bots: Any) -> None:
    bot = bots("dev", "bot")
    context = browser(cameras=3)
    page = Page(context.pages[0] if context.pages else context.new_page(),
                bg_server).open(session="dev", name="alice", **QUERY)
    bot.wait_for_peers(1, timeout=20 * UNIT)
    alice = bot.peer("alice")
    wait_sending(page, "fake_device_0", alice)
    open_menu(page)
    cameras = options(page, "#sel-camera")
    mics = options(page, "#sel-mic")
    assert {"fake_device_0", "fake_device_2"} <= set(cameras), cameras
    assert len(mics) >= 2, mics
    assert page.page.input_value("#sel-camera") == cameras["fake_device_0"]
    before = page.snapshot()["peers"][0]

    # live switch: the same connection now sends the other camera
    page.page.select_option("#sel-camera", label="fake_device_2")
    wait_until(lambda: local_device(page, "video") == cameras["fake_device_2"], 5 * UNIT,
               f"the page to send fake_device_2 (status {page.page.inner_text('#status')!r})")
    wait_sending(page, "fake_device_2", alice)
    mic = next(label for label in mics if label != "Fake Default Audio Input")
    page.page.select_option("#sel-mic", label=mic)
    wait_until(lambda: local_device(page, "audio") == mics[mic], 5 * UNIT, "the chosen mic")
    start = alice.audio.frame_count
    wait_until(lambda: alice.audio.frame_count > start + 50, 10 * UNIT, "audio after the switch")
    after = page.snapshot()["peers"][0]
    assert (after["offersSent"], after["answersSent"], after["restarts"]) == (
        before["offersSent"], before["answersSent"], 0), "a device switch must not renegotiate"
    assert local_device(page, "video") == cameras["fake_device_2"]

    # remembered: the next visit starts with that camera and the chosen mic
    page.page.evaluate("() => window.zeroNb.leave()")
    wait_until(lambda: not bot.peers, 10 * UNIT, "the page to leave")
    page.open(session="dev", name="alice", **QUERY)
    bot.wait_for_peers(1, timeout=20 * UNIT)
    alice = bot.peer("alice")
    wait_sending(page, "fake_device_2", alice)
    assert local_device(page, "audio") == mics[mic]
    open_menu(page)
    assert page.page.input_value("#sel-camera") == cameras["fake_device_2"]

    # the camera stops by itself (unplugged): the page says so
    page.page.evaluate("() => window.zeroNb.media.camera.dispatchEvent(new Event('ended'))")
    status = page.page.locator("#status[data-code='device-lost']")
    status.wait_for(timeout=5000 * UNIT)
    assert "camera" in status.inner_text() and "stopped" in status.inner_text()
    assert page.snapshot()["local"]["video"] is False
    assert not page.console_errors
