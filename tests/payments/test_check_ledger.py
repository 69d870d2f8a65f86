"""`manage.py check_ledger`: silent agreement when every aggregate equals its ledger; a
non-zero exit naming each payment whose aggregate was changed behind the ledger's back."""

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from payments.models import Payment, RefundReason
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

AGREES = "Every payment's aggregate equals its ledger."


@pytest.fixture
def refunded_payment(make_payment, agent):
    """EUR 200.00 captured, 50.00 of it refunded through the provider."""
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    operation = refund_request(
        payment_id=payment.pk,
        amount=5_000,
        reason=RefundReason.CUSTOMER_REQUEST,
        actor=Actor.of_user(agent),
        idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.SUCCEEDED
    payment.refresh_from_db()
    return payment


def test_consistent_payments_pass(refunded_payment, make_payment, capsys):
    make_payment("vipps", currency="NOK", amount=10_000, at_provider=False)

    call_command("check_ledger")

    out, err = capsys.readouterr()
    assert AGREES in out
    assert err == ""


def test_no_payments_at_all_pass(capsys):
    call_command("check_ledger")

    assert AGREES in capsys.readouterr().out


def test_a_tampered_refund_total_is_found_and_named(refunded_payment, make_payment, capsys):
    untouched = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000, at_provider=False)
    # Within the CHECK constraints, so only the ledger can tell.
    Payment.objects.filter(pk=refunded_payment.pk).update(refunded=F("refunded") + 100)

    with pytest.raises(CommandError, match=r"^1 payment\(s\) disagree with their ledger\.$"):
        call_command("check_ledger")

    out, err = capsys.readouterr()
    assert AGREES not in out
    assert err.strip() == (
        f"Payment {refunded_payment.pk} (order {refunded_payment.order.number}, bambora "
        f"{refunded_payment.reference}): refunded 51.00\u00a0EUR in the aggregate, "
        "50.00\u00a0EUR in the ledger"
    )
    assert f"Payment {untouched.pk} " not in err


def test_every_tampered_payment_and_figure_is_named(make_payment, capsys):
    first = make_payment("vipps", currency="NOK", amount=10_000, captured=6_000, at_provider=False)
    second = make_payment("bambora", currency="JPY", amount=5_000, at_provider=False)
    Payment.objects.filter(pk=first.pk).update(captured=7_000, cancelled=3_000)
    Payment.objects.filter(pk=second.pk).update(cancelled=5_000)

    with pytest.raises(CommandError, match=r"2 payment\(s\) disagree"):
        call_command("check_ledger")

    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"Payment {first.pk} (order {first.order.number}, vipps {first.reference}): "
        "captured 70.00\u00a0NOK in the aggregate, 60.00\u00a0NOK in the ledger; "
        "cancelled 30.00\u00a0NOK in the aggregate, 0.00\u00a0NOK in the ledger",
        f"Payment {second.pk} (order {second.order.number}, bambora {second.reference}): "
        "cancelled 5,000\u00a0JPY in the aggregate, 0\u00a0JPY in the ledger",
    ]


def test_a_mismatch_makes_manage_py_exit_with_status_one(refunded_payment, capsys):
    # manage.py turns a CommandError into sys.exit(error.returncode) (run_from_argv, which also
    # closes every connection and so cannot run inside a test's transaction).
    Payment.objects.filter(pk=refunded_payment.pk).update(refunded=0)

    with pytest.raises(CommandError) as failed:
        call_command("check_ledger")

    assert failed.value.returncode == 1
    err = capsys.readouterr().err
    assert f"Payment {refunded_payment.pk} (order {refunded_payment.order.number}" in err
    assert "refunded 0.00\u00a0EUR in the aggregate, 50.00\u00a0EUR in the ledger" in err
