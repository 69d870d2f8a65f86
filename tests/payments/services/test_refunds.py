"""Refunds through the services, against the sandbox: what the agent sees, what the ledger
records, what the provider received."""

import pytest

from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import AuditAction, AuditEvent, RefundReason
from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_approve, refund_reject, refund_request, refund_withdraw
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


def refund(payment, amount, user, *, key=None, reason=RefundReason.CUSTOMER_REQUEST):
    return refund_request(
        payment_id=payment.pk,
        amount=amount,
        reason=reason,
        actor=Actor.of_user(user),
        idempotency_key=key or new_idempotency_key(),
    )


def test_a_refund_under_the_limit_moves_the_money_at_once(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)

    operation = refund(payment, 5_000, agent)

    payment.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.settled_amount == 5_000
    assert payment.refunded == 5_000
    assert payment_balances(payment=payment).refundable == 15_000
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 5_000
    assert list(
        AuditEvent.objects.filter(operation=operation).values_list("action", "actor_label")
    ) == [
        (AuditAction.PROVIDER_ANSWERED, "agent"),
        (AuditAction.PROVIDER_CALLED, "agent"),
        (AuditAction.REFUND_REQUESTED, "agent"),
    ]


def test_the_same_form_sent_twice_refunds_once(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    key = new_idempotency_key()

    first = refund(payment, 5_000, agent, key=key)
    second = refund(payment, 5_000, agent, key=key)

    assert first.pk == second.pk
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 5_000


def test_a_key_cannot_be_borrowed_for_another_amount(make_payment, agent):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    key = new_idempotency_key()
    refund(payment, 5_000, agent, key=key)

    with pytest.raises(ActionRefused, match="already been used"):
        refund(payment, 6_000, agent, key=key)


def test_more_than_refundable_is_refused_and_nothing_is_sent(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=10_000)

    with pytest.raises(ActionRefused, match=r"At most 100\.00.EUR can be refunded now"):
        refund(payment, 10_001, agent)

    assert sandbox.requests("bambora") == []
    assert payment.operations.filter(kind="refund").count() == 0


def test_a_refusal_by_the_provider_fails_the_operation_with_its_reason(make_payment, agent, sandbox):
    # Captured here, but the provider never got the capture: it refuses the refund.
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000, at_provider=False)
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR", amount=20_000)

    operation = refund(payment, 5_000, agent)

    payment.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert operation.failure_message.startswith("Bambora refused the refund")
    assert operation.provider_code == "cannot_refund"
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 20_000


def test_an_unknown_outcome_keeps_the_amount_reserved(make_payment, agent, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)

    operation = refund(payment, 5_000, agent)

    payment.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN
    assert "amount stays reserved" in operation.failure_message
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 15_000


def test_credentials_rejected(make_payment, agent, settings):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    settings.PROVIDERS["bambora"]["merchant_secret"] = "wrong"

    operation = refund(payment, 5_000, agent)

    assert operation.status == OperationStatus.FAILED
    assert operation.failure_message == "The provider rejected our credentials."
    assert "wrong" not in str(operation.provider_response)


