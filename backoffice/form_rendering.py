"""How the desk's forms render their fields: with Django's own Jinja2 templates for them (the
same HTML as its Django-template ones at half the cost), and the commonest of those templates
written out here (a fifth of the cost again): an input, a select with its options, a label, a
field's group (label, help text, errors and widget) and an empty error list. The refund form's
fields were most of an order page's time (README, "Performance").

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
_LABEL = "django/forms/label.html"
_FIELD = "django/forms/field.html"
_ERROR_LISTS = frozenset({"django/forms/errors/list/default.html", "django/forms/errors/list/ul.html"})


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


def _label(context):
    """What django/forms/label.html writes, stripped as Django strips what a template writes:
    the label, in its tag when the field has an id."""
    label = escape(context["label"])
    if not context["use_tag"]:
        return str(label).strip()
    tag = escape(context["tag"])
    attributes = _attributes(context["attrs"]) if context["attrs"] else ""
    return f"<{tag}{attributes}>{label}</{tag}>"


def _field_group(field):
    """What django/forms/field.html writes, line for line, stripped as Django strips what a
    template writes: the label (a legend in a fieldset), the help text, the errors and the
    widget."""
    if field.use_fieldset:
        described = f' aria-describedby="{escape(field.aria_describedby)}"' if field.aria_describedby else ""
        opening = f"\n  <fieldset{described}>\n  {field.legend_tag() if field.label else ''}\n"
    else:
        opening = f"\n  {field.label_tag() if field.label else ''}\n"
    help_text = ""
    if field.help_text:
        help_id = f' id="{escape(field.auto_id)}_helptext"' if field.auto_id else ""
        help_text = f'<div class="helptext"{help_id}>{field.help_text}</div>'
    closing = "</fieldset>" if field.use_fieldset else ""
    return f"{opening}\n{help_text}\n{field.errors}\n{field}\n{closing}".strip()


class DeskFormRenderer(Jinja2):
    def render(self, template_name, context, request=None):
        if template_name == _LABEL:
            return _label(context)
        if template_name == _FIELD:
            return _field_group(context["field"])
        if template_name in _ERROR_LISTS and not context["errors"]:
            return ""
        widget = context.get("widget")
        if widget is not None and widget.get("template_name") == template_name:
            if template_name in _INPUT_TEMPLATES:
                return _input(widget)
            if template_name == _SELECT and all(
                option["template_name"] == _OPTION for _, options, _ in widget["optgroups"] for option in options
            ):
                return _select(widget)
        return super().render(template_name, context, request)
