"""Who may do what: the permission backend, and the guard on the desk's views."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import backends, get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from backoffice.htmx import HtmxHttpRequest
from payments.models import AuditAction, Operation, Payment
from payments.roles import may
from payments.services.audit import Actor, audit_record

# Where a person's permissions are kept for the rest of the request, as Django's backend does.
_PERM_CACHE = "_perm_cache"


class ModelBackend(backends.ModelBackend):
    """Django's model backend, reading a person's permissions (their own and their groups')
    in one query instead of two, and their desk preferences with the person: every desk page
    checks permissions and writes amounts as the person chose.

    Unlike Django's, it gives a superuser only what they were granted, not every permission:
    Django's `has_perm` lets a superuser through before it asks a backend (the admin relies on
    that), while payments.roles.may() asks the backends alone for the desk's actions."""

    def get_user(self, user_id: int) -> User | None:
        user = (
            get_user_model()._default_manager.select_related("desk_preferences")
            .filter(pk=user_id)
            .first()
        )
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: User | AnonymousUser, obj: Model | None = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cached: set[str] | None = getattr(user_obj, _PERM_CACHE, None)
        if cached is None:
            permissions = Permission.objects.filter(Q(user=user_obj) | Q(group__user=user_obj))
            cached = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                )
                .distinct()
                .order_by()
            }
            setattr(user_obj, _PERM_CACHE, cached)
        return cached


def login_redirect(request: HtmxHttpRequest) -> HttpResponse:
    """Send an anonymous person (never logged in, or their session ended) to the login, to
    come back to the page they were on. An htmx request gets an HX-Redirect: the browser's XHR
    would follow a plain redirect, and htmx would swap the login page into a payment's card."""
    login_url = resolve_url(settings.LOGIN_URL)
    if request.htmx:
        back_to = request.htmx.current_url_abs_path or resolve_url("home")
        return HttpResponseClientRedirect(redirect_to_login(back_to, login_url).url)
    return redirect_to_login(request.get_full_path(), login_url)


def permission_required(
    perm: str, *, refusal: str | None = None, target: type[Payment | Operation] | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Who may use a desk view: people with `perm` (payments.roles.may: superuser status grants
    no refund, cancel or approval). In place of Django's decorator and of
    LoginRequiredMiddleware, for two reasons:

    - anonymous people are sent to the login with login_redirect(), which htmx understands;
    - a POST refused for want of `perm` is an attempted action (a forged form, a page left
      open after a change of role), so it is written to the audit log as `action.refused`,
      naming the object of the URL's `pk`: `target` is Payment or Operation.

    Refuses with 403 and `refusal` as the reason shown (without one, the 403 page says in
    general words that this is not for them).
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_not_required
        @wraps(view)
        def guarded(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return login_redirect(request)
            if not may(request.user, perm):
                if request.method == "POST":
                    _record_refusal(request, refusal or "Not allowed.", target, kwargs.get("pk"))
                # PermissionDenied(None) would be shown as the words "None".
                raise PermissionDenied(*([refusal] if refusal else []))
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def _record_refusal(
    request: HttpRequest, refusal: str, target: type[Payment | Operation] | None, pk: int | None
) -> None:
    found = None
    if target is not None and pk is not None:
        found = target._default_manager.filter(pk=pk).first()
    audit_record(
        actor=Actor.of_request(request),
        action=AuditAction.ACTION_REFUSED,
        payment=found if isinstance(found, Payment) else None,
        operation=found if isinstance(found, Operation) else None,
        message=f"{refusal} ({request.method} {request.path})",
    )
