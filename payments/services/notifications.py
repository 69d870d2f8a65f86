"""Telling people what waits for them, by email. The services queue each email (notify_*)
after the transaction that caused it commits; the task worker sends it (*_send), at most once
(email_once), so that no request waits for a mail server and a task run twice sends nothing
twice."""

import logging
import re

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from payments.models import Export, Operation, OutgoingEmail
from payments.money import format_money
from payments.selectors import refund_request_state

logger = logging.getLogger("payments")

# Control characters and line separators, each run of them made one space in a subject.
LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def managers_to_notify() -> QuerySet[User]:
    """Active people who may approve refunds and have an email address: superuser status
    alone does not make anybody an approver (payments.roles)."""
    approve = Q(groups__permissions__codename="approve_refund") | Q(
        user_permissions__codename="approve_refund"
    )
    return User.objects.filter(is_active=True).exclude(email="").filter(approve).distinct()


def email_once(*, key: str, subject: str, message: str, recipients: list[str]) -> bool:
    """Send an email unless one with `key` was sent, or begun, before. The key is claimed in a
    committed row before the mail server is called: a worker killed mid-send leaves it
    claimed, and the task run again sends nothing (the email may have gone; a second would be
    worse than none, and the row says when it was begun). A mail server that is down is
    logged and noted on the row. Returns whether this call sent it.

    The subject is made one line here, for every email: it may quote stored text (an order
    number from before intake refused line breaks), and a line break in a subject is refused
    by the mail library (and would start a header of its own)."""
    subject = LINE_BREAKS.sub(" ", subject).strip()
    try:
        with transaction.atomic():
            email = OutgoingEmail.objects.create(key=key, subject=subject[:300], recipients=recipients)
    except IntegrityError:
        logger.info("email_not_repeated key=%s", key)
        return False
    try:
        send_mail(subject=subject, message=message, from_email=None, recipient_list=recipients)
    except OSError as error:
        logger.exception("email_failed key=%s", key)
        OutgoingEmail.objects.filter(pk=email.pk).update(failure_message=f"{type(error).__name__}: {error}"[:1000])
        return False
    OutgoingEmail.objects.filter(pk=email.pk).update(sent_at=timezone.now())
    return True


def notify_managers_of_request(*, operation_id: int) -> None:
    """Queue the email to the managers about a refund request waiting for approval."""
    from payments.tasks import approval_request_email

    approval_request_email.enqueue(operation_id=operation_id)


def managers_request_email_send(*, operation_id: int) -> None:
    """Email the managers (but not the requester) that a refund request waits for approval,
    with a link to it (the task of notify_managers_of_request)."""
    operation = Operation.objects.select_related("payment__order", "requested_by").get(pk=operation_id)
    payment = operation.payment
    managers = managers_to_notify()
    if operation.requested_by_id is not None:
        managers = managers.exclude(pk=operation.requested_by_id)
    recipients = [user.email for user in managers]
    if not recipients:
        return
    amount = format_money(operation.amount, payment.currency)
    link = settings.SITE_URL.rstrip("/") + reverse("approvals") + f"#request-{operation.pk}"
    requester = operation.requested_by.get_username() if operation.requested_by else "someone"
    email_once(
        key=f"approval-request:{operation.pk}",
        subject=f"Refund of {amount} on order {payment.order.number} waits for approval",
        message=(
            f"{requester} asks to refund {amount} on order {payment.order.number} "
            f"({payment.get_provider_display()}), reason: {operation.get_reason_display()}."
            f"\n\nApprove or reject it here: {link}\n"
        ),
        recipients=recipients,
    )


def notify_requester_of_export(*, export_id: int) -> None:
    """Queue the email telling the person who asked for an export that its file is ready."""
    from payments.tasks import export_ready_email

    export_ready_email.enqueue(export_id=export_id)


def export_ready_email_send(*, export_id: int) -> None:
    """Email the person who asked for an export that it is ready, with a link to their
    Exports page (the task of notify_requester_of_export); nothing when they have no address."""
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    if not export.requested_by.email:
        return
    link = settings.SITE_URL.rstrip("/") + reverse("exports")
    email_once(
        key=f"export-ready:{export.pk}",
        subject=f"Your export of {export.get_kind_display().lower()} is ready ({export.rows_total:,} rows)",
        message=(
            f"The export you asked for ({export.description}) holds {export.rows_total:,} rows. "
            f"Download it here until {timezone.localtime(export.expires_at):%Y-%m-%d %H:%M}: {link}\n"
        ),
        recipients=[export.requested_by.email],
    )


def notify_requester_of_decision(*, operation_id: int) -> None:
    """Queue the email telling the person who asked for a refund what became of their request."""
    from payments.tasks import refund_decision_email

    refund_decision_email.enqueue(operation_id=operation_id)


def requester_decision_email_send(*, operation_id: int) -> None:
    """Email the person who asked for a refund what became of their request (approved and
    refunded, failed at the provider, rejected with the manager's note, expired), with a link
    to it on their "My requests" (the task of notify_requester_of_decision); nothing when they
    have no address or are no longer active."""
    operation = Operation.objects.select_related("payment__order", "requested_by", "decided_by").get(
        pk=operation_id
    )
    requester = operation.requested_by
    if requester is None or not requester.is_active or not requester.email:
        return
    payment = operation.payment
    state = refund_request_state(operation)
    amount = format_money(operation.amount, payment.currency)
    link = settings.SITE_URL.rstrip("/") + reverse("my_requests") + f"#request-{operation.pk}"
    email_once(
        key=f"refund-decision:{operation.pk}",
        subject=f"Your refund of {amount} on order {payment.order.number}: {state.label.lower()}",
        message=(
            f"Your request to refund {amount} on order {payment.order.number} "
            f"({payment.get_provider_display()}): {state.label.lower()}."
            + (f"\n\n{state.detail}" if state.detail else "")
            + f"\n\nSee it here: {link}\n"
        ),
        recipients=[requester.email],
    )
