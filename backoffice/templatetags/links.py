"""Links to the desk's pages of one object, for pages that list many: {% pk_url "order" order.pk %}
is {% url "order" order.pk %}, made from the view's path reversed once (per script prefix and
URL configuration) instead of once per link. Django's reverse() costs as much as the rest of a
list row (tests/perf/bench.py)."""

from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()

# An argument no URL holds otherwise: where it stands in the reversed path, the pk goes.
_MARKER = 987654321012345678


@lru_cache(maxsize=256)
def _path_around_pk(view_name, script_prefix, urlconf):
    path = reverse(view_name, urlconf=urlconf, args=[_MARKER])
    before, marker, after = path.partition(str(_MARKER))
    if not marker or str(_MARKER) in after:
        raise ValueError(f"{view_name} does not take one integer argument.")
    return before, after


def pk_path(view_name, pk):
    """reverse(view_name, args=[pk]) for a view whose one argument is an integer."""
    before, after = _path_around_pk(view_name, get_script_prefix(), get_urlconf())
    return f"{before}{int(pk)}{after}"


@register.simple_tag
def pk_url(view_name, pk):
    """{% pk_url "order" order.pk %}: the path of `view_name` for `pk`, as {% url %} gives it."""
    return pk_path(view_name, pk)
