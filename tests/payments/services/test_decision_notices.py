"""Decisions reach the requester: a notice the desk shows once (payments/services/decision_notices.py);
the e-mails themselves are tested with their module, test_notifications.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import DecisionNotice, Operation
from payments.services.audit import Actor
from payments.services.decision_notices import decision_notices_take
from payments.services.refunds import (
    refund_approve,
    refund_reject,
    refund_withdraw,
    refunds_expire,
)
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


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
