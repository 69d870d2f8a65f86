"""Syncing with the provider: money moved outside the back office is recorded, never merged."""

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from payments.models import AuditAction, AuditEvent, OperationSource
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.provider_notifications import notification_receive
from payments.services.refunds import refund_request
from payments.services.sync import SyncOutcome, payment_sync
from payments.statuses import OperationStatus
from tests.payments.sandbox.calls import in_background

pytestmark = [pytest.mark.django_db]


def test_a_refund_made_in_the_providers_portal_is_recorded_as_external(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=25_000)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    [external] = payment.operations.filter(source=OperationSource.PROVIDER)
    assert report.synced
    assert (external.kind, external.settled_amount) == ("refund", 25_000)
    assert payment.refunded == 25_000
    assert payment.synced_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.EXTERNAL_RECORDED, operation=external).exists()
    call_command("check_ledger")

    payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))
    assert payment.operations.filter(source=OperationSource.PROVIDER).count() == 1


def test_bamboras_portal_is_invisible_to_its_api(make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.portal(provider="bambora", reference=payment.reference, kind="refund", amount=2_000)

    payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert payment.refunded == 0
    assert not payment.operations.filter(source=OperationSource.PROVIDER).exists()


def test_less_at_the_provider_than_in_our_ledger_is_reported_not_corrected(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    sandbox.create_payment(provider="vipps", reference=payment.reference, currency="NOK",
                           amount=100_000, captured=60_000)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert payment.captured == 100_000
    assert (report.synced, report.disagrees, payment.synced_at) == (False, True, None)
    assert any("less captured than our ledger" in note for note in report.notes)
    assert AuditEvent.objects.filter(action=AuditAction.PAYMENT_SYNCED, payment=payment,
                                     message__contains="less captured").exists()


def test_an_unreadable_provider_leaves_the_payment_not_synced(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    sandbox.inject_fault(provider="vipps", endpoint="fetch", mode="error", status=500)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert not report.synced
    assert payment.synced_at is None
    assert "could not be read" in report.notes[0]


def test_sync_payments_takes_the_payments_never_synced(make_payment, sandbox, capsys):
    first = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    second = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    # At the provider this one has less captured than our ledger holds.
    third = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="simpleps", reference=third.reference, currency="USD",
                           amount=10_000, captured=6_000)

    call_command("sync_payments", days=0)

    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert first.synced_at and second.synced_at and third.synced_at is None
    output = capsys.readouterr().out
    assert f"payment {third.pk}: The provider shows 40.00\xa0USD less captured" in output
    assert "2 payment(s) synced, 0 could not be read, 1 disagree with their provider." in output


def test_money_the_provider_shows_in_another_currency_is_not_compared(make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    # At the provider the payment is in SEK, with a refund our ledger does not hold.
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="SEK",
                           amount=10_000, captured=10_000, refunded=2_500)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert (report.synced, report.disagrees) == (False, True)
    assert report.notes == [
        "The provider holds this payment in SEK, the back office in EUR; nothing compared or "
        "changed, for a person to check."
    ]
    assert payment.synced_at is None
    assert payment.refunded == 0
    assert not payment.operations.filter(source=OperationSource.PROVIDER).exists()
    assert AuditEvent.objects.filter(action=AuditAction.PAYMENT_SYNCED, payment=payment,
                                     message__contains="in SEK, the back office in EUR").exists()


def test_a_payment_the_provider_shows_less_of_is_no_longer_synced(make_payment, sandbox):
    payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
    assert payment_sync(payment_id=payment.pk, actor=Actor.system("tests")).synced
    # The provider now shows less refundable money than our ledger holds.
    sandbox.create_payment(provider="simpleps", reference=payment.reference, currency="USD",
                           amount=10_000, captured=6_000)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert (report.synced, report.disagrees) == (False, True)
    assert report.notes == [
        "The provider shows 40.00\xa0USD less captured than our ledger; left unchanged for a person to check."
    ]
    assert payment.synced_at is None
    assert payment.captured == 10_000


def test_less_authorized_at_the_provider_is_a_disagreement(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=100_000, at_provider=False)
    sandbox.create_payment(provider="vipps", reference=payment.reference, currency="NOK", amount=90_000)

    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert report.disagrees
    assert "less authorized than our ledger" in report.notes[0]
    assert (payment.authorized, payment.synced_at) == (100_000, None)


CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", list(CURRENCY))
@pytest.mark.parametrize(
    ("answer", "status_after_the_call"),
    [("late_answer", OperationStatus.UNKNOWN), ("held", OperationStatus.SUCCEEDED)],
    ids=["answer lost", "answer arrives"],
)
def test_a_sync_during_a_refund_in_flight_books_it_once(
    provider, answer, status_after_the_call, make_payment, sandbox, sandbox_server
):
    # given: the provider has carried our refund out, its answer has not reached us yet
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode=answer)
    call = in_background(lambda: refund_request(
        payment_id=payment.pk, amount=2_500, reason="customer_request",
        actor=Actor.system("tests"), idempotency_key=new_idempotency_key(),
    ))
    assert sandbox_server.sandbox.wait_for_held(1, provider=provider, endpoint="refund")

    # when: a sync runs meanwhile (a webhook, say), then the call ends and anything left
    # unresolved is reconciled
    report = payment_sync(payment_id=payment.pk, actor=Actor.system("notification"))
    sandbox.release()
    operation = call()
    assert operation.status == status_after_the_call, operation.failure_message
    call_command("reconcile")

    # then: the refund is booked once, as ours, and the provider refunded once
    assert report.notes == ["Refunds under way; their outcome must be known before comparing."]
    operation.refresh_from_db()
    payment.refresh_from_db()
    at_provider = sandbox.payment(provider=provider, reference=payment.reference)
    assert operation.status == OperationStatus.SUCCEEDED, operation.failure_message
    assert payment.refunded == at_provider["refunded"] == 2_500
    assert [op["kind"] for op in at_provider["operations"]] == ["refund"]
    assert not payment.operations.filter(source=OperationSource.PROVIDER).exists()
    call_command("check_ledger")


def test_a_larger_authorization_at_the_provider_is_taken_and_audited(make_payment, sandbox):
    # given: the provider holds more authorized than we do (an authorization raised after the
    # order reached us)
    payment = make_payment("vipps", currency="NOK", amount=100_000, at_provider=False)
    sandbox.create_payment(provider="vipps", reference=payment.reference, currency="NOK", amount=120_000)

    # when
    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    # then: it is taken, in the open
    payment.refresh_from_db()
    assert (report.synced, report.notes) == (True, [])
    assert payment.authorized == 120_000
    event = AuditEvent.objects.get(action=AuditAction.PAYMENT_SYNCED, payment=payment)
    assert event.message == "Authorized amount taken from the provider."
    assert (event.before["authorized"], event.after["authorized"]) == (100_000, 120_000)
    call_command("check_ledger")


def test_a_sync_goes_on_from_the_read_its_check_made(make_payment, sandbox):
    # given: a refund carried out at the provider whose answer was lost, and a refund made in
    # the provider's portal since
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="lost_answer")
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    assert operation.status == OperationStatus.UNKNOWN
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=1_000)
    sandbox.clear_requests()

    # when
    report = payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    # then: the provider was read once; our refund is settled from that read, and the same
    # read books the portal's, the refund just settled being no refund under way
    reads = [r["endpoint"] for r in sandbox.requests("vipps") if r["endpoint"] != "token"]
    operation.refresh_from_db()
    payment.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    [external] = payment.operations.filter(source=OperationSource.PROVIDER)
    assert (external.kind, external.settled_amount) == ("refund", 1_000)
    assert report.synced
    assert report.notes == ["Refund of 10.00\xa0NOK made outside the back office recorded."]
    assert payment.refunded == 3_500
    assert reads == ["fetch", "events"]  # one read of a Vipps payment: its aggregate and its events
    call_command("check_ledger")


