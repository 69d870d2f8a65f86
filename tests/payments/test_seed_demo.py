"""The demo's data: every provider, the promised currencies and states, consistent with the
sandbox, created once."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from payments.models import Order, Payment
from payments.selectors import needs_attention_queue, order_refund_offer
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, sandbox_server, roles):
    settings.SANDBOX_URL = sandbox_server.base_url
    call_command("seed_demo")


def test_the_demo_covers_every_provider_currency_and_state(seeded, sandbox):
    payments = list(Payment.objects.all())

    assert {p.provider for p in payments} == {"bambora", "optty", "simpleps", "vipps"}
    assert {p.currency for p in payments} >= {"NOK", "EUR", "SEK", "DKK", "AUD", "USD", "JPY"}
    assert {p.status for p in payments} >= {
        "authorized", "partly captured", "captured", "partly refunded", "refunded", "cancelled",
    }
    statuses = {op.status for p in payments for op in p.operations.all()}
    assert {OperationStatus.UNKNOWN, OperationStatus.AWAITING_APPROVAL} <= statuses
    assert [item.operation.payment.order.number for item in needs_attention_queue(user=User(pk=0)).items] == ["DEMO-1021"]
    for payment in payments:
        at_provider = sandbox.payment(provider=payment.provider, reference=payment.reference)
        assert at_provider["captured"] == payment.captured, payment.order.number
        assert at_provider["cancelled"] == payment.cancelled, payment.order.number
    call_command("check_ledger")


def test_the_demo_logins_exist_with_their_roles(seeded):
    assert set(User.objects.get(username="agent").groups.values_list("name", flat=True)) == {"Support agents"}
    assert set(User.objects.get(username="manager").groups.values_list("name", flat=True)) == {"Managers"}
    auditor = User.objects.get(username="auditor")
    assert auditor.is_staff and not auditor.is_superuser
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="agent").check_password("agent-demo")


def test_seeding_twice_changes_nothing(seeded, capsys):
    before = Order.objects.count()

    call_command("seed_demo")

    assert Order.objects.count() == before
    assert "nothing to do" in capsys.readouterr().out


def test_the_demo_has_orders_with_lines_to_refund_by_line(seeded):
    itemized = Order.objects.filter(itemized=True).order_by("number")

    assert itemized.count() >= 2
    for order in itemized:
        assert sum(line.total for line in order.lines.all()) + order.shipping == order.total
    offer = order_refund_offer(order=itemized[0])
    assert len([line for line in offer.lines if line.remaining]) >= 2  # two items to refund
    refunded = [line for order in itemized for line in order_refund_offer(order=order).lines if line.refunded]
    assert refunded  # and one whose Items table shows a line refunded in part
    call_command("check_ledger")


def test_the_demo_tells_the_agent_of_a_rejection_and_an_approval(seeded):
    from payments.selectors import refund_requests_of

    agent = User.objects.get(username="agent")
    labels = {r.operation.payment.order.number: r.state.label for r in refund_requests_of(user=agent).items}

    assert labels["DEMO-1019"] == "Rejected"
    assert labels["DEMO-1020"] == "Approved and refunded"
    assert labels["DEMO-1013"] == "Waiting for approval"


def test_the_demo_has_customers_to_find_by_a_name_typed_without_its_accents(seeded):
    from payments.selectors import order_search

    assert order_search(query="ase odeg").exact_order_id == Order.objects.get(number="DEMO-1019").pk
