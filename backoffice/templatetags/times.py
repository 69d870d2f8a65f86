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
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{zone_name} time ({abbreviation}, UTC{sign}{hours:02d}:{minutes:02d})"


def zone_description(moment):
    """"Europe/Oslo time (CET, UTC+01:00)": the zone of a local datetime, for its title."""
    return _zone_description(timezone.get_current_timezone_name(), moment.tzname(), moment.utcoffset())


@lru_cache(maxsize=64)
def _escaped_zone_description(zone_name, abbreviation, offset):
    return escape(_zone_description(zone_name, abbreviation, offset))


# Django's date formats, for the few the desk uses, as strftime patterns: a list page shows
# fifty times, and Django's formatter costs as much as the rest of a row.
_STRFTIME = {"Y-m-d H:i": "%Y-%m-%d %H:%M", "Y-m-d H:i:s": "%Y-%m-%d %H:%M:%S", "Y-m-d": "%Y-%m-%d"}


@register.filter
def local_time(value, shown="Y-m-d H:i"):
    """A <time> element with `value` in the desk's time zone, named in its title:
    {{ order.created_at|local_time }}, {{ event.created_at|local_time:"Y-m-d H:i:s" }}."""
    if value is None:
        return ""
    zone = timezone.get_current_timezone()
    moment = timezone.localtime(value, zone)
    pattern = _STRFTIME.get(shown)
    # A strftime pattern of the table writes digits and separators only: nothing to escape.
    text = moment.strftime(pattern) if pattern else escape(date_format(moment, shown))
    # The zone's name comes from the settings; its description is escaped once per zone and offset.
    title = _escaped_zone_description(str(zone), moment.tzname(), moment.utcoffset())
    return mark_safe(f'<time datetime="{moment.isoformat()}" title="{title}">{text}</time>')


@register.simple_tag
def time_zone_name():
    """The desk's time zone, e.g. "Europe/Oslo", for notes such as "times in Europe/Oslo"."""
    return timezone.get_current_timezone_name()
