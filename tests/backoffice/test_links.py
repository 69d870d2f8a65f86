"""pk_path() and {% pk_url %} give the path {% url %} gives, made from a path reversed once."""

from types import ModuleType

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, path, register_converter, reverse, set_script_prefix, set_urlconf

from backoffice.links import pk_path


@pytest.mark.parametrize(
    "view_name",
    ["order", "payment_card", "order_items", "refund", "cancel", "check", "approve", "reject", "withdraw",
     "export_download"],
)
@pytest.mark.parametrize("prefix", ["/", "/backoffice/"])
def test_the_path_is_what_reverse_gives(view_name, prefix):
    set_script_prefix(prefix)
    try:
        for pk in (1, 42, 10**12):
            assert pk_path(view_name, pk) == reverse(view_name, args=[pk])
    finally:
        set_script_prefix("/")


def test_the_template_tag_writes_the_path():
    written = Template("{% load links %}{% pk_url 'refund' payment_id %}").render(Context({"payment_id": 42}))

    assert written == reverse("refund", args=[42])


def test_a_view_without_one_integer_argument_is_refused():
    with pytest.raises(NoReverseMatch):
        pk_path("home", 1)


class HexConverter:
    regex = "[0-9a-f]+"

    def to_python(self, value):
        return int(value, 16)

    def to_url(self, value):
        return format(value, "x")


def test_a_view_that_does_not_write_its_argument_as_given_is_refused():
    register_converter(HexConverter, "hex")
    urls = ModuleType("hex_urls")
    urls.urlpatterns = [path("things/<hex:pk>/", lambda request, pk: None, name="thing")]  # type: ignore[attr-defined]
    set_urlconf(urls)
    try:
        with pytest.raises(ValueError, match="thing does not write"):
            pk_path("thing", 1)
    finally:
        set_urlconf(None)