@pytest.mark.django_db(transaction=True)
def test_one_sync_of_a_payment_at_a_time(make_payment, sandbox, sandbox_server):
    # given: a sync under way, reading the payment, which the provider shows refunded in its
    # portal
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=25_000)
    sandbox.clear_requests()
    sandbox.inject_fault(provider="vipps", endpoint="fetch", mode="held")
    first = in_background(lambda: payment_sync(payment_id=payment.pk, actor=Actor.system("worker 1")))
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="fetch")

    # when: another sync of it starts meanwhile (a notification, say)
    second = payment_sync(payment_id=payment.pk, actor=Actor.system("notification"))

    # then: it reads and books nothing
    assert second.outcome == SyncOutcome.BUSY
    assert [r["endpoint"] for r in sandbox.requests("vipps") if r["endpoint"] != "token"] == ["fetch"]
    # and the first books the portal's refund, once
    sandbox.release()
    assert first().synced
    assert payment.operations.filter(source=OperationSource.PROVIDER).count() == 1
    assert payment_sync(payment_id=payment.pk, actor=Actor.system("worker 2")).synced
    assert payment.operations.filter(source=OperationSource.PROVIDER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_notification_that_finds_the_payment_being_checked_has_it_synced_once_it_is_free(
    make_payment, sandbox, sandbox_server, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    # given: a check of the payment under way, its read of the provider held
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    sandbox.inject_fault(provider="vipps", endpoint="fetch", mode="held")
    first = in_background(lambda: payment_sync(payment_id=payment.pk, actor=Actor.system("worker 1")))
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="fetch")

    # when: the provider notifies us meanwhile of a refund made in its portal, which the
    # check's read does not show
    notification = notification_receive(provider="vipps", headers={}, body=b"{}", reference=payment.reference)
    sandbox.release()
    assert first().synced
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=25_000)

    # then: the notification could not act (the provider will not send it again), but the
    # payment is synced once it is free, and the portal's refund booked
    assert notification.outcome.endswith("It is synced again shortly.")
    DBTaskResult.objects.update(run_after=timezone.now())  # its time has come
    call_command("worker", batch=True)
    assert payment.operations.filter(source=OperationSource.PROVIDER).count() == 1
    payment.refresh_from_db()
    assert payment.refunded == 25_000
