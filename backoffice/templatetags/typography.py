import re

from django import template
from django.template.defaultfilters import stringfilter

register = template.Library()

# An apostrophe inside a word: "manager's", "doesn't" (not a quotation mark around words).
STRAIGHT_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")


@register.filter(is_safe=True)
@stringfilter
def typographic(text: str) -> str:
    """Text from elsewhere (the services, the providers) written as the desk writes: with the
    typographic apostrophe, {{ event.message|typographic }}: "manager's" -> "manager’s"."""
    return STRAIGHT_APOSTROPHE.sub("’", text)
