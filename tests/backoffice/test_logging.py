"""What the console says about requests: a refused one in one line, a crash once with its
traceback. The demo runs with DEBUG on, where Django's own console handler prints too."""

import io
import logging

import pytest
from django.contrib.auth.decorators import login_not_required
from django.test import Client
from django.urls import path

pytestmark = pytest.mark.django_db


@login_not_required
def crash(request):
    raise RuntimeError("a bug")


# A URL whose view fails like a bug would (used with @pytest.mark.urls below).
urlpatterns = [path("crash/", crash)]


@pytest.fixture
def console(settings):
    """What the stream handlers that Django's request log reaches write, as the demo's DEBUG
    has them (Django's own console handler prints only then)."""
    settings.DEBUG = True
    output = io.StringIO()
    swapped = []
    logger = logging.getLogger("django.request")
    while logger:
        for handler in logger.handlers:
            # Exactly StreamHandler: those of the settings (and Django's), not pytest's subclasses.
            if type(handler) is logging.StreamHandler:
                swapped.append((handler, handler.setStream(output)))
        logger = logger.parent if logger.propagate else None
    assert swapped, "no handler prints Django's request log: the test would prove nothing"
    yield output
    for handler, stream in swapped:
        handler.setStream(stream)


def test_a_refused_request_is_one_line_without_traceback(client, agent, console):
    client.force_login(agent)

    assert client.get("/approvals/").status_code == 403

    [line] = console.getvalue().splitlines()
    assert line.endswith(" WARNING django.request Forbidden (Permission denied): /approvals/")


def test_a_page_not_found_is_one_line(client, agent, console):
    client.force_login(agent)

    assert client.get("/payments/999999/").status_code == 404

    [line] = console.getvalue().splitlines()
    assert line.endswith(" WARNING django.request Not Found: /payments/999999/")


@pytest.mark.urls(__name__)
def test_a_crash_is_logged_once_with_its_traceback(console):
    response = Client(raise_request_exception=False).get("/crash/")

    assert response.status_code == 500
    output = console.getvalue()
    assert output.count("Internal Server Error: /crash/") == 1
    assert output.count("Traceback (most recent call last):") == 1
    assert "RuntimeError: a bug" in output

