"""Decisions reach the requester: an e-mail with a link, and a notice the desk shows once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import DecisionNotice, Operation
from payments.services.audit import Actor
from payments.services.decision_notices import decision_notices_take
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import (
    refund_approve,
    refund_reject,
    refund_request,
    refund_withdraw,
    refunds_expire,
)
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def requester(make_user):
    return make_user("kari", group="Support agents", email="kari@shop.example")


@pytest.fixture
def boss(make_user):
    return make_user("boss", group="Managers", email="")  # no address: only the requester is mailed


@pytest.fixture
def waiting(make_payment, requester, settings):
    """A refund request of 600.00 EUR by `requester`, waiting for approval."""
    settings.SITE_URL = "https://backoffice.example.com"
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    return refund_request(payment_id=payment.pk, amount=60_000, reason="goodwill",
                          actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())


def test_an_approval_is_mailed_to_the_requester_with_what_the_provider_did(
    waiting, requester, boss, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refund_approve(operation_id=waiting.pk, actor=Actor.of_user(boss))

    [mail] = mailoutbox
    assert mail.to == ["kari@shop.example"]
    assert mail.subject == f"Your refund of 600.00\xa0EUR on order {waiting.payment.order.number}: approved and refunded"
    assert "Approved by boss. 600.00\xa0EUR refunded." in mail.body
    assert f"https://backoffice.example.com/my-requests/#request-{waiting.pk}" in mail.body


def test_an_approval_that_the_provider_refuses_says_so(
    waiting, boss, sandbox, mailoutbox, django_capture_on_commit_callbacks
):
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="status", status=400,
                         message="The amount is above what can be refunded.")

    with django_capture_on_commit_callbacks(execute=True):
        refund_approve(operation_id=waiting.pk, actor=Actor.of_user(boss))

    [mail] = mailoutbox
    assert mail.subject.endswith(": approved, but failed at the provider")
    assert "The amount is above what can be refunded." in mail.body


def test_a_rejection_is_mailed_with_the_managers_note(waiting, boss, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        refund_reject(operation_id=waiting.pk, actor=Actor.of_user(boss), note="Ask for a photo first")

    [mail] = mailoutbox
    assert mail.subject.endswith(": rejected")
    assert "boss wrote: “Ask for a photo first”" in mail.body


def test_an_expiry_is_mailed_and_shown(waiting, mailoutbox, requester, django_capture_on_commit_callbacks, settings):
    Operation.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(days=8))

    with django_capture_on_commit_callbacks(execute=True):
        assert refunds_expire() == 1

    [mail] = mailoutbox
    assert mail.subject.endswith(": expired")
    [shown] = decision_notices_take(user=requester)
    assert shown.state.label == "Expired"


def test_withdrawing_ones_own_request_tells_nobody(waiting, requester, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        refund_withdraw(operation_id=waiting.pk, actor=Actor.of_user(requester))

    assert mailoutbox == []
    assert decision_notices_take(user=requester) == []


def test_a_requester_without_an_address_is_not_mailed(waiting, requester, boss, mailoutbox,
                                                     django_capture_on_commit_callbacks):
    requester.email = ""
    requester.save()

    with django_capture_on_commit_callbacks(execute=True):
        refund_reject(operation_id=waiting.pk, actor=Actor.of_user(boss), note="No")

    assert mailoutbox == []
    assert [shown.state.label for shown in decision_notices_take(user=requester)] == ["Rejected"]


def test_the_desk_shows_each_decision_once_and_only_to_its_requester(waiting, requester, boss, make_payment):
    refund_reject(operation_id=waiting.pk, actor=Actor.of_user(boss), note="Not this time")

    assert decision_notices_take(user=boss) == []
    [shown] = decision_notices_take(user=requester)
    assert shown.operation.pk == waiting.pk
    assert (shown.state.label, shown.state.detail) == ("Rejected", "boss wrote: “Not this time”")
    assert decision_notices_take(user=requester) == []
    assert not DecisionNotice.objects.exists()


def test_a_notice_shows_the_request_as_it_stands_when_shown(waiting, requester, boss, sandbox):
    # given: the answer to the approved refund was lost
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")

    refund_approve(operation_id=waiting.pk, actor=Actor.of_user(boss))

    [shown] = decision_notices_take(user=requester)
    assert shown.operation.status == OperationStatus.UNKNOWN
    assert shown.state.label == "Approved, outcome unknown"
