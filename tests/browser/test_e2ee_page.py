"""E2EE between the web page (Chromium, WebCrypto in a worker) and kernels: one frame format."""

from __future__ import annotations

import pytest

import zero_nb
from tests import sfu_support
from tests.browser.helpers import wait_until
from tests.conftest import MEDIA_CONFIG, UNIT
from zero_nb import sources

pytestmark = pytest.mark.media

janus = sfu_support.janus
sfu_server = sfu_support.sfu_server
GREEN = (0, 255, 0)

# Mean colour of every playing remote <video> on the page (drawn to a canvas).
VIDEO_COLOURS_JS = """() => [...document.querySelectorAll('video')]
  .filter((v) => v.videoWidth > 0)
  .map((v) => {
    const c = document.createElement('canvas');
    c.width = 32; c.height = 24;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 32, 24);
    const d = g.getImageData(0, 0, 32, 24).data;
    const m = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
    return m.map((x) => x / (d.length / 4));
  })"""

PEER_E2EE_JS = """() => Object.fromEntries([...window.zeroNb.peers.values()]
  .map((p) => [p.name, p.e2ee ?? null]))"""


def _is(rgb, target, tol=40):
    return rgb is not None and all(abs(a - b) < tol for a, b in zip(rgb, target, strict=True))


def _is_red(img):
    rgb = None if img is None else img.reshape(-1, 3).mean(axis=0)
    return rgb is not None and rgb[0] > 200 and rgb[1] < 50 and rgb[2] < 50


def _open(page, session, passphrase):
    url = page.url(session=session, name="alice", autojoin="1", processing="0")
    fragment = "" if passphrase is None else f"#e2ee={passphrase}"
    page.page.goto(f"{url}{fragment}")
    page.page.wait_for_function("() => window.zeroNb !== undefined", timeout=10_000 * UNIT)
    return page


@pytest.mark.parametrize("topology", ["mesh", "sfu"])
def test_page_and_kernel_exchange_encrypted_media(request, call_page, topology):
    """Same passphrase: the page shows the kernel's green, the kernel gets the page's red
    clip, both through E2EE (peer.e2ee "ok" on both sides), mesh and through Janus."""
    server = request.getfixturevalue("bg_server" if topology == "mesh" else "sfu_server")
    support = request.getfixturevalue("e2ee_support")
    if support is None:
        pytest.fail("headless Chromium has no frame-transform API", pytrace=False)
    bot = zero_nb.join(f"e2{topology}", server.url, name="green", config=MEDIA_CONFIG,
                       e2ee="s3cret", video=sources.solid(GREEN, 160, 120, fps=15),
                       audio=sources.tone(440, -12))
    try:
        page = _open(call_page(server), f"e2{topology}", "s3cret")
        page.wait_decoding(["green"], 30 * UNIT)
        wait_until(lambda: any(_is(c, GREEN) for c in page.page.evaluate(VIDEO_COLOURS_JS)),
                   10 * UNIT, "the page to show the kernel's green")
        assert page.page.evaluate(PEER_E2EE_JS)["green"] == "ok"
        wait_until(lambda: bot.peer("alice") and _is_red(bot.peer("alice").video.latest()),
                   20 * UNIT, "the kernel to receive the page's red clip")
        assert bot.peer("alice").e2ee == "ok"
        assert not page.console_errors
    finally:
        bot.leave()


def test_page_with_wrong_key_sees_nothing(call_page, bg_server):
    """Another passphrase on the page: it decodes no frame from the kernel, says "wrong-key"
    and its tile shows "encrypted — wrong key" over the video; the kernel says the same
    about the page."""
    bot = zero_nb.join("e2wrong", bg_server.url, name="green", config=MEDIA_CONFIG,
                       e2ee="s3cret", video=sources.solid(GREEN, 160, 120, fps=15))
    try:
        page = _open(call_page(bg_server), "e2wrong", "not-it")
        wait_until(lambda: page.page.evaluate(PEER_E2EE_JS).get("green") == "wrong-key",
                   20 * UNIT, "the page to report wrong-key")
        notice = page.page.locator(".znb-tile:not(.znb-local) .znb-notice")
        notice.wait_for(state="visible", timeout=10_000 * UNIT)
        assert notice.inner_text() == "encrypted — wrong key"
        stats = page.peer_stats()
        assert stats["green"]["frames"] == 0
        wait_until(lambda: bot.peer("alice") and bot.peer("alice").e2ee == "wrong-key",
                   20 * UNIT, "the kernel to report wrong-key")
        assert bot.peer("alice").video.frame_count == 0
    finally:
        bot.leave()


@pytest.mark.parametrize("topology", ["mesh", "sfu"])
def test_page_without_key_says_how_to_add_it(request, call_page, topology):
    """No passphrase on the page, a kernel that encrypts (its media state says so): the page
    says "no-key", the tile reads "encrypted — no key" with how to add #e2ee=, and its sound
    is muted rather than ciphertext played as noise — mesh and through Janus."""
    server = request.getfixturevalue("bg_server" if topology == "mesh" else "sfu_server")
    bot = zero_nb.join(f"e2nokey{topology}", server.url, name="green", config=MEDIA_CONFIG,
                       e2ee="s3cret", video=sources.solid(GREEN, 160, 120, fps=15),
                       audio=sources.tone(440, -12))
    try:
        page = _open(call_page(server), f"e2nokey{topology}", None)
        wait_until(lambda: page.page.evaluate(PEER_E2EE_JS).get("green") == "no-key",
                   20 * UNIT, "the page to report no-key")
        notice = page.page.locator(".znb-tile:not(.znb-local) .znb-notice")
        notice.wait_for(state="visible", timeout=10_000 * UNIT)
        text = notice.inner_text()
        assert text.startswith("encrypted — no key") and "#e2ee=" in text, text
        assert page.page.locator(".znb-tile:not(.znb-local) audio").evaluate("a => a.muted")
    finally:
        bot.leave()


@pytest.fixture
def e2ee_support(call_page, bg_server):
    """Which frame-transform API headless Chromium offers here (None: neither)."""
    page = call_page(bg_server).open()
    return page.page.evaluate(
        "async () => (await import('/rtc/e2ee.js')).e2eeSupport()")
