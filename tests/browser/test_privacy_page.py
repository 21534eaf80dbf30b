"""The real page in Chromium: its own link joins (and hides the token), a page from another
site is refused with a message naming its origin and the setting, a proxy that keeps Host
still joins, and a listed origin is admitted."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import zero_nb
from tests.browser.helpers import Page
from tests.conftest import UNIT
from zero_nb.signaling.static import asset_dir

pytestmark = pytest.mark.media


@contextmanager
def foreign_site() -> Iterator[str]:
    """The page's own files served from another origin (a site the user happens to open)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(asset_dir()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def host_keeping_proxy(port: int) -> Iterator[int]:
    """A reverse proxy on its own port that forwards bytes as they are: the Host header (and
    the page's origin) name the proxy, as with nginx ``proxy_set_header Host $host``."""
    from zero_nb._loop import LoopThread

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def start() -> asyncio.Server:
        return await asyncio.start_server(relay, "127.0.0.1", 0)

    thread = LoopThread("host-keeping-proxy")  # Playwright's sync API holds the main loop
    server = thread.run(start(), 10.0, "starting the proxy")
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        thread.loop.call_soon_threadsafe(server.close)
        thread.stop()


def test_own_link_joins_and_hides_the_token(call_page, bg_server):
    """The link the server prints joins; the token leaves the address bar but a reload still
    joins, and the invite link carries it."""
    page = call_page().open(session="priv", name="ann", camera="0", mic="0", autojoin="1")
    page.wait_state("joined")
    assert "token=" not in page.page.url
    page.page.reload()
    page.page.wait_for_function("() => window.zeroNb !== undefined", timeout=10_000 * UNIT)
    page.page.click("#join-btn")
    page.wait_state("joined")
    page.page.evaluate("() => document.getElementById('btn-invite').click()")
    status = page.page.locator("#status")
    status.filter(has_text="Invite link").wait_for(timeout=5000 * UNIT)
    assert f"token={bg_server.token}" in status.inner_text()


def test_wrong_or_missing_token_says_what_to_do(call_page, bg_server):
    """No token: open the printed link; a stale token: ask for a fresh link."""
    bare = Page(call_page().page, f"http://127.0.0.1:{bg_server.port}")
    for token, says in ((None, "open the link the server printed"),
                        ("stale", "ask for a fresh link")):
        query = {"session": "t", "name": "eve", "camera": "0", "mic": "0", "autojoin": "1"}
        if token:
            query["token"] = token
        bare.open(**query)
        status = bare.page.locator("#status[data-code='unauthorized']")
        status.wait_for(timeout=5000 * UNIT)
        assert says in status.inner_text()
    assert bg_server.sessions() == {}


def test_page_from_another_site_is_refused_then_admitted_when_listed(call_page):
    """The same page served by another origin cannot join, and is told which setting admits
    it; with that origin in signaling.allowed_origins it joins."""
    with foreign_site() as origin:
        for allowed, joins in (([], False), ([origin], True)):
            server = zero_nb.serve("127.0.0.1", 0, config={"signaling": {
                "allowed_origins": allowed}})
            try:
                page = Page(call_page(server).page, origin).open(
                    session="x", name="eve", camera="0", mic="0", autojoin="1",
                    token=server.token, server=server.address)
                if joins:
                    page.wait_state("joined")
                    continue
                status = page.page.locator("#status[data-code='forbidden-origin']")
                status.wait_for(timeout=5000 * UNIT)
                text = status.inner_text()
                assert origin in text and "signaling.allowed_origins" in text, text
                assert server.sessions() == {}
            finally:
                server.stop()


def test_page_through_a_proxy_that_keeps_host_joins(call_page, bg_server):
    """Through a reverse proxy that keeps Host the page's origin matches: it joins."""
    with host_keeping_proxy(bg_server.port) as port:
        page = Page(call_page().page, f"http://127.0.0.1:{port}").open(
            session="proxied", name="ann", camera="0", mic="0", autojoin="1",
            token=bg_server.token)
        page.wait_state("joined")
        assert [p["name"] for p in bg_server.sessions()["proxied"]] == ["ann"]
