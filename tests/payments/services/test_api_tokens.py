"""Credentials of the shops that send orders (payments/services/api_tokens.py): shown once and
stored as a hash, a name used once, revoked with an audit event each, use recorded sparingly."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import ApiToken, AuditAction, AuditEvent
from payments.services.api_tokens import api_token_authenticate, api_token_create, api_token_revoke
from payments.services.audit import Actor

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_it_once_stores_a_hash_and_audits_it(capsys):
    call_command("create_api_token", "pos")

    token = capsys.readouterr().out.splitlines()[-1]
    api_token = ApiToken.objects.get(name="pos")
    assert token.startswith("bo_") and len(token) > 40
    assert token not in api_token.token_hash and api_token.token_hash != token
    assert api_token.prefix == token[:10]
    [event] = AuditEvent.objects.filter(action=AuditAction.API_TOKEN_CREATED)
    assert event.actor_label.startswith("system: create_api_token (run by ")
    assert event.message == f"API token pos ({api_token.prefix}…) created."
    assert token not in event.message


def test_create_api_token_refuses_a_name_in_use(capsys):
    call_command("create_api_token", "pos")

    with pytest.raises(CommandError, match="A token named 'pos' exists already"):
        call_command("create_api_token", "pos")

    assert ApiToken.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.API_TOKEN_CREATED).count() == 1


def test_revoking_audits_each_live_token_once_and_leaves_the_others(superuser):
    first, first_token = api_token_create(name="webshop", actor=Actor.system("tests"))
    second, _ = api_token_create(name="pos", actor=Actor.system("tests"))
    untouched, untouched_token = api_token_create(name="app", actor=Actor.system("tests"))

    assert api_token_revoke(api_token_ids=[first.pk, second.pk], actor=Actor.of_user(superuser)) == 2
    assert api_token_revoke(api_token_ids=[first.pk], actor=Actor.of_user(superuser)) == 0

    assert api_token_authenticate(token=first_token) is None
    assert api_token_authenticate(token=untouched_token) == untouched
    revoked = AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED).order_by("pk")
    assert [(event.actor, event.message) for event in revoked] == [
        (superuser, f"API token webshop ({first.prefix}…) revoked."),
        (superuser, f"API token pos ({second.prefix}…) revoked."),
    ]


def test_an_unknown_token_authenticates_nobody():
    api_token_create(name="webshop", actor=Actor.system("tests"))

    assert api_token_authenticate(token="bo_guessed") is None


def test_a_tokens_use_is_recorded_at_most_once_a_minute():
    api_token, token = api_token_create(name="webshop", actor=Actor.system("tests"))
    a_while_ago = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=a_while_ago)

    api_token_authenticate(token=token)
    assert ApiToken.objects.get(pk=api_token.pk).last_used_at == a_while_ago

    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=a_while_ago - timedelta(seconds=31))
    api_token_authenticate(token=token)
    assert ApiToken.objects.get(pk=api_token.pk).last_used_at > a_while_ago
