"""Credentials of the shops that send orders: made once, stored as a hash, revocable. Making
and revoking a token are audited, naming who did it."""

import hashlib
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.exceptions import ActionRefused
from payments.models import ApiToken, AuditAction
from payments.services.audit import Actor, audit_record

PREFIX = "bo_"
# Record a token's use at most this often: the intake must not write on every call.
LAST_USE_PRECISION_SECONDS = 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, name: str, actor: Actor) -> tuple[ApiToken, str]:
    """Make a token named `name` and audit it; returns `(api_token, token)`. The token itself
    is not stored anywhere: show it once. Raises ActionRefused when the name is taken."""
    token = PREFIX + secrets.token_urlsafe(32)
    refusal = ActionRefused(f"A token named {name!r} exists already; choose another name.")
    if ApiToken.objects.filter(name=name).exists():
        raise refusal
    try:
        with transaction.atomic(durable=True):
            api_token = ApiToken.objects.create(name=name, token_hash=_hash(token), prefix=token[:10])
            audit_record(
                actor=actor,
                action=AuditAction.API_TOKEN_CREATED,
                message=f"API token {api_token} created.",
            )
    except IntegrityError as error:  # made by someone else a moment ago
        raise refusal from error
    return api_token, token


def api_token_revoke(*, api_token_ids: Iterable[int], actor: Actor) -> int:
    """Revoke the live tokens among `api_token_ids`, each with an audit event; tokens revoked
    already are left as they were. Returns how many were revoked."""
    with transaction.atomic(durable=True):
        live = list(
            ApiToken.objects.select_for_update()
            .filter(pk__in=api_token_ids, revoked_at__isnull=True)
            .order_by("pk")
        )
        ApiToken.objects.filter(pk__in=[api_token.pk for api_token in live]).update(
            revoked_at=timezone.now()
        )
        for api_token in live:
            audit_record(
                actor=actor,
                action=AuditAction.API_TOKEN_REVOKED,
                message=f"API token {api_token} revoked.",
            )
    return len(live)


def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The live ApiToken for `token`, its use recorded; None for an unknown or revoked one."""
    api_token = ApiToken.objects.filter(token_hash=_hash(token), revoked_at__isnull=True).first()
    if api_token is None:
        return None
    now = timezone.now()
    last = api_token.last_used_at
    if last is None or (now - last).total_seconds() >= LAST_USE_PRECISION_SECONDS:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        api_token.last_used_at = now
    return api_token
