"""Times as the desk shows them: in its time zone (settings.TIME_ZONE), saying which."""

from functools import lru_cache

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@lru_cache(maxsize=64)
def _zone_description(zone_name, abbreviation, offset):
    return f"{zone_name} time ({abbreviation}, UTC{offset[:3]}:{offset[3:]})"


def zone_description(moment):
    """"Europe/Oslo time (CET, UTC+01:00)": the zone of a local datetime, for its title."""
    return _zone_description(timezone.get_current_timezone_name(), moment.tzname(), moment.strftime("%z"))


# Django's date formats, for the few the desk uses, as strftime patterns: a list page shows
# fifty times, and Django's formatter costs as much as the rest of a row.
_STRFTIME = {"Y-m-d H:i": "%Y-%m-%d %H:%M", "Y-m-d H:i:s": "%Y-%m-%d %H:%M:%S", "Y-m-d": "%Y-%m-%d"}


@register.filter
def local_time(value, shown="Y-m-d H:i"):
    """A <time> element with `value` in the desk's time zone, named in its title:
    {{ order.created_at|local_time }}, {{ event.created_at|local_time:"Y-m-d H:i:s" }}."""
    if value is None:
        return ""
    moment = timezone.localtime(value)
    pattern = _STRFTIME.get(shown)
    text = moment.strftime(pattern) if pattern else date_format(moment, shown)
    # Every part is made here: digits, an ISO date, and the zone's name from the settings.
    return mark_safe(
        f'<time datetime="{moment.isoformat()}" title="{escape(zone_description(moment))}">{escape(text)}</time>'
    )


@register.simple_tag
def time_zone_name():
    """The desk's time zone, e.g. "Europe/Oslo", for notes such as "times in Europe/Oslo"."""
    return timezone.get_current_timezone_name()


@register.filter
def time_zone_of(value):
    """The description of the desk's zone at `value`, e.g. for a title beside a date shown
    otherwise: "Europe/Oslo time (CET, UTC+01:00)"."""
    return "" if value is None else zone_description(timezone.localtime(value))
