"""The desk's forms write their fields as Django's Jinja2 templates do, escaping included,
whatever the field holds: backoffice/form_rendering.py writes the commonest ones itself."""

import pytest
from django import forms
from django.forms.renderers import Jinja2

from backoffice.form_rendering import DeskFormRenderer
from backoffice.forms import CancelForm, RefundForm
from payments.approval_limits import refund_without_approval
from payments.selectors import order_refund_offer, payment_balances
from payments.services.orders import NewLine

pytestmark = pytest.mark.django_db

JINJA2 = Jinja2()
HOSTILE = "\"><script>alert('x')</script>&amp;"


class EveryWidget(forms.Form):
    text = forms.CharField(max_length=20, widget=forms.TextInput(attrs={"placeholder": HOSTILE, "data-x": 3}))
    number = forms.IntegerField(min_value=0, max_value=9, required=False)
    hidden = forms.CharField(widget=forms.HiddenInput)
    checkbox = forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs={"data-amount": 500}))
    choice = forms.ChoiceField(choices=[("", "Choose…"), ("a", HOSTILE), ("b", "B")])
    grouped = forms.ChoiceField(choices=[("Group <1>", [("x", "X"), ("y", "Y")]), ("z", "Z")], required=False)
    email = forms.EmailField(required=False, widget=forms.EmailInput(attrs={"autofocus": True, "disabled": False}))
    # In a fieldset, with a legend; a label and help text of the form's own.
    radio = forms.ChoiceField(choices=[("r", "R"), ("s", "S")], required=False, widget=forms.RadioSelect,
                              help_text=HOSTILE)
    labelled = forms.CharField(label=HOSTILE, help_text="Safe <b>help</b>", required=False)
    unlabelled = forms.CharField(label="", required=False)
    spaced = forms.CharField(label=" Spaced label ", required=False)


def written(make_form, renderer):
    """Each field's widget, label, errors and whole group (label, help text, errors, widget),
    of a form made for `renderer` (a bound field keeps the renderer it was first made with)."""
    form = make_form()
    form.renderer = renderer
    form.is_valid()
    return [
        (str(field), field.label_tag(), field.legend_tag(), str(field.errors), field.as_field_group())
        for field in form
    ]


@pytest.mark.parametrize(
    "data",
    [None, {"text": HOSTILE, "number": "12", "hidden": HOSTILE, "checkbox": "on", "choice": "a", "grouped": "y"},
     {"text": "", "number": "x", "choice": "nope", "radio": "t"}],
)
def test_every_widget_is_written_as_jinja2_writes_it(data):
    def make_form():
        return EveryWidget(data, initial={"hidden": "<b>", "choice": "b"})

    def make_form_without_ids():  # labels without a tag
        return EveryWidget(data, initial={"hidden": "<b>", "choice": "b"}, auto_id=False, label_suffix="")

    assert written(make_form, DeskFormRenderer()) == written(make_form, JINJA2)
    assert written(make_form_without_ids, DeskFormRenderer()) == written(make_form_without_ids, JINJA2)


def test_the_refund_and_cancel_forms_are_written_as_jinja2_writes_them(make_payment):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=60_000, at_provider=False,
                           lines=[NewLine(sku="A", name=HOSTILE, quantity=3, unit_price=20_000)])
    balances = payment_balances(payment=payment)
    offer = order_refund_offer(order=payment.order)
    key = {"idempotency_key": "bo-the-same-for-both"}  # each form made would draw its own
    makers = [
        lambda: RefundForm(payment=payment, refundable=balances.refundable, initial=key,
                           approval_above=refund_without_approval(payment=payment, balances=balances), offer=offer),
        lambda: RefundForm({f"refund-{payment.pk}-amount": "<b>", f"refund-{payment.pk}-reason": "other"},
                           payment=payment, refundable=balances.refundable, approval_above=0, offer=offer),
        lambda: CancelForm(payment=payment, initial={"expected_amount": balances.cancellable, **key}),
    ]
    for make_form in makers:
        assert written(make_form, DeskFormRenderer()) == written(make_form, JINJA2)
