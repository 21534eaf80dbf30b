"""The call page's shareable links (zero_nb/signaling/links.py): pure, no sockets."""

from zero_nb.signaling.links import guests_line, jupyter_base_url, page_url, proxy_url


def test_page_url_carries_session_and_token_only_when_given():
    """The query has what is set, nothing else."""
    assert page_url("http://h:8765/") == "http://h:8765/"
    assert page_url("http://h:8765/", token="t k") == "http://h:8765/?token=t+k"
    assert page_url("http://h/", session="lab", token="t") == "http://h/?session=lab&token=t"


def test_hub_base_url_from_the_hubs_environment():
    """JupyterHub: the public URL if given, else host + service prefix, else the prefix."""
    prefix = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}
    assert jupyter_base_url(prefix) == "/user/ada/"
    assert jupyter_base_url({**prefix, "JUPYTERHUB_HOST": "https://ada.hub.org"}) == \
        "https://ada.hub.org/user/ada/"
    assert jupyter_base_url({**prefix, "JUPYTERHUB_PUBLIC_URL": "https://hub.org/user/ada"}) \
        == "https://hub.org/user/ada/"
    assert jupyter_base_url({}) is None  # no hub, no parent Jupyter server


def test_proxy_url_and_the_line_shown_with_it():
    """The link goes under <jupyter>/proxy/PORT/ and its line says media needs a path."""
    link = proxy_url(8765, token="t", jupyter="https://hub.org/user/ada")
    assert link == "https://hub.org/user/ada/proxy/8765/?token=t"
    line = guests_line(link)
    assert line is not None and link in line and "TURN" in line and "Janus" in line