class TestApproval:
    def test_over_the_limit_waits_for_approval_and_sends_nothing(
        self, make_payment, agent, sandbox, mailoutbox, manager, django_capture_on_commit_callbacks
    ):
        manager.email = "manager@example.com"
        manager.save()
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)

        with django_capture_on_commit_callbacks(execute=True):
            operation = refund(payment, 60_000, agent)

        assert operation.status == OperationStatus.AWAITING_APPROVAL
        assert payment_balances(payment=payment).refundable == 40_000
        assert sandbox.requests("bambora") == []
        [mail] = mailoutbox
        assert mail.to == ["manager@example.com"]
        assert f"#request-{operation.pk}" in mail.body

    def test_splitting_does_not_dodge_the_limit(self, make_payment, agent):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)

        first = refund(payment, 30_000, agent)
        second = refund(payment, 30_000, agent)

        assert first.status == OperationStatus.SUCCEEDED
        assert second.status == OperationStatus.AWAITING_APPROVAL

    def test_a_currency_without_a_limit_always_needs_approval(self, make_payment, agent, settings):
        settings.REFUND_APPROVAL_LIMITS = {"EUR": "500"}
        payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)

        assert refund(payment, 100, agent).status == OperationStatus.AWAITING_APPROVAL

    def test_a_manager_approves_and_the_money_moves(self, make_payment, agent, manager, sandbox):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)

        approved = refund_approve(operation_id=request.pk, actor=Actor.of_user(manager))

        assert approved.status == OperationStatus.SUCCEEDED
        assert approved.decided_by == manager
        assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 60_000

    def test_nobody_approves_their_own_request(self, make_payment, manager, sandbox):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, manager)

        with pytest.raises(ActionForbidden, match="your own"):
            refund_approve(operation_id=request.pk, actor=Actor.of_user(manager))

        request.refresh_from_db()
        assert request.status == OperationStatus.AWAITING_APPROVAL
        assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED, operation=request).exists()
        assert sandbox.requests("bambora") == []

    def test_rejecting_ones_own_request_is_forbidden_even_without_a_note(self, make_payment, manager):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, manager)

        with pytest.raises(ActionForbidden, match="your own"):
            refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="")

        request.refresh_from_db()
        assert request.status == OperationStatus.AWAITING_APPROVAL
        assert AuditEvent.objects.filter(
            action=AuditAction.ACTION_REFUSED, operation=request, actor=manager
        ).exists()

    def test_approval_counts_the_other_requests_of_the_payment(self, make_payment, agent, manager, sandbox):
        # 600 and 300 EUR wait on 1,000 EUR: each fits beside the other, and both can be paid.
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        large, small = refund(payment, 60_000, agent), refund(payment, 30_000, agent)
        assert small.status == OperationStatus.AWAITING_APPROVAL

        assert refund_approve(operation_id=small.pk, actor=Actor.of_user(manager)).status == OperationStatus.SUCCEEDED
        assert refund_approve(operation_id=large.pk, actor=Actor.of_user(manager)).status == OperationStatus.SUCCEEDED

        payment.refresh_from_db()
        assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 90_000
        assert payment_balances(payment=payment).refundable == 10_000

    def test_approval_is_refused_when_the_refundable_amount_dropped(self, make_payment, agent, manager, sandbox):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)
        # Meanwhile, money was refunded in Bambora's portal and synced.
        from django.db import transaction

        from payments.locks import lock_payment
        from payments.services.ledger import operation_record_external
        with transaction.atomic():
            operation_record_external(
                payment=lock_payment(payment_id=payment.pk), kind="refund", amount=50_000,
                actor=Actor.system("tests"),
            )

        with pytest.raises(ActionRefused, match="no longer refund this amount"):
            refund_approve(operation_id=request.pk, actor=Actor.of_user(manager))

        assert sandbox.requests("bambora") == []

    def test_reject_needs_a_note_and_releases_the_amount(self, make_payment, agent, manager):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)

        with pytest.raises(ActionRefused, match="note"):
            refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="  ")
        rejected = refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Not eligible")

        assert rejected.status == OperationStatus.REJECTED
        assert rejected.decision_note == "Not eligible"
        assert payment_balances(payment=payment).refundable == 100_000

    def test_withdraw_only_ones_own(self, make_payment, agent, manager):
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)

        with pytest.raises(ActionForbidden):
            refund_withdraw(operation_id=request.pk, actor=Actor.of_user(manager))
        withdrawn = refund_withdraw(operation_id=request.pk, actor=Actor.of_user(agent))

        assert withdrawn.status == OperationStatus.WITHDRAWN
        assert payment_balances(payment=payment).refundable == 100_000


