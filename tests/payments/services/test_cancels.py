"""Cancels through the service, against the sandbox: what is released, what is refused before
anything is sent, and a confirmation sent twice."""

import pytest

from payments.exceptions import ActionRefused
from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


def cancel(payment, expected_amount, user, *, key=None):
    return payment_cancel(
        payment_id=payment.pk,
        expected_amount=expected_amount,
        actor=Actor.of_user(user),
        idempotency_key=key or new_idempotency_key(),
    )


def test_a_cancel_releases_what_was_never_captured(make_payment, agent, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=4_000)

    operation = cancel(payment, 6_000, agent)

    payment.refresh_from_db()
    assert (operation.status, operation.settled_amount) == (OperationStatus.SUCCEEDED, 6_000)
    assert payment.cancelled == 6_000
    assert sandbox.payment(provider="vipps", reference=payment.reference)["cancelled"] == 6_000
    assert AuditEvent.objects.get(operation=operation, action=AuditAction.CANCEL_REQUESTED).actor_label == "agent"


def test_an_amount_that_changed_since_it_was_confirmed_is_refused_and_nothing_is_sent(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    sandbox.clear_requests()

    with pytest.raises(ActionRefused, match=r"The amount to release has changed to 100\.00\xa0EUR"):
        cancel(payment, 4_000, agent)

    assert sandbox.requests() == []
    assert not Operation.objects.filter(payment=payment, kind="cancel").exists()


def test_nothing_left_to_cancel_is_refused(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    with pytest.raises(ActionRefused, match="Nothing can be cancelled on this payment now."):
        cancel(payment, 0, agent)

    assert not Operation.objects.filter(payment=payment, kind="cancel").exists()


def test_the_same_confirmation_sent_twice_cancels_once(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    key = new_idempotency_key()

    first = cancel(payment, 10_000, agent, key=key)
    second = cancel(payment, 10_000, agent, key=key)

    assert first.pk == second.pk
    cancels = [entry for entry in sandbox.requests("bambora") if entry["endpoint"] == "cancel"]
    assert len(cancels) == 1
    assert sandbox.payment(provider="bambora", reference=payment.reference)["cancelled"] == 10_000
