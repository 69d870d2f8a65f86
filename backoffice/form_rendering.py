"""How the desk's forms render their fields: with Django's own Jinja2 templates for them (the
same HTML as its Django-template ones at half the cost), and the commonest of those templates,
an input and a select with its options, written out here (a fifth of the cost again). The
refund form's widgets were most of an order page's time (README, "Performance").

What is written here is what Django's Jinja2 templates write, escaped by the same library
(tests/backoffice/test_form_rendering.py holds them to it); any other template, or a widget
given a template of its own, is rendered by Jinja2 as before."""

from django.forms.renderers import Jinja2
from markupsafe import escape

_INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in ("input", "text", "number", "hidden", "checkbox", "email", "password", "search", "url", "tel",
                 "date", "datetime", "time", "color")
)
_SELECT = "django/forms/widgets/select.html"
_OPTION = "django/forms/widgets/select_option.html"


def _attributes(attrs):
    """What django/forms/widgets/attrs.html writes: each attribute, bare when it is True,
    left out when it is False."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget):
    value = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
    return f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"{value}{_attributes(widget["attrs"])}>'


def _option(option):
    return f'<option value="{escape(option["value"])}"{_attributes(option["attrs"])}>{escape(option["label"])}</option>'


def _select(widget):
    parts = [f'<select name="{escape(widget["name"])}"{_attributes(widget["attrs"])}>']
    for group_name, options, _ in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{escape(group_name)}">')
        parts.extend(f"\n  {_option(option)}" for option in options)
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class DeskFormRenderer(Jinja2):
    def render(self, template_name, context, request=None):
        widget = context.get("widget")
        if widget is not None and widget.get("template_name") == template_name:
            if template_name in _INPUT_TEMPLATES:
                return _input(widget)
            if template_name == _SELECT and all(
                option["template_name"] == _OPTION for _, options, _ in widget["optgroups"] for option in options
            ):
                return _select(widget)
        return super().render(template_name, context, request)
