from collections.abc import Callable
from typing import Any, TypeAlias

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control

from payments.money import money_locale
from payments.services.audit import serving

# Refresh the session's expiry at most this often: an idle timeout accurate to the minute,
# without writing the session on every request.
REFRESH_EVERY_SECONDS = 60

GetResponse: TypeAlias = Callable[[HttpRequest], HttpResponse]


class SessionIdleTimeoutMiddleware:
    """Sessions end after SESSION_IDLE_MINUTES without a request (SESSION_COOKIE_AGE); each
    request that comes more than a minute after the last refresh pushes the end back."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            last = request.session.get("last_seen", 0)
            if now - last >= REFRESH_EVERY_SECONDS:
                request.session["last_seen"] = now
                request.session.set_expiry(settings.SESSION_COOKIE_AGE)
        return self.get_response(request)


def preferred_money_locale(user: User | AnonymousUser) -> str | None:
    """The locale `user` writes and reads amounts in; None: MONEY_LOCALE."""
    preferences = getattr(user, "desk_preferences", None) if user.is_authenticated else None
    return preferences.money_locale if preferences is not None else None


class MoneyLocaleMiddleware:
    """Amounts are written, and read from forms, in the locale the person chose (their
    preferences), else in MONEY_LOCALE."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with money_locale(preferred_money_locale(request.user)):
            return self.get_response(request)


class AuditActorMiddleware:
    """Changes recorded without a service call (people and groups changed in the admin) name
    the person of the request that made them: payments.services.audit.current_actor."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with serving(request):
            return self.get_response(request)


# The largest id a database key holds (PostgreSQL's bigint).
MAX_ID = 2**63 - 1


class HostileInputMiddleware:
    """What no view should have to think of, refused before any view runs:

    - a NUL character anywhere in the query string, which PostgreSQL cannot even compare
      with (400, the bad-request page);
    - an id in the path beyond what a database key holds (404: there is no such thing).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            return render(request, "400.html", status=400)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
                raise Http404("No such thing.")


class NoStoreMiddleware:
    """Nothing the app answers is kept by a browser's or a proxy's cache: desk pages and CSV
    downloads name customers and money, as the admin's pages do (which say so themselves).
    Static files are answered before this runs, by whitenoise, with their own headers."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
