"""pk_path() gives the path {% url %} gives, made from a path reversed once."""

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix

from backoffice.links import pk_path


@pytest.mark.parametrize("view_name", ["order", "payment_card", "approve", "reject", "withdraw", "export_download"])
@pytest.mark.parametrize("prefix", ["/", "/backoffice/"])
def test_the_path_is_what_reverse_gives(view_name, prefix):
    set_script_prefix(prefix)
    try:
        for pk in (1, 42, 10**12):
            assert pk_path(view_name, pk) == reverse(view_name, args=[pk])
    finally:
        set_script_prefix("/")


def test_a_view_without_one_integer_argument_is_refused():
    with pytest.raises(NoReverseMatch):
        pk_path("home", 1)