class TestExpiry:
    def test_old_requests_expire_and_release_their_amount(self, make_payment, agent, settings):
        from datetime import timedelta

        from django.utils import timezone

        from payments.models import Operation
        from payments.services.refunds import refunds_expire

        settings.REFUND_APPROVAL_EXPIRY_DAYS = 7
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        old = refund(payment, 60_000, agent)
        fresh = refund(payment, 30_000, agent)
        Operation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))

        assert refunds_expire() == 1

        old.refresh_from_db()
        fresh.refresh_from_db()
        assert old.status == OperationStatus.EXPIRED
        assert fresh.status == OperationStatus.AWAITING_APPROVAL
        assert payment_balances(payment=payment).refundable == 70_000
        assert AuditEvent.objects.filter(action=AuditAction.REFUND_EXPIRED, operation=old).exists()

    def test_an_expired_request_cannot_be_approved(self, make_payment, agent, manager, sandbox):
        from datetime import timedelta

        from django.utils import timezone

        from payments.models import Operation

        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)
        Operation.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=30))

        with pytest.raises(ActionRefused, match="expired"):
            refund_approve(operation_id=request.pk, actor=Actor.of_user(manager))

        request.refresh_from_db()
        assert request.status == OperationStatus.EXPIRED
        assert sandbox.requests("bambora") == []

    def test_agents_cannot_approve(self, make_payment, agent, make_user, sandbox):
        other = make_user(group="Support agents")
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, other)

        with pytest.raises(ActionForbidden, match="Only managers"):
            refund_approve(operation_id=request.pk, actor=Actor.of_user(agent))

        assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED, actor=agent).exists()
        assert sandbox.requests("bambora") == []

    @pytest.mark.parametrize("decide", ["approve", "reject"])
    def test_the_system_decides_no_request(self, decide, make_payment, agent, sandbox):
        # No person, no approval permission: refused and audited like anybody without it, not
        # an AttributeError on the missing user.
        payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
        request = refund(payment, 60_000, agent)
        system = Actor.system("a command")

        with pytest.raises(ActionForbidden, match="Only managers"):
            if decide == "approve":
                refund_approve(operation_id=request.pk, actor=system)
            else:
                refund_reject(operation_id=request.pk, actor=system, note="No.")

        assert AuditEvent.objects.filter(
            action=AuditAction.ACTION_REFUSED, actor=None, actor_label="system: a command"
        ).exists()
        request.refresh_from_db()
        assert request.status == OperationStatus.AWAITING_APPROVAL
        assert sandbox.requests("bambora") == []


def test_an_approved_refund_is_sent_with_its_calls_deadline_on_record(make_payment, agent, manager, sandbox,
                                                                        settings):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    waiting = refund(payment, 60_000, agent)
    assert (waiting.status, waiting.deadline) == (OperationStatus.AWAITING_APPROVAL, None)

    approved = refund_approve(operation_id=waiting.pk, actor=Actor.of_user(manager))

    assert approved.status == OperationStatus.SUCCEEDED
    sent_within = (approved.deadline - approved.decided_at).total_seconds()
    assert settings.PROVIDER_TIMEOUT - 1 < sent_within <= settings.PROVIDER_TIMEOUT


@pytest.mark.parametrize(
    ("reason", "note", "refusal"),
    [
        (RefundReason.OTHER, "", "Describe the reason when it is “Other”."),
        (RefundReason.OTHER, " \t ", "Describe the reason when it is “Other”."),
        ("", "A note", "Choose a reason for the refund."),
        ("because", "A note", "Choose a reason for the refund."),
    ],
    ids=["other without a note", "other with blanks", "no reason", "no such reason"],
)
def test_a_refund_needs_a_reason_and_other_needs_a_note_whatever_sent_it(
    make_payment, agent, sandbox, reason, note, refusal
):
    # The service holds the rule itself: a form is not the only way in (a script, a test).
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    sandbox.clear_requests()

    with pytest.raises(ActionRefused) as refused:
        refund_request(payment_id=payment.pk, amount=5_000, reason=reason, note=note,
                       actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())

    assert refused.value.message == refusal
    assert not payment.operations.filter(kind="refund").exists()
    assert sandbox.requests("bambora") == []


def test_other_with_a_note_is_a_reason(make_payment, agent):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)

    operation = refund_request(payment_id=payment.pk, amount=5_000, reason=RefundReason.OTHER,
                               note="  Sent the wrong size  ", actor=Actor.of_user(agent),
                               idempotency_key=new_idempotency_key())

    assert (operation.status, operation.note) == (OperationStatus.SUCCEEDED, "Sent the wrong size")
