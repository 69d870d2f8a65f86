"""Times as the desk shows them: in its time zone (settings.TIME_ZONE), saying which."""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()


def zone_description(moment):
    """"Europe/Oslo time (CET, UTC+01:00)": the zone of a local datetime, for its title."""
    offset = moment.strftime("%z")
    return (
        f"{timezone.get_current_timezone_name()} time "
        f"({moment.tzname()}, UTC{offset[:3]}:{offset[3:]})"
    )


@register.filter
def local_time(value, shown="Y-m-d H:i"):
    """A <time> element with `value` in the desk's time zone, named in its title:
    {{ order.created_at|local_time }}, {{ event.created_at|local_time:"Y-m-d H:i:s" }}."""
    if value is None:
        return ""
    moment = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        zone_description(moment),
        date_format(moment, shown),
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
