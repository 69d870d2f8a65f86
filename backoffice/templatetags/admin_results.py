"""The admin lists' rows, written with what Django's {% result_list %} writes but for a fraction
of its cost: {% quick_result_list cl %} (templates/admin/change_list.html).

Django's items_for_result() works out, for every cell of every row, what kind of column it is,
how to show it, its CSS class and (for the first column) the link to the record, through the
URL resolver. Fifty rows of eleven columns made the payments list cost several times the rest
of the page (tests/perf/bench.py, README "Performance"). Here each column is looked at once per
page, and the link is made from the record page's path reversed once. Lists this module does
not know how to write (editable lists, popups, links to another field) are left to Django's
own code; tests/payments/test_admin.py holds the rows to what Django writes."""

import datetime
import html

from django import template
from django.contrib.admin.templatetags.admin_list import (  # type: ignore[attr-defined]  # _coerce_field_name: private
    ResultList,
    _coerce_field_name,
    items_for_result,
    result_headers,
    result_hidden_fields,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils.safestring import SafeString

register = template.Library()

# A primary key no record has: where it stands in a reversed URL, each row's key goes.
_MARKER = "987654321012345678"


def _column(cl, name, linked):
    """A function of a row giving the column's cell (before escaping) and its extra CSS
    classes, as items_for_result() shows it; None when this module does not know the column."""
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    field = None
    if isinstance(name, str):
        try:
            field = cl.lookup_opts.get_field(name)
        except FieldDoesNotExist:
            field = None
    if field is not None:
        if field.is_relation:
            if not (isinstance(field, models.ForeignKey) and field.concrete):
                return None

            def related(row, name=field.name):
                value = getattr(row, name)
                return (empty if value is None else value), " nowrap"

            return related
        attname = field.attname
        if field.auto_created:
            return lambda row: (display_for_value(_blank_as_empty(getattr(row, attname)), empty), "")
        nowrap = " nowrap" if isinstance(field, (models.DateField, models.TimeField)) else ""
        if getattr(field, "flatchoices", None):
            try:
                choices = dict(field.flatchoices)
            except TypeError:  # list-like choices: Django's own code shows them
                return None
            return lambda row: (choices.get(getattr(row, attname), empty), nowrap)
        if isinstance(field, (models.CharField, models.TextField)):

            def text(row):
                value = getattr(row, attname)
                return (value if value and value.strip() else empty), nowrap

            return text
        return lambda row: (
            display_for_field(_blank_as_empty(getattr(row, attname)), field, empty, avoid_link=linked),
            nowrap,
        )
    if callable(name):
        attr = name
    elif isinstance(name, str) and name != "__str__" and hasattr(model_admin, name):
        attr = getattr(model_admin, name)
    else:
        return None
    boolean = getattr(attr, "boolean", False)
    empty = getattr(attr, "empty_value_display", empty)

    def computed(row):
        value = _blank_as_empty(attr(row))
        if isinstance(value, str) and value and not boolean:
            return value, ""
        nowrap = " nowrap" if isinstance(value, (datetime.date, datetime.time)) else ""
        return display_for_value(value, empty, boolean), nowrap

    return computed


def _escaped(value):
    """conditional_escape() without its check for lazy text, which costs as much as escaping."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _blank_as_empty(value):
    return "" if isinstance(value, str) and value.strip() == "" else value


def _link_to(cl):
    """A function of a row giving the link to its record page, with the list's filters kept,
    as items_for_result() makes it."""
    info = (cl.opts.app_label, cl.opts.model_name)
    url = reverse("admin:%s_%s_change" % info, args=(_MARKER,), current_app=cl.model_admin.admin_site.name)
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    before, marker, after = url.partition(_MARKER)
    if not marker or _MARKER in after:
        return None
    pk = cl.lookup_opts.pk.attname
    return lambda row: f"{before}{quote(getattr(row, pk))}{after}"


def _linked(cl, index, name):
    if cl.list_display_links is None:
        return False
    if index == 0 and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _rows(cl):
    """The rows as items_for_result() writes them, or None when Django's own code must."""
    if getattr(cl, "formset", None) or cl.is_popup or cl.to_field:
        return None
    columns = []
    for index, name in enumerate(cl.list_display):
        linked = _linked(cl, index, name)
        cell = _column(cl, name, linked)
        if cell is None:
            return None
        css_class = "action-checkbox" if name == "action_checkbox" else f"field-{_coerce_field_name(name, index)}"
        columns.append((css_class, cell, linked))
    link = _link_to(cl) if any(linked for _, _, linked in columns) else None
    if link is None and any(linked for _, _, linked in columns):
        return None
    rows = []
    for row in cl.result_list:
        cells, first = [], True
        for css_class, cell, linked in columns:
            shown, extra = cell(row)
            shown = _escaped(shown)
            if linked:
                tag = "th" if first else "td"
                first = False
                cells.append(
                    SafeString(f'<{tag} class="{css_class}{extra}"><a href="{_escaped(link(row))}">{shown}</a></{tag}>')
                )
            else:
                cells.append(SafeString(f'<td class="{css_class}{extra}">{shown}</td>'))
        rows.append(ResultList(None, cells))
    return rows


def quick_result_list(cl):
    """What Django's result_list() gives its template, the rows made by _rows()."""
    headers = list(result_headers(cl))
    rows = _rows(cl)
    if rows is None:
        rows = [ResultList(None, items_for_result(cl, row, None)) for row in cl.result_list]
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": rows,
    }


@register.tag(name="quick_result_list")
def quick_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=quick_result_list, template_name="change_list_results.html", takes_context=False
    )
