"""Telling a requester, on the desk, what became of their refund request: a notice written in
the transaction that decides, shown at their next page, once."""

from django.contrib.auth.models import User

from payments.models import DecisionNotice, Operation
from payments.selectors import RefundRequest, refund_request_state


def decision_notice_add(*, operation: Operation) -> None:
    """Within the transaction that approves, rejects or expires `operation`: the desk tells its
    requester at their next page what became of it (as it stands then)."""
    if operation.requested_by_id is None:
        return
    DecisionNotice.objects.create(operation=operation, requester_id=operation.requested_by_id)


def decision_notices_take(*, user: User) -> list[RefundRequest]:
    """The decisions on `user`'s refund requests not shown to them yet, oldest first, as
    RefundRequests: taken, so that each is shown once. (Two pages loaded at the same instant
    may both show one: a notice, not money, so no lock is taken for it.)"""
    notices = list(
        DecisionNotice.objects.filter(requester=user)
        .select_related("operation__payment__order", "operation__decided_by")
        .order_by("created_at", "pk")
    )
    if notices:
        DecisionNotice.objects.filter(pk__in=[notice.pk for notice in notices]).delete()
    return [
        RefundRequest(operation=notice.operation, state=refund_request_state(notice.operation))
        for notice in notices
    ]
