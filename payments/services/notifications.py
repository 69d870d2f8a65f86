"""Telling people what waits for them. Sent after the transaction that caused it commits."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from payments.models import Operation
from payments.money import format_money

logger = logging.getLogger("payments")


def managers_to_notify():
    """Active people who may approve refunds and have an email address."""
    approve = Q(groups__permissions__codename="approve_refund") | Q(
        user_permissions__codename="approve_refund"
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(approve | Q(is_superuser=True))
        .distinct()
    )


def notify_managers_of_request(*, operation_id):
    """Email the managers (but not the requester) that a refund request waits for approval,
    with a link to it. A mail server that is down is logged, never a failed request."""
    operation = Operation.objects.select_related("payment__order", "requested_by").get(pk=operation_id)
    payment = operation.payment
    recipients = [
        user.email for user in managers_to_notify().exclude(pk=operation.requested_by_id)
    ]
    if not recipients:
        return
    amount = format_money(operation.amount, payment.currency)
    link = settings.SITE_URL.rstrip("/") + reverse("approvals") + f"#request-{operation.pk}"
    requester = operation.requested_by.get_username() if operation.requested_by else "someone"
    try:
        send_mail(
            subject=f"Refund of {amount} on order {payment.order.number} waits for approval",
            message=(
                f"{requester} asks to refund {amount} on order {payment.order.number} "
                f"({payment.get_provider_display()}), reason: {operation.get_reason_display()}."
                f"\n\nApprove or reject it here: {link}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except OSError:
        logger.exception("approval_notification_failed operation=%s", operation.pk)
