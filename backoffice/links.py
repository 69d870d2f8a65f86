"""Links to the desk's pages of one object, for the lists written in Python
(backoffice/templatetags/lists.py) and the order page's forms ({% pk_url %}): pk_path("order",
order.pk) is {% url "order" order.pk %}, made from the view's path reversed once (per script
prefix and URL configuration) instead of once per link. Django's reverse() costs as much as the
rest of a list row (tests/perf/bench.py)."""

from functools import lru_cache

from django.urls import get_script_prefix, get_urlconf, reverse

# An argument no URL holds otherwise: where it stands in the reversed path, the pk goes.
_MARKER = 987654321012345678


@lru_cache(maxsize=256)
def _path_around_pk(view_name, script_prefix, urlconf):
    # NoReverseMatch for a view that does not take one argument; a view that does not write it
    # into its path as given would have its pk put in the wrong place.
    before, marker, after = reverse(view_name, urlconf=urlconf, args=[_MARKER]).partition(str(_MARKER))
    if not marker or str(_MARKER) in after:
        raise ValueError(f"{view_name} does not write its one integer argument into its path.")
    return before, after


def pk_path(view_name, pk):
    """reverse(view_name, args=[pk]) for a view whose one argument is an integer."""
    before, after = _path_around_pk(view_name, get_script_prefix(), get_urlconf())
    return f"{before}{int(pk)}{after}"
