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


def written(form, renderer):
    form.renderer = renderer
    return [str(field) for field in form]


@pytest.mark.parametrize(
    "data",
    [None, {"text": HOSTILE, "number": "12", "hidden": HOSTILE, "checkbox": "on", "choice": "a", "grouped": "y"},
     {"text": "", "number": "x", "choice": "nope"}],
)
def test_every_widget_is_written_as_jinja2_writes_it(data):
    form = EveryWidget(data, initial={"hidden": "<b>", "choice": "b"})
    form.is_valid()

    assert written(form, DeskFormRenderer()) == written(form, JINJA2)


def test_the_refund_and_cancel_forms_are_written_as_jinja2_writes_them(make_payment):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=60_000, at_provider=False,
                           lines=[NewLine(sku="A", name=HOSTILE, quantity=3, unit_price=20_000)])
    balances = payment_balances(payment=payment)
    offer = order_refund_offer(order=payment.order)
    forms_ = [
        RefundForm(payment=payment, refundable=balances.refundable,
                   approval_above=refund_without_approval(payment=payment, balances=balances), offer=offer),
        RefundForm({f"refund-{payment.pk}-amount": "<b>", f"refund-{payment.pk}-reason": "other"}, payment=payment,
                   refundable=balances.refundable, approval_above=0, offer=offer),
        CancelForm(payment=payment, cancellable=balances.cancellable),
    ]
    for form in forms_:
        form.is_valid()
        assert written(form, DeskFormRenderer()) == written(form, JINJA2)
