"""Refunds by line through the services: the units of each line and the shipping an order's
refunds give back, never more than the shop sold, across refunds, payments and agents."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.exceptions import ActionRefused
from payments.models import AuditAction, AuditEvent, Operation, Order, RefundLine, RefundReason
from payments.order_lines import RefundItems
from payments.selectors import order_refund_offer
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewLine, NewPayment, order_create
from payments.services.refunds import refund_reject, refund_request, refund_withdraw, refunds_expire
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

TENT = NewLine(sku="TENT-2P", name="Tent, 2 persons", quantity=1, unit_price=30_000)
# 31.00 for three: a unit is 10.33 and a bit, so the split must not lose or invent a cent.
PEGS = NewLine(sku="PEG-10", name="Tent pegs, 10", quantity=3, unit_price=1_000, tax=100)
SHIPPING = 900
TOTAL = TENT.total + PEGS.total + SHIPPING  # 340.00


@pytest.fixture
def itemized(make_payment):
    """A captured EUR payment of an order with a tent, three packs of pegs and shipping."""
    return make_payment("bambora", currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT, PEGS],
                        shipping=SHIPPING)


def lines_of(payment):
    tent, pegs = payment.order.lines.order_by("position")
    return tent, pegs


def refund(payment, amount, user, *, quantities=None, shipping=False, key=None):
    return refund_request(
        payment_id=payment.pk,
        amount=amount,
        reason=RefundReason.RETURNED_GOODS,
        actor=Actor.of_user(user),
        idempotency_key=key or new_idempotency_key(),
        items=RefundItems(quantities=quantities or {}, shipping=shipping),
    )


def offer_of(payment):
    offer = order_refund_offer(order=Order.objects.get(pk=payment.order_id))
    return {line.line.name: (line.refunded, line.held, line.remaining) for line in offer.lines}, offer


def test_a_refund_by_line_records_its_units_and_moves_the_money(itemized, agent, sandbox):
    _, pegs = lines_of(itemized)

    operation = refund(itemized, 2_066, agent, quantities={pegs.pk: 2})

    assert operation.status == OperationStatus.SUCCEEDED
    # Two thirds of 31.00, rounded down.
    assert list(RefundLine.objects.filter(operation=operation).values_list("order_line", "quantity", "amount")) == [
        (pegs.pk, 2, 2_066)
    ]
    assert offer_of(itemized)[0] == {"Tent, 2 persons": (0, 0, 1), "Tent pegs, 10": (2, 0, 1)}
    assert sandbox.payment(provider="bambora", reference=itemized.reference)["refunded"] == 2_066


def test_units_split_over_refunds_add_up_to_the_line_exactly(itemized, agent, sandbox):
    _, pegs = lines_of(itemized)

    amounts = []
    for _ in range(3):
        _, offer = offer_of(itemized)
        amount = offer.line(pegs.pk).amount_for(1)
        refund(itemized, amount, agent, quantities={pegs.pk: 1})
        amounts.append(amount)

    assert amounts == [1_033, 1_033, 1_034]
    assert sum(amounts) == PEGS.total
    assert offer_of(itemized)[0]["Tent pegs, 10"] == (3, 0, 0)
    assert sandbox.payment(provider="bambora", reference=itemized.reference)["refunded"] == PEGS.total


def test_the_amount_may_be_less_than_the_items_but_not_more(itemized, agent, sandbox):
    tent, _ = lines_of(itemized)

    with pytest.raises(ActionRefused, match="The items chosen come to 300.00\xa0EUR: refund at most that"):
        refund(itemized, 30_001, agent, quantities={tent.pk: 1})
    assert not Operation.objects.filter(kind="refund").exists()
    assert sandbox.requests("bambora") == []

    operation = refund(itemized, 25_000, agent, quantities={tent.pk: 1})  # 50.00 kept back for wear

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.settled_amount == 25_000
    assert offer_of(itemized)[0]["Tent, 2 persons"] == (1, 0, 0)


def test_a_line_is_never_refunded_beyond_its_quantity(itemized, agent, sandbox):
    _, pegs = lines_of(itemized)
    refund(itemized, 2_066, agent, quantities={pegs.pk: 2})

    with pytest.raises(ActionRefused, match="Only 1 of “Tent pegs, 10” can still be refunded"):
        refund(itemized, 1_000, agent, quantities={pegs.pk: 2})
    refund(itemized, 1_034, agent, quantities={pegs.pk: 1})
    with pytest.raises(ActionRefused, match="“Tent pegs, 10” is refunded already, or being refunded."):
        refund(itemized, 1, agent, quantities={pegs.pk: 1})

    assert RefundLine.objects.filter(order_line=pegs).count() == 2
    assert [op["amount"] for op in sandbox.payment(provider="bambora", reference=itemized.reference)["operations"]
            if op["kind"] == "refund"] == [2_066, 1_034]


def test_the_shipping_is_refunded_once(itemized, agent, sandbox):
    refund(itemized, SHIPPING, agent, shipping=True)

    with pytest.raises(ActionRefused, match="The shipping is refunded already, or being refunded."):
        refund(itemized, SHIPPING, agent, shipping=True)

    offer = offer_of(itemized)[1]
    assert (offer.shipping_refunded, offer.shipping_held, offer.shipping_refundable) == (True, False, False)


def test_lines_are_the_orders_whichever_payment_refunds_them(agent, sandbox):
    # given: an order paid half by Vipps, half by Bambora
    order, _ = order_create(
        number="SPLIT-1", customer_name="Kari", customer_email="kari@example.com", currency="EUR",
        total=TOTAL, lines=[TENT, PEGS], shipping=SHIPPING, actor=Actor.system("tests"),
        payments=[NewPayment(provider="vipps", reference="split-1-vipps", amount=17_000, captured=17_000),
                  NewPayment(provider="bambora", reference="split-1-bambora", amount=17_000, captured=17_000)],
    )
    vipps, bambora = order.payments.order_by("pk")
    for payment in (vipps, bambora):
        sandbox.create_payment(provider=payment.provider, reference=payment.reference, currency="EUR",
                               amount=17_000, captured=17_000)
    pegs = order.lines.get(sku="PEG-10")

    refund(vipps, 3_100, agent, quantities={pegs.pk: 3})

    with pytest.raises(ActionRefused, match="“Tent pegs, 10” is refunded already"):
        refund(bambora, 1_000, agent, quantities={pegs.pk: 1})
    assert sandbox.requests("bambora") == []


@pytest.fixture
def itemized_large(make_payment):
    """An order above the EUR approval limit (500.00): a 400.00 tent and two 300.00 stoves."""
    lines = [NewLine(sku="TENT", name="Tent", quantity=1, unit_price=40_000),
             NewLine(sku="STOVE", name="Stove", quantity=2, unit_price=30_000)]
    return make_payment("bambora", currency="EUR", amount=100_000, captured=100_000, lines=lines)


@pytest.mark.parametrize("decide", ["reject", "withdraw", "expire"])
def test_a_request_holds_its_units_until_it_is_decided_against(itemized_large, agent, manager, sandbox, decide):
    stove = itemized_large.order.lines.get(sku="STOVE")
    request = refund(itemized_large, 60_000, agent, quantities={stove.pk: 2})
    assert request.status == OperationStatus.AWAITING_APPROVAL
    assert offer_of(itemized_large)[0]["Stove"] == (0, 2, 0)
    with pytest.raises(ActionRefused, match="“Stove” is refunded already, or being refunded."):
        refund(itemized_large, 30_000, agent, quantities={stove.pk: 1})

    if decide == "reject":
        refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Not returned yet.")
    elif decide == "withdraw":
        refund_withdraw(operation_id=request.pk, actor=Actor.of_user(agent))
    else:
        Operation.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=8))
        assert refunds_expire() == 1

    assert offer_of(itemized_large)[0]["Stove"] == (0, 0, 2)
    assert refund(itemized_large, 30_000, agent, quantities={stove.pk: 1}).status == OperationStatus.SUCCEEDED


def test_a_failed_refund_gives_its_units_back(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT, PEGS],
                           shipping=SHIPPING, at_provider=False)
    # Bambora has the payment but not its capture: it refuses the refund.
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR", amount=TOTAL)
    tent, _ = lines_of(payment)

    failed = refund(payment, 30_000, agent, quantities={tent.pk: 1})

    assert failed.status == OperationStatus.FAILED
    assert offer_of(payment)[0]["Tent, 2 persons"] == (0, 0, 1)


@pytest.mark.parametrize("outcome", [OperationStatus.UNKNOWN, OperationStatus.PENDING])
def test_a_refund_under_way_holds_its_units(make_payment, agent, sandbox, outcome):
    provider = "bambora" if outcome == OperationStatus.UNKNOWN else "optty"
    payment = make_payment(provider, currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT, PEGS],
                           shipping=SHIPPING, at_provider=False)
    simulator = {"pending_refunds": True} if provider == "optty" else {}
    sandbox.create_payment(provider=provider, reference=payment.reference, currency="EUR", amount=TOTAL,
                           captured=TOTAL, **simulator)
    if outcome == OperationStatus.UNKNOWN:
        sandbox.inject_fault(provider=provider, endpoint="refund", mode="lost_answer")
    tent, _ = lines_of(payment)

    operation = refund(payment, 30_000, agent, quantities={tent.pk: 1})

    assert operation.status == outcome
    assert offer_of(payment)[0]["Tent, 2 persons"] == (0, 1, 0)
    with pytest.raises(ActionRefused, match="“Tent, 2 persons” is refunded already, or being refunded."):
        refund(payment, 1_000, agent, quantities={tent.pk: 1})


def test_the_history_names_the_units_refunded(itemized, agent, sandbox):
    tent, pegs = lines_of(itemized)

    operation = refund(itemized, 30_000 + 1_033 + SHIPPING, agent, quantities={tent.pk: 1, pegs.pk: 1},
                       shipping=True)

    requested = AuditEvent.objects.get(operation=operation, action=AuditAction.REFUND_REQUESTED)
    assert requested.message == "Items: 1 × Tent, 2 persons; 1 × Tent pegs, 10; shipping."


def test_items_of_another_order_or_an_order_without_lines_are_refused(itemized, make_payment, agent, sandbox):
    plain = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    tent, _ = lines_of(itemized)

    with pytest.raises(ActionRefused, match="This order has no lines to refund by."):
        refund(plain, 1_000, agent, quantities={tent.pk: 1})
    other = make_payment("bambora", currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT], shipping=0)
    with pytest.raises(ActionRefused, match="This form lists items of another order."):
        refund(other, 1_000, agent, quantities={tent.pk: 1})
    assert not RefundLine.objects.exists()
    assert sandbox.requests("bambora") == []


def test_the_same_form_sent_twice_claims_its_units_once(itemized, agent, sandbox):
    _, pegs = lines_of(itemized)
    key = new_idempotency_key()

    first = refund(itemized, 1_033, agent, quantities={pegs.pk: 1}, key=key)
    second = refund(itemized, 1_033, agent, quantities={pegs.pk: 1}, key=key)

    assert first.pk == second.pk
    assert RefundLine.objects.get(order_line=pegs).quantity == 1
