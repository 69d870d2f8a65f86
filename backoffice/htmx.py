"""The request the desk's views are given: Django's, with django-htmx's details of the htmx
request (HtmxMiddleware sets `request.htmx` on every request)."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For type annotations only: no request is made of this class."""

    htmx: HtmxDetails
