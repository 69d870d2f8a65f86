"""Forms check the shape of what an agent sends; the services check the business rules."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from backoffice.form_rendering import DeskFormRenderer
from backoffice.untrusted import name_problem
from payments.models import RefundReason
from payments.money import (
    MONEY_LOCALES,
    InvalidAmount,
    currency_exponent,
    format_money,
    format_typed,
    locale_name,
    parse_typed_amount,
)
from payments.order_lines import RefundItems
from payments.services.ledger import new_idempotency_key

IDEMPOTENCY_KEY = re.compile(r"bo-[0-9a-f]{32}")


def plain_text(value):
    """A note a manager reads: no control characters, bidirectional overrides or invisible
    characters that would make it read otherwise than it is."""
    if problem := name_problem(value):
        raise ValidationError(problem)


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", max_length=2000, required=False)


EXPORT_DATES = "Write dates as YYYY-MM-DD, e.g. 2026-11-24."


class ExportForm(forms.Form):
    """An export of the orders a search finds (`q`, as the orders page has it), placed between
    `from` and `to` (inclusive). Its errors are in words for the person who asked."""

    q = forms.CharField(
        max_length=2000,
        required=False,
        error_messages={
            "max_length": "The search is too long to export (at most 2,000 characters).",
            "null_characters_not_allowed": "The search holds a NUL character, which no order has; nothing was queued.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is no name a Python class attribute can have.
        for name in ("from", "to"):
            self.fields[name] = forms.DateField(
                required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": EXPORT_DATES}
            )

    def clean(self):
        data = super().clean()
        date_from, date_to = data.get("from"), data.get("to")
        if date_from and date_to and date_from > date_to:
            # Nothing is placed between them: an empty file would look like an answer.
            raise ValidationError(
                f"The range starts after it ends ({date_from.isoformat()} to {date_to.isoformat()}): "
                "put the earlier date first."
            )
        return data

    def problem(self):
        """The first reason the form was refused, in words."""
        return next(error for errors in self.errors.values() for error in errors)


DAMAGED_FORM = (
    "This form arrived damaged, so nothing was done. It has been renewed: check it and send "
    "it again."
)


class SubmissionKeyField(forms.CharField):
    """The key a form carries from the moment it is shown, so that sending the same form
    twice (a double click, the back button) is recognised as one submission."""

    widget = forms.HiddenInput
    default_error_messages = {"required": DAMAGED_FORM, "max_length": DAMAGED_FORM}

    def __init__(self, **kwargs):
        super().__init__(max_length=50, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not IDEMPOTENCY_KEY.fullmatch(value):
            raise ValidationError(DAMAGED_FORM)
        return value


# The desk's forms render their fields for less than Django's default renderer
# (backoffice/form_rendering.py). One renderer, so that its templates are compiled once. The
# admin keeps Django's default renderer: its widgets have Django templates only.
DESK_RENDERER = DeskFormRenderer()


class RenewableForm(forms.Form):
    """A form shown again after it was refused. Its hidden fields are not shown to the agent,
    so their errors are said in plain words (`hidden_errors`), and `renew()` gives it what a
    freshly shown form carries: without that, sending it again would be refused again."""

    default_renderer = DESK_RENDERER

    def hidden_errors(self):
        return [error for field in self.hidden_fields() for error in field.errors]

    def renew(self, **values):
        """Replace the submitted values of hidden fields by `values` and a new submission key
        (the refused one may be the very problem). The errors found stay."""
        self.is_valid()  # the errors are those of what was sent: find them before replacing it
        self.data = self.data.copy()
        for name, value in {**values, "idempotency_key": new_idempotency_key()}.items():
            self.data[self.add_prefix(name)] = value
        return self


class RefundForm(RenewableForm):
    """A refund of one payment: an amount typed in the agent's locale, or (on an order with
    lines) the units of each line and the shipping to give back, from which the amount is
    computed. The amount starts empty: nothing is refunded that the agent did not ask for.

    Sent with the "Compute amount" button (`action=compute`), or with an empty amount and
    items chosen, the form asks for nothing to be done: the view shows it again with the
    amount the items come to (computed()).
    """

    COMPUTE = "compute"

    amount = forms.CharField(label="Amount", max_length=40, required=False)
    # Checked in clean(): computing an amount needs no reason.
    reason = forms.ChoiceField(
        label="Reason", choices=[("", "Choose…"), *RefundReason.choices], required=False
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=500,
        validators=[plain_text],
        widget=forms.TextInput(attrs={"placeholder": "Required for “Other”"}),
    )
    idempotency_key = SubmissionKeyField()

    def __init__(self, *args, payment, refundable, approval_above, offer=None, **kwargs):
        """`refundable`: what can be refunded of the payment now (minor units);
        `approval_above`: refunds of more than this on the payment need a manager's approval
        (payments.approval_limits.refund_without_approval, worked out by the card); `offer`:
        the RefundOffer of the payment's order when it has lines."""
        self.payment = payment
        self.refundable = refundable
        self.approval_above = approval_above
        self.offer = offer
        kwargs.setdefault("prefix", f"refund-{payment.pk}")
        kwargs.setdefault("label_suffix", "")
        if not args and "data" not in kwargs:
            kwargs["initial"] = {"idempotency_key": new_idempotency_key(), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        example = format_typed(123450 * 10 ** currency_exponent(payment.currency) // 100, payment.currency)
        self.fields["amount"].help_text = f"In {payment.currency}, for example {example}."
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        for line in offer.lines if offer else []:
            if line.remaining:
                self.fields[f"quantity-{line.line.pk}"] = forms.IntegerField(
                    label=f"Refund quantity for {line.line.name}",
                    required=False,
                    min_value=0,
                    max_value=line.remaining,
                    error_messages={
                        "invalid": "Enter a whole number of units.",
                        "min_value": "Enter a whole number of units.",
                        "max_value": f"At most {line.remaining} can be refunded.",
                    },
                    widget=forms.NumberInput(
                        attrs={
                            "class": "quantity",
                            "placeholder": "0",
                            "data-remaining": line.remaining,
                            "data-remaining-amount": line.remaining_amount,
                        }
                    ),
                )
        if offer and offer.shipping_refundable:
            self.fields["shipping"] = forms.BooleanField(
                label="Include shipping",
                required=False,
                widget=forms.CheckboxInput(attrs={"data-amount": offer.shipping}),
            )

    @property
    def computing(self):
        """Sent to compute the amount from the items, not to refund."""
        return self.is_bound and self.data.get(self.add_prefix("action")) == self.COMPUTE

    def item_rows(self):
        """(LineOffer, its quantity field) for each line with units left to refund."""
        return [
            (line, self[f"quantity-{line.line.pk}"])
            for line in (self.offer.lines if self.offer else [])
            if f"quantity-{line.line.pk}" in self.fields
        ]

    @property
    def shipping_field(self):
        """The "Include shipping" field while the order's shipping can be refunded, or None."""
        return self["shipping"] if "shipping" in self.fields else None

    def clean_amount(self):
        text = self.cleaned_data["amount"].strip()
        if not text:
            return None
        try:
            return parse_typed_amount(text, self.payment.currency)
        except InvalidAmount as error:
            raise ValidationError(str(error)) from error

    def clean(self):
        cleaned = super().clean()
        items = RefundItems(
            quantities={
                line.line.pk: cleaned.get(f"quantity-{line.line.pk}") or 0
                for line, _ in self.item_rows()
            },
            shipping=bool(cleaned.get("shipping")),
        )
        cleaned["items"] = items if items else None
        cleaned["items_amount"] = self.offer.amount_for(items) if items else None
        for line in self.offer.lines if self.offer else []:
            # Sent from a page shown before the last units were refunded: its field is gone.
            sent = self.data.get(self.add_prefix(f"quantity-{line.line.pk}"), "")
            if not line.remaining and sent.strip() not in ("", "0"):
                self.add_error(None, f"“{line.line.name}” is refunded already, or being refunded.")
        if self.computing:
            if not items and not self.errors:
                self.add_error(None, "Choose the items to refund first: their amount is computed from them.")
            return cleaned
        if not cleaned.get("reason"):
            self.add_error("reason", "Choose a reason for the refund.")
        elif cleaned["reason"] == RefundReason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", "Describe the reason when it is “Other”.")
        amount = cleaned.get("amount")
        if "amount" in self.errors:
            return cleaned
        if amount is None and not items:
            self.add_error("amount", "Enter an amount, or choose items to refund." if self.offer else "Enter an amount.")
        elif amount is not None and items and amount > cleaned["items_amount"]:
            self.add_error(
                "amount",
                f"The items you chose come to {format_money(cleaned['items_amount'], self.payment.currency)}: "
                "refund at most that, or choose more items.",
            )
        return cleaned

    @property
    def wants_amount_computed(self):
        """Valid, and sent to learn what the chosen items come to rather than to refund them.
        Call after is_valid()."""
        return self.computing or (self.cleaned_data["amount"] is None and self.cleaned_data["items"])

    def computed(self):
        """This form shown again, unsent, with the amount that its items come to (and a
        reason and note if the agent chose them already)."""
        initial = {name: self.cleaned_data.get(name) for name in self.fields}
        initial["amount"] = format_typed(self.cleaned_data["items_amount"], self.payment.currency)
        return RefundForm(
            payment=self.payment,
            refundable=self.refundable,
            approval_above=self.approval_above,
            offer=self.offer,
            initial=initial,
        )

    @property
    def typed_amount(self):
        """The amount as it stands in the form (sent or filled in), in minor units, or None
        when there is none yet or it is not one."""
        text = self.data.get(self.add_prefix("amount")) if self.is_bound else self.initial.get("amount")
        try:
            return parse_typed_amount(text, self.payment.currency)
        except InvalidAmount:
            return None

    @property
    def needs_approval(self):
        """Whether the amount in the form is above the approval limit it was given (desk.js
        makes the same comparison as the agent types)."""
        amount = self.typed_amount
        return amount is not None and amount > self.approval_above

    @property
    def submit_label(self):
        """"Refund 40.00 EUR" once there is an amount, "Request approval" when it needs a
        manager's approval."""
        if self.needs_approval:
            return "Request approval"
        amount = self.typed_amount
        return f"Refund {format_money(amount, self.payment.currency)}" if amount else "Refund"

    def whole_amount(self):
        """The whole refundable amount as the agent would type it."""
        return format_typed(self.refundable, self.payment.currency)


class CancelForm(RenewableForm):
    expected_amount = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages=dict.fromkeys(
            ("required", "invalid", "min_value", "max_value"),
            "The amount to release was missing from the confirmation, so nothing was "
            "cancelled. Check the amount above and confirm again.",
        ),
    )
    idempotency_key = SubmissionKeyField()

    def __init__(self, *args, payment, cancellable=None, **kwargs):
        """`cancellable`: what the cancel would release now, which the agent confirms (the
        form shown; one sent back carries it)."""
        self.payment = payment
        kwargs.setdefault("prefix", f"cancel-{payment.pk}")
        if not args and "data" not in kwargs:
            kwargs.setdefault(
                "initial",
                {"expected_amount": cancellable, "idempotency_key": new_idempotency_key()},
            )
        super().__init__(*args, **kwargs)


class RejectForm(forms.Form):
    note = forms.CharField(label="Note", max_length=500, validators=[plain_text])


class PreferencesForm(forms.Form):
    money_locale = forms.ChoiceField(label="Amounts", required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        default = settings.MONEY_LOCALE
        self.fields["money_locale"].choices = [
            ("", f"{format_typed(123450, 'EUR', locale=default)} (the default, {locale_name(default)})"),
            *((code, f"{format_typed(123450, 'EUR', locale=code)} ({name})") for code, name in MONEY_LOCALES.items()),
        ]
        self.fields["money_locale"].help_text = (
            "How you write amounts, and how they are shown to you: the decimal symbol and the grouping of thousands."
        )


class WithdrawForm(forms.Form):
    """Where a withdrawn request is shown afterwards: its payment's card, or "My requests"."""

    return_to = forms.ChoiceField(choices=[("card", "card"), ("my_requests", "my_requests")], required=False)


class ResolveForm(forms.Form):
    """A manager's decision on an operation that needs a person. The note is plain text, as
    every note on the desk; that there is one is checked by the service, after it has checked
    who may decide: a forged decision is refused (and audited) whatever it chose."""

    decision = forms.ChoiceField(
        choices=[("carried_out", "Carried out at the provider"), ("did_not_happen", "Did not happen")],
        required=False,
    )
    note = forms.CharField(label="Note", max_length=500, required=False, validators=[plain_text])
    # Where the decision was taken: its answer is that page's region, or that page again.
    return_to = forms.ChoiceField(choices=[("attention", "attention"), ("order", "order")], required=False)
