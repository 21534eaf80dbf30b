"""An unauthorised browser page cannot join a server that needs a token."""

import pytest

import zero_nb
from tests.browser.helpers import Page
from tests.conftest import UNIT

pytestmark = pytest.mark.media


def test_page_without_token_is_refused(call_page):
    """Without the server's token the page shows 'needs an access token' and stays out."""
    server = zero_nb.serve("127.0.0.1", 0, config={"signaling": {"auth": {"token": "T"}}})
    try:
        page = Page(call_page(server).page, f"http://127.0.0.1:{server.port}").open(
            session="locked", name="eve", camera="0", mic="0")  # the address, no token
        page.page.click("#join-btn")
        status = page.page.locator("#status[data-code='unauthorized']")
        status.wait_for(timeout=5000 * UNIT)
        assert "token" in status.inner_text().lower()
        assert server.sessions() == {}
        page = call_page(server).open(session="locked", name="ann", camera="0", mic="0",
                                      token="T")
        page.page.click("#join-btn")
        page.wait_state("joined")
        assert [p["name"] for p in server.sessions()["locked"]] == ["ann"]
    finally:
        server.stop()
