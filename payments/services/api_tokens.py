"""Credentials of the shops that send orders: made once, stored as a hash, revocable."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from payments.models import ApiToken

PREFIX = "bo_"
# Record a token's use at most this often: the intake must not write on every call.
LAST_USE_PRECISION_SECONDS = 60


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, name):
    """Make a token named `name`; returns `(api_token, token)`. The token itself is not
    stored anywhere: show it once."""
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        api_token = ApiToken.objects.create(name=name, token_hash=_hash(token), prefix=token[:10])
    return api_token, token


def api_token_authenticate(*, token):
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
