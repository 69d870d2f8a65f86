"""Failed logins, behind a TLS proxy as in production: each client is told apart by the address
the proxy saw, the audit log names that address, and repeated failures on a username slow its
logins down (progressive delays) without letting anyone lock its owner out."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from django.urls import reverse

from payments.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"
ATTACKER = "203.0.113.66"
MANAGER_AT_HOME = "198.51.100.7"


@pytest.fixture(autouse=True)
def behind_the_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_DELAY_MAX_SECONDS = 60
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20


def login(username, password, *, client_address, forwarded_for=None):
    """A login through the proxy: it connects from PROXY and appends the client's address."""
    forwarded = f"{forwarded_for}, {client_address}" if forwarded_for else client_address
    return Client().post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def time_passes(seconds):
    """As if `seconds` went by since every failure recorded (django-axes's own rows)."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=seconds))


def test_failures_from_one_client_do_not_lock_out_the_others_behind_the_same_proxy(agent):
    # given: an attacker fails on several names, more than the limit
    for number in range(6):
        login(f"someone{number % 2}", "guess", client_address=ATTACKER)

    # when: an agent logs in from elsewhere, through the same proxy
    response = login("agent", "correct horse battery", client_address=MANAGER_AT_HOME)

    # then: in, and the audit log names each client's own address, never the proxy's
    assert response.status_code == 302
    failed = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED)
    assert set(failed.values_list("ip", flat=True)) == {ATTACKER}
    assert AuditEvent.objects.get(action=AuditAction.LOGIN_SUCCEEDED).ip == MANAGER_AT_HOME


def test_an_address_a_client_writes_into_the_header_itself_is_not_believed(agent):
    login("agent", "correct horse battery", client_address=MANAGER_AT_HOME, forwarded_for="6.6.6.6")

    assert AuditEvent.objects.get(action=AuditAction.LOGIN_SUCCEEDED).ip == MANAGER_AT_HOME


def test_failures_on_a_name_delay_its_logins_progressively_but_never_lock_its_owner_out(manager):
    # given: an attacker guesses the manager's password up to the limit; the last failure
    # answers with the wait it starts
    statuses = [login("manager", "guess", client_address=ATTACKER).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]

    # when: every further guess comes as soon as it may
    waits = []
    for _ in range(8):
        refused = login("manager", "guess", client_address=ATTACKER)
        assert refused.status_code == 429
        waits.append(int(refused["Retry-After"]))
        time_passes(waits[-1])
        assert login("manager", "guess", client_address=ATTACKER).status_code == 429  # failed again

    # then: each wait is twice the one before (give or take the second the test takes), up to
    # LOGIN_DELAY_MAX_SECONDS
    expected = [1, 2, 4, 8, 16, 32, 60, 60]
    assert all(want - 1 <= wait <= want for wait, want in zip(waits, expected, strict=True)), waits
    # and the manager, from home, waits at most that long, then gets in
    at_home = login("manager", "correct horse battery", client_address=MANAGER_AT_HOME)
    assert at_home.status_code == 429
    assert "Try again in" in at_home.content.decode()
    time_passes(60)
    assert login("manager", "correct horse battery", client_address=MANAGER_AT_HOME).status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT, ip=MANAGER_AT_HOME).exists()


def test_many_failures_from_one_address_lock_that_address_out_only(settings, agent, manager):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    for number in range(4):
        login(f"name{number}", "guess", client_address=ATTACKER)

    from_attacker = login("agent", "correct horse battery", client_address=ATTACKER)
    from_elsewhere = login("manager", "correct horse battery", client_address=MANAGER_AT_HOME)

    assert from_attacker.status_code == 429
    assert int(from_attacker["Retry-After"]) > 14 * 60  # LOGIN_LOCKOUT_MINUTES, 15 by default
    assert from_elsewhere.status_code == 302
