"""The desk's forms (backoffice/forms.py) on their own: what they refuse, in which words, and a
refused form renewed. Through the pages they are tested with their views (test_orders.py,
test_refund_by_line.py, test_exports.py, test_attention.py)."""

import pytest
from django import forms

from backoffice.forms import (
    DAMAGED_FORM,
    ExportForm,
    RejectForm,
    RenewableForm,
    ResolveForm,
    SubmissionKeyField,
)
from payments.services.ledger import new_idempotency_key


class KeyedForm(RenewableForm):
    amount = forms.CharField()
    idempotency_key = SubmissionKeyField()


@pytest.mark.parametrize("key", ["", "bo-123", "bo-" + "G" * 32, "bo-" + "a" * 33, "x" * 60])
def test_a_damaged_submission_key_is_refused_in_plain_words(key):
    form = KeyedForm({"amount": "1.00", "idempotency_key": key})

    assert not form.is_valid()
    assert form.hidden_errors() == [DAMAGED_FORM]


def test_a_key_as_shown_is_taken():
    key = new_idempotency_key()

    form = KeyedForm({"amount": "1.00", "idempotency_key": key})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["idempotency_key"] == key


def test_a_renewed_form_keeps_its_errors_and_carries_a_new_key():
    form = KeyedForm({"amount": "", "idempotency_key": "bo-damaged"})

    renewed = form.renew()

    assert renewed.errors["amount"] and renewed.hidden_errors() == [DAMAGED_FORM]
    new_key = renewed.data["idempotency_key"]
    assert new_key != "bo-damaged"
    assert KeyedForm({"amount": "1.00", "idempotency_key": new_key}).is_valid()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"from": "2026-11-24", "to": "2026-11-01"},
         "The range starts after it ends (2026-11-24 to 2026-11-01): put the earlier date first."),
        ({"from": "24.11.2026"}, "Write dates as YYYY-MM-DD, e.g. 2026-11-24."),
        ({"q": "x" * 2_001}, "The search is too long to export (at most 2,000 characters)."),
        ({"q": "10\x0045"}, "The search holds a NUL character, which no order has; nothing was queued."),
    ],
)
def test_an_export_is_refused_with_its_first_problem_in_words(data, problem):
    form = ExportForm(data)

    assert not form.is_valid()
    assert form.problem() == problem


def test_an_export_of_one_day_is_fine():
    assert ExportForm({"from": "2026-11-24", "to": "2026-11-24"}).is_valid()


@pytest.mark.parametrize("form_class", [RejectForm, ResolveForm])
@pytest.mark.parametrize("note", ["Refund \u202egnp.exe", "line\x00break", "in\u200bvisible"])
def test_a_note_that_would_read_otherwise_than_it_is_is_refused(form_class, note):
    form = form_class({"note": note, "decision": "did_not_happen"})

    assert not form.is_valid()
    assert form.errors["note"]
