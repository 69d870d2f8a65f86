"""Which page of a list a desk page shows."""

from django.http import HttpRequest

from payments.selectors import Cursor


def page_cursor(request: HttpRequest) -> Cursor:
    """Where the page asked for starts (?after= or ?before=, a row's id, see
    selectors.page_of); anything else is the first page."""
    bounds = {}
    for name in ("after", "before"):
        value = request.GET.get(name, "")
        if value.isascii() and value.isdigit() and len(value) <= 18:
            bounds[name] = int(value)
    return Cursor(after=bounds.get("after"), before=None if "after" in bounds else bounds.get("before"))
