"""Failed logins slow down the next ones (django-axes, with this handler deciding).

- Per username, progressive delays: after LOGIN_FAILURE_LIMIT (AXES_FAILURE_LIMIT) failures, each further try waits
  1 s, 2 s, 4 s ... after the last failure, up to LOGIN_DELAY_MAX_SECONDS. Guessing a password
  becomes slow, yet whoever keeps failing on a manager's name keeps them waiting at most that
  long: nobody can lock another person out.
- Per address (the client's own, payments.services.audit.client_ip, never the proxy's):
  LOGIN_ADDRESS_FAILURE_LIMIT failures lock that address out for LOGIN_LOCKOUT_MINUTES.

Failures are remembered for LOGIN_LOCKOUT_MINUTES after the last one (AXES_COOLOFF_TIME); a
successful login forgets those of its username and address.
"""

from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_credentials
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def _failures(attempts: QuerySet[Any]) -> tuple[int, datetime | None]:
    totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    return totals["failures"] or 0, totals["last"]


class ProgressiveDelayHandler(AxesDatabaseHandler):
    """Axes refuses a try while get_failures() reaches AXES_FAILURE_LIMIT; here it does exactly
    while retry_after() says to wait."""

    def retry_after(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> timedelta:
        """How long (a timedelta, zero when not) the person must wait before trying again."""
        by_username, by_address = self.get_user_attempts(request, credentials)
        now = getattr(request, "axes_attempt_time", None) or timezone.now()
        waits = [timedelta(0)]
        failures, last = _failures(by_username)
        if failures >= settings.AXES_FAILURE_LIMIT and last is not None:
            delay = min(
                2 ** min(failures - settings.AXES_FAILURE_LIMIT, 30), settings.LOGIN_DELAY_MAX_SECONDS
            )
            waits.append(last + timedelta(seconds=delay) - now)
        failures, last = _failures(by_address)
        if failures >= settings.LOGIN_ADDRESS_FAILURE_LIMIT and last is not None:
            waits.append(last + settings.AXES_COOLOFF_TIME - now)
        return max(waits)

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        return settings.AXES_FAILURE_LIMIT if self.retry_after(request, credentials) else 0


def wait_page(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The answer to a try refused for now (AXES_LOCKOUT_CALLABLE): 429, saying how long."""
    wait = ProgressiveDelayHandler().retry_after(request, credentials or get_credentials())
    seconds = max(1, int(wait.total_seconds() + 0.999))
    response = render(request, "registration/locked_out.html", {"seconds": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response
