"""Every URL the app has, the admin's included, walked with hostile values in its path and its
query string, by people of every kind: whatever comes back, it is never a 500."""

import re
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

pytestmark = pytest.mark.django_db

HOSTILE = [
    "\x00", "99999999999999999999999", "-1", "'; DROP TABLE x; --", "<script>alert(1)</script>",
    "\u202e1000\u200b", "a" * 3000, "\r\nX-Y: \uff1d1",
]  # fmt: skip
QUERY_KEYS = ["q", "page", "p", "o", "e", "from", "to", "next", "provider", "currency", "status", "action",
              "actor__id__exact", "created_at__gte", "_changelist_filters"]  # fmt: skip
CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")


def _routes(patterns=None, prefix=""):
    """Every route as a template ("orders/<int:pk>/"); patterns written as regular expressions
    (the admin's app index) are given with a value they take."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + _route_of(pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + _route_of(pattern)


def _route_of(pattern):
    if isinstance(pattern.pattern, RoutePattern):
        return str(pattern.pattern)
    regex = pattern.pattern.regex.pattern.lstrip("^").rstrip("$")
    return re.sub(r"\(\?P<\w+>(\w+)[^)]*\)", r"\1", regex).replace("\\", "")


def _filled(route, value):
    """The route with every parameter set to `value`, where its converter lets it through."""

    def fill(match):
        kind = match["kind"] or "str"
        if kind == "int" and not value.isdigit():
            return "0"
        return quote(value, safe="") if kind != "path" else quote(value, safe="/")

    return "/" + CONVERTER.sub(fill, route)


ROUTES = sorted(set(_routes()))


@pytest.fixture
def people(superuser, manager, make_payment):
    make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    return {"anonymous": None, "manager": manager, "superuser": superuser}


# The manager takes every desk action; the superuser sees every page of the admin.
@pytest.mark.parametrize("role", ["anonymous", "manager", "superuser"])
def test_no_url_answers_500_to_hostile_values(people, role):
    client = Client(raise_request_exception=False)
    if people[role] is not None:
        client.force_login(people[role])
    failures = []

    for route in ROUTES:
        for value in HOSTILE:
            path = _filled(route, value)
            query = {key: value for key in QUERY_KEYS}
            for method in ("GET", "POST"):
                if method == "POST" and "logout" in route:
                    continue  # the walk goes on as the same person
                send = client.get if method == "GET" else client.post
                status = send(path, query).status_code
                # 503 is /readyz saying that no task worker is heard of: an answer, not a failure.
                if status >= 500 and (route, status) != ("readyz", 503):
                    failures.append(f"{method} {path[:120]} {value[:20]!r}: {status}")

    assert failures == []
