"""Fixtures shared by the whole suite.

Every test talks to a real provider sandbox over HTTP (one server for the session, reset after
each test) and to PostgreSQL. Users come with the roles of the real groups.
"""

import importlib
import itertools
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from payments.providers.tokens import tokens
from payments.sandbox.client import SandboxClient
from payments.sandbox.server import Sandbox, SandboxServer, provider_urls
from payments.services.audit import Actor
from payments.services.orders import NewPayment, order_create
from tests.helpers import bambora_read_without_refunds
from tests.specs.conformance import assert_exchanges_follow_specs


@pytest.fixture(scope="session")
def sandbox_server():
    from django.conf import settings

    server = SandboxServer(
        ("127.0.0.1", 0),
        sandbox=Sandbox(providers_config=settings.PROVIDERS, keep_exchanges=True),
        hang_seconds=30,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def providers_at_sandbox(sandbox_server, settings):
    """Point every adapter at the sandbox; forget its state and our tokens afterwards."""
    urls = provider_urls(sandbox_server.base_url)
    settings.PROVIDERS = {code: {**config, **urls[code]} for code, config in settings.PROVIDERS.items()}
    settings.PROVIDER_TIMEOUT = 5
    yield
    sandbox_server.sandbox.reset()
    tokens.clear()


@pytest.fixture(autouse=True)
def exports_root(settings, tmp_path):
    """Each test's exports in a folder of its own."""
    root = tmp_path / "exports"
    settings.STORAGES = {**settings.STORAGES, "exports": {**settings.STORAGES["exports"], "OPTIONS": {"location": str(root)}}}
    return root


@pytest.fixture(autouse=True)
def exchanges_follow_specs(providers_at_sandbox, sandbox_server, request):
    """After the test: every request the providers received during it and every answer they
    gave follows the provider's spec (tests/specs/SOURCES.md), resets and cleared journals
    notwithstanding. A test that makes an adapter send what the spec refuses, on purpose, says
    why with `@pytest.mark.off_spec_requests("why")`."""
    sandbox_server.sandbox.take_exchanges()
    yield
    marker = request.node.get_closest_marker("off_spec_requests")
    assert_exchanges_follow_specs(
        sandbox_server.sandbox.take_exchanges(), off_spec_requests=marker.args[0] if marker else None
    )


@pytest.fixture
def sandbox(sandbox_server):
    """The sandbox's control API, over HTTP like everything else."""
    return SandboxClient(sandbox_server.base_url)


_numbers = itertools.count(1)


@pytest.fixture
def roles(db):
    """The groups of the roles migration. Tests that flush the database between them (live
    server, browser) lose migration data, so the groups are made again where missing."""
    from django.contrib.auth.models import Permission

    groups = importlib.import_module("payments.migrations.0003_roles").GROUPS
    auditors_also = [
        *importlib.import_module("payments.migrations.0006_auditors_read_notifications").CODENAMES,
        *importlib.import_module("payments.migrations.0012_auditors_read_exports").CODENAMES,
    ]
    managers_also = importlib.import_module("payments.migrations.0019_managers_resolve_operations").CODENAMES
    for name, codenames in groups.items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            codenames = codenames + {"Auditors": auditors_also, "Managers": managers_also}.get(name, [])
            group.permissions.set(
                Permission.objects.filter(content_type__app_label="payments", codename__in=codenames)
            )


@pytest.fixture
def make_user(roles):
    def make(username=None, *, group=None, password="correct horse battery", **fields):
        username = username or f"user{next(_numbers)}"
        user = User.objects.create_user(username=username, password=password, **fields)
        if group:
            user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def agent(make_user):
    return make_user("agent", group="Support agents")


@pytest.fixture
def manager(make_user):
    return make_user("manager", group="Managers")


@pytest.fixture
def auditor(make_user):
    return make_user("auditor", group="Auditors", is_staff=True)


@pytest.fixture
def superuser(make_user):
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def make_payment(db, sandbox):
    """An order with one payment, stored here and (unless `at_provider=False`) set up at the
    sandbox with the same amounts, and with `lines` (NewLine) and `shipping` when given.
    Amounts in minor units."""

    def make(
        provider="vipps",
        *,
        currency="NOK",
        amount=100_000,
        captured=0,
        reference=None,
        at_provider=True,
        customer_name="Kari Nordmann",
        customer_email="kari@example.com",
        lines=(),
        shipping=0,
    ):
        number = f"{next(_numbers):06d}"
        reference = reference or f"test-{provider}-{number}"
        order, _ = order_create(
            number=number,
            customer_name=customer_name,
            customer_email=customer_email,
            currency=currency,
            total=amount,
            payments=[
                NewPayment(provider=provider, reference=reference, amount=amount, captured=captured)
            ],
            actor=Actor.system("tests"),
            lines=lines,
            shipping=shipping,
        )
        if at_provider:
            sandbox.create_payment(
                provider=provider,
                reference=reference,
                currency=currency,
                amount=amount,
                captured=captured,
            )
        return order.payments.get()

    return make


@pytest.fixture
def ledger_is_consistent():
    """After the test: `check_ledger` finds every aggregate equal to its ledger."""
    yield
    call_command("check_ledger")


@pytest.fixture
def clock(monkeypatch):
    """Django's clock (timezone.now), moved on by `clock.advance(seconds)`: time passing for
    what compares stored times (deadlines, ages), without waiting."""
    from django.utils import timezone

    real_now = timezone.now
    offset = [timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])

    class Clock:
        @staticmethod
        def advance(seconds):
            offset[0] += timedelta(seconds=seconds)

    return Clock()


@pytest.fixture
def needing_person(make_payment, sandbox, settings):
    """A Bambora refund of 25.00 EUR by `requester` (a user) that the provider carried out but
    whose answer was lost, and that no check can prove: Bambora's reads show no refunds. One
    check marks it as needing a person. Returns the operation."""
    from payments.services.ledger import new_idempotency_key
    from payments.services.reconcile import payment_reconcile
    from payments.services.refunds import refund_request

    def make(requester, *, amount=2_500):
        settings.NEEDS_PERSON_AFTER_CHECKS = 1
        payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
        sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")
        operation = refund_request(
            payment_id=payment.pk, amount=amount, reason="goodwill", actor=Actor.of_user(requester),
            idempotency_key=new_idempotency_key(),
        )
        sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer",
                             body=bambora_read_without_refunds(payment))
        payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
        operation.refresh_from_db()
        assert operation.needs_person_since is not None, operation.last_check
        return operation

    return make
