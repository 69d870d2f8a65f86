"""A payment's card on the desk, as one object: the payment in detail (its figures and history,
payments.selectors.PaymentDetail), the forms of the actions that make sense now and that the
person may take, whether it asks to confirm a cancel, and a notice of what just happened.

A view loads the payment once before an action (card_load) and once after it, and renders the
card (card_response) or the order page with its cards. Notices (what an action came to, a
refusal) are a small type of their own, shown on the card or, after a plain form post, as one
of Django's messages."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import trigger_client_event

from backoffice.forms import CancelForm, RefundForm
from payments.approval_limits import refund_without_approval
from payments.balances import Balances
from payments.models import Operation, OperationKind, Payment
from payments.money import format_money, format_typed
from payments.order_lines import RefundOffer
from payments.roles import may
from payments.selectors import PaymentDetail, order_refund_offer, payment_view
from payments.statuses import OperationStatus

# Django's message level for each level of a notice.
MESSAGE_LEVELS = {
    "success": messages.SUCCESS,
    "info": messages.INFO,
    "warning": messages.WARNING,
    "error": messages.ERROR,
}


@dataclass(frozen=True)
class Notice:
    """What a person is told after an action: its `level` ("success", "info", "warning" or
    "error") and the words."""

    level: str
    text: str

    def __post_init__(self) -> None:
        if self.level not in MESSAGE_LEVELS:
            raise ValueError(f"A notice is one of {', '.join(MESSAGE_LEVELS)}, not {self.level!r}.")

    @property
    def alerts(self) -> bool:
        """Whether assistive technology announces it at once (role "alert"): a warning or an
        error; the others are a status."""
        return self.level in ("warning", "error")

    def flash(self, request: HttpRequest) -> None:
        """Show it on the next page, as one of Django's messages (after a plain form post)."""
        messages.add_message(request, MESSAGE_LEVELS[self.level], self.text)


@dataclass(frozen=True)
class PaymentCard:
    detail: PaymentDetail
    refund_form: RefundForm | None = None
    cancel_form: CancelForm | None = None
    # The card asks to confirm the cancel (with its cancel form) instead of showing the actions.
    confirm_cancel: bool = False
    notice: Notice | None = None

    @property
    def payment(self) -> Payment:
        return self.detail.payment

    @property
    def balances(self) -> Balances:
        return self.detail.balances


def refund_form_for(detail: PaymentDetail, offer: RefundOffer | None, *args: Any, **kwargs: Any) -> RefundForm:
    """The payment's refund form (RefundForm's arguments after the payment's own), with the
    approval limit worked out once, here: the form and the page compare amounts with it."""
    return RefundForm(
        *args,
        payment=detail.payment,
        refundable=detail.balances.refundable,
        approval_above=refund_without_approval(payment=detail.payment, balances=detail.balances),
        offer=offer,
        **kwargs,
    )


def build_card(
    detail: PaymentDetail,
    *,
    user: User | AnonymousUser,
    offer: RefundOffer | None = None,
    refund_form: RefundForm | None = None,
    cancel_form: CancelForm | None = None,
    confirm_cancel: bool = False,
    notice: Notice | None = None,
    whole: bool = False,
) -> PaymentCard:
    """The card of `detail` as `user` sees it: the forms of the actions that make sense now and
    that they may take (`offer`: the RefundOffer of an order with lines; `whole`: the refund
    form filled with the whole refundable amount), or the refused forms given, whether it asks
    to confirm a cancel, and a notice."""
    balances = detail.balances
    currency = detail.payment.currency
    # A refused form is shown with its errors even when nothing is left to do: the agent must
    # see why.
    if refund_form is None and balances.refundable and may(user, "payments.request_refund"):
        initial = {"amount": format_typed(balances.refundable, currency)} if whole else {}
        refund_form = refund_form_for(detail, offer, initial=initial)
    if cancel_form is None and balances.cancellable and may(user, "payments.cancel_payment"):
        cancel_form = CancelForm(payment=detail.payment, cancellable=balances.cancellable)
    return PaymentCard(
        detail=detail,
        refund_form=refund_form,
        cancel_form=cancel_form,
        confirm_cancel=confirm_cancel and cancel_form is not None,
        notice=notice,
    )


def card_load(payment_id: int) -> PaymentDetail:
    """The payment in detail, fresh from the database; 404 when there is no such payment."""
    try:
        return payment_view(payment_id=payment_id)
    except Payment.DoesNotExist:
        raise Http404("No such payment.") from None


def card_response(
    request: HttpRequest, detail: PaymentDetail, *, status: int = 200, changed: bool = False, **card: Any
) -> HttpResponse:
    """The payment's card alone (build_card's keywords in `card`). `changed`: an action
    changed the payment, so the regions that listen for `payment-changed` (the approvals
    count, the order's items) refresh themselves."""
    if "offer" not in card:
        card["offer"] = order_refund_offer(order=detail.payment.order)
    response = render(
        request,
        "backoffice/order_detail.html#payment-card",
        {"card": build_card(detail, user=request.user, **card)},
        status=status,
    )
    if changed:
        trigger_client_event(response, "payment-changed", {"payment": detail.payment.pk})
    return response


def outcome_notice(operation: Operation) -> Notice:
    """What the agent is told about an operation they just started."""
    currency = operation.payment.currency
    amount = format_money(operation.settled_amount or operation.amount, currency)
    refund = operation.kind == OperationKind.REFUND
    match operation.status:
        case OperationStatus.SUCCEEDED:
            return Notice("success", f"Refunded {amount}." if refund else f"Cancelled: {amount} released.")
        case OperationStatus.AWAITING_APPROVAL:
            return Notice(
                "info", f"Waiting for approval: the refund of {amount} is sent once a manager approves it."
            )
        case OperationStatus.FAILED:
            return Notice("error", ("Not refunded: " if refund else "Not cancelled: ") + operation.failure_message)
        case OperationStatus.PENDING:
            return Notice(
                "info",
                f"The provider accepted the {operation.kind} of {amount} and will confirm it later; the "
                "amount stays reserved meanwhile.",
            )
        case OperationStatus.UNKNOWN:
            return Notice("warning", f"Outcome unknown. {operation.failure_message}")
    return Notice("info", f"This {operation.kind} of {amount} is already being sent to the provider.")
