"""Forms check the shape of what an agent sends; the services check the business rules."""

import re

from django import forms
from django.core.exceptions import ValidationError

from payments.models import RefundReason
from payments.money import InvalidAmount, format_plain, parse_amount
from payments.services.ledger import new_idempotency_key

IDEMPOTENCY_KEY = re.compile(r"bo-[0-9a-f]{32}")


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", max_length=2000, required=False)


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


class RenewableForm(forms.Form):
    """A form shown again after it was refused. Its hidden fields are not shown to the agent,
    so their errors are said in plain words (`hidden_errors`), and `renew()` gives it what a
    freshly shown form carries: without that, sending it again would be refused again."""

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
    amount = forms.CharField(label="Amount", max_length=40)
    reason = forms.ChoiceField(label="Reason", choices=[("", "Choose…"), *RefundReason.choices])
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Required for “Other”"}),
    )
    idempotency_key = SubmissionKeyField()

    def __init__(self, *args, payment, **kwargs):
        self.payment = payment
        kwargs.setdefault("prefix", f"refund-{payment.pk}")
        kwargs.setdefault("label_suffix", "")
        if not args and "data" not in kwargs:
            kwargs.setdefault(
                "initial",
                {
                    "amount": format_plain(payment.balances.refundable, payment.currency),
                    "idempotency_key": new_idempotency_key(),
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["amount"].help_text = f"In {payment.currency}, e.g. {format_plain(1250, payment.currency)}"
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"], self.payment.currency)
        except InvalidAmount as error:
            raise ValidationError(str(error)) from error

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == RefundReason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", "Describe the reason when it is “Other”.")
        return cleaned


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

    def __init__(self, *args, payment, **kwargs):
        self.payment = payment
        kwargs.setdefault("prefix", f"cancel-{payment.pk}")
        if not args and "data" not in kwargs:
            kwargs.setdefault(
                "initial",
                {
                    "expected_amount": payment.balances.cancellable,
                    "idempotency_key": new_idempotency_key(),
                },
            )
        super().__init__(*args, **kwargs)


class RejectForm(forms.Form):
    note = forms.CharField(label="Note", max_length=500)
