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


class SubmissionKeyField(forms.CharField):
    """The key a form carries from the moment it is shown, so that sending the same form
    twice (a double click, the back button) is recognised as one submission."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(max_length=50, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not IDEMPOTENCY_KEY.fullmatch(value):
            raise ValidationError("This form is damaged; reload the page and try again.")
        return value


class RefundForm(forms.Form):
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


class CancelForm(forms.Form):
    expected_amount = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
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
