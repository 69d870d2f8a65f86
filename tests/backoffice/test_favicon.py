"""Every page names its icon, served from our static files: browsers stop asking for a
/favicon.ico that does not exist (a 404 in the log on every page)."""

import re

import pytest

pytestmark = pytest.mark.django_db


def icon_of(html):
    return re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)[1]


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_pages_link_an_svg_icon_that_is_served(client, url):
    icon = icon_of(client.get(url).content.decode())

    response = client.get(icon)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = b"".join(response.streaming_content) if response.streaming else response.content
    assert svg.startswith(b"<svg ")
    # Loaded under the pages' Content Security Policy (img-src 'self'): same origin, no
    # inline style that a stricter policy would refuse.
    assert icon.startswith("/static/") and b"style" not in svg


def test_the_desk_links_the_icon_too(client, agent):
    client.force_login(agent)

    assert icon_of(client.get("/").content.decode()).startswith("/static/")
