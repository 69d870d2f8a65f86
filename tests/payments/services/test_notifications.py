"""Telling people what waits for them, by email (payments/services/notifications.py): the
requester learns what became of their request, the managers what waits for them, each email's
subject one line whatever the order number stored."""

import pytest
from django.core import mail

from payments.models import Order, OutgoingEmail
from payments.services.audit import Actor
from payments.services.decision_notices import decision_notices_take
from payments.services.ledger import new_idempotency_key
from payments.services.notifications import notify_managers_of_request, requester_decision_email_send
from payments.services.refunds import refund_approve, refund_reject, refund_request

pytestmark = pytest.mark.django_db


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


def test_a_requester_without_an_address_is_not_mailed(waiting, requester, boss, mailoutbox,
                                                     django_capture_on_commit_callbacks):
    requester.email = ""
    requester.save()

    with django_capture_on_commit_callbacks(execute=True):
        refund_reject(operation_id=waiting.pk, actor=Actor.of_user(boss), note="No")

    assert mailoutbox == []
    assert [shown.state.label for shown in decision_notices_take(user=requester)] == ["Rejected"]


def test_an_order_number_stored_with_a_line_break_still_reaches_the_managers(make_payment, agent, manager, settings):
    # Stored before intake refused line breaks: the e-mail's subject stays one line.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    manager.email = "manager@example.com"
    manager.save()
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000, at_provider=False)
    Order.objects.filter(pk=payment.order_id).update(number="100045\r\nBcc: everyone@example.com")
    request = refund_request(
        payment_id=payment.pk, amount=600_000, reason="goodwill",
        actor=Actor.of_user(agent), idempotency_key=new_idempotency_key(),
    )
    mail.outbox.clear()

    notify_managers_of_request(operation_id=request.pk)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == (
        "Refund of 6,000.00\xa0NOK on order 100045 Bcc: everyone@example.com waits for approval"
    )
    assert mail.outbox[0].bcc == []


def test_an_order_number_stored_with_a_line_break_still_reaches_the_requester_with_the_decision(
    make_payment, agent, manager, settings
):
    # Stored before intake refused line breaks: the decision's e-mail goes, its subject one line.
    settings.REFUND_APPROVAL_LIMITS = {}
    agent.email = "agent@example.com"
    agent.save()
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    Order.objects.filter(pk=payment.order_id).update(number="100046\r\nBcc: everyone@example.com")
    request = refund_request(
        payment_id=payment.pk, amount=60_000, reason="goodwill",
        actor=Actor.of_user(agent), idempotency_key=new_idempotency_key(),
    )
    refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Ask for a photo first")
    mail.outbox.clear()

    requester_decision_email_send(operation_id=request.pk)

    [email] = mail.outbox
    assert email.to == ["agent@example.com"] and email.bcc == []
    assert email.subject == "Your refund of 600.00\xa0NOK on order 100046 Bcc: everyone@example.com: rejected"
    assert OutgoingEmail.objects.get(key=f"refund-decision:{request.pk}").sent_at is not None
