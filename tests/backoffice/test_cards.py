"""A payment's card on the desk as one object (backoffice.cards): its forms, notice and figures
built in one place from one load of the payment, never hung on model instances."""

import pytest

from backoffice.cards import Notice, build_card
from payments.selectors import payment_view
from tests.code_scan import ROOT, attribute_assignments, imports_of, python_files

pytestmark = pytest.mark.django_db

# The desk's views and the reads behind them.
DESK = [*python_files("backoffice/views"), ROOT / "backoffice/cards.py", ROOT / "payments/selectors.py"]


def test_nothing_on_the_desk_hangs_attributes_on_what_it_read():
    hung = {
        str(path.relative_to(ROOT)): found for path in DESK if (found := attribute_assignments(path.read_text()))
    }

    assert hung == {}
    # and the scan sees one when there is one
    assert attribute_assignments("payment.balances = balances\nself.ok = 1") == [(1, "payment.balances")]


def test_views_take_nothing_private_from_one_another():
    borrowed = {
        str(path.relative_to(ROOT)): private
        for path in python_files("backoffice")
        for module, names in imports_of(path.read_text())
        if module.startswith("backoffice.") and (private := [name for name in names if name.startswith("_")])
    }

    assert borrowed == {}


def test_a_card_offers_what_the_person_may_do_with_what_is_left(make_payment, agent, auditor, settings):
    settings.REFUND_APPROVAL_LIMITS = {"NOK": "30"}
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=4_000, at_provider=False)
    detail = payment_view(payment_id=payment.pk)

    card = build_card(detail, user=agent, whole=True)
    read_only = build_card(detail, user=auditor)

    assert card.payment == payment and card.balances == detail.balances
    assert card.refund_form.approval_above == 3_000  # the limit worked out once, for the form and the page
    assert card.refund_form.initial["amount"] == "40.00"
    assert card.cancel_form.initial["expected_amount"] == 6_000
    assert (read_only.refund_form, read_only.cancel_form) == (None, None)


def test_a_card_asks_to_confirm_a_cancel_only_when_one_can_be_made(make_payment, agent, auditor):
    payment = make_payment("vipps", currency="NOK", amount=10_000, at_provider=False)
    detail = payment_view(payment_id=payment.pk)

    assert build_card(detail, user=agent, confirm_cancel=True).confirm_cancel
    assert not build_card(detail, user=auditor, confirm_cancel=True).confirm_cancel


@pytest.mark.parametrize(("level", "alerts"), [("success", False), ("info", False), ("warning", True), ("error", True)])
def test_warnings_and_errors_are_announced_at_once(level, alerts):
    assert Notice(level, "Words.").alerts is alerts


def test_a_notice_has_a_level_the_desk_knows():
    with pytest.raises(ValueError, match="not 'danger'"):
        Notice("danger", "Words.")
