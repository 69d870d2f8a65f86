"""CSV exports: everything the database holds, whole (the check line says so), and inert in a
spreadsheet. Asked for in a request, made by the task (here run as it is queued: see
tests/settings.py; the worker itself in tests/payments/test_tasks.py), downloaded later."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.exports import safe_cell
from payments.models import AuditAction, AuditEvent, Export, Order
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from tests.backoffice.helpers import (
    CURRENCIES,
    checked_rows,
    expected_rows,
    make_orders,
    make_varied_payments,
)

pytestmark = pytest.mark.django_db


def downloaded(client, export):
    response = client.get(reverse("export_download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    return checked_rows(b"".join(response.streaming_content))


@pytest.fixture
def exported(client, django_capture_on_commit_callbacks):
    """Ask for an export (on the desk, or at an admin list's `url`), let its task run, and
    return the rows of its file."""

    def export(data=None, *, url=None):
        with django_capture_on_commit_callbacks(execute=True):
            if url is None:
                response = client.post(reverse("export_payments"), data or {})
            else:
                response = client.post(url + (f"?{urlencode(data)}" if data else ""))
        assert response.status_code == 302, response
        assert response["Location"] == reverse("exports")
        return downloaded(client, Export.objects.latest("pk"))

    return export


def test_a_thousand_varied_rows_come_back_equal_to_the_database(client, exported, manager, ledger_is_consistent):
    refundable = make_varied_payments(1_000)
    client.force_login(manager)

    rows = exported()

    expected = expected_rows(refundable)
    assert len(expected) == 1_000
    assert rows == expected
    # The data varies where it matters: a test of zeros proves nothing.
    assert len({row["refundable"] for row in rows}) > 100
    assert {row["currency"] for row in rows} == {currency for currency, _, _ in CURRENCIES}
    assert sum(row["refundable"] != row["captured"] for row in rows if row["captured"] not in ("0.00", "0", "0.000")) > 100


def test_refundable_counts_amounts_under_way(client, exported, manager, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000, at_provider=False)
    refund_request(payment_id=payment.pk, amount=60_000, reason="goodwill",
                   actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())  # awaits approval
    client.force_login(manager)

    [row] = exported()

    assert (row["captured"], row["refunded"], row["refundable"]) == ("1000.00", "0.00", "400.00")


FORMULAS = {
    "equals": "=HYPERLINK(\"http://evil\",\"x\")",
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1)",
    "tab": "\t=1+1",
    "carriage return": "\r=1+1",
    "line feed": "\n=1+1",
    "spaces before": "   =1+1",
    "no-break space before": "\u00a0@SUM(A1)",
    "full-width equals": "\uff1d1+1",
    "full-width plus": "\uff0b1+1",
    "full-width minus after a space": " \uff0d1+1",
    "full-width at": "\uff20SUM(A1)",
}


@pytest.mark.parametrize("text", FORMULAS.values(), ids=FORMULAS.keys())
def test_cells_that_a_spreadsheet_would_run_are_inert(client, exported, manager, make_payment, text):
    make_payment("bambora", currency="EUR", customer_name=text, customer_email="a@example.com",
                 reference=text + "-ref", at_provider=False)
    make_payment("bambora", currency="EUR", customer_name="Anne-Marie =1", at_provider=False)
    client.force_login(manager)

    rows = exported()

    assert [(row["customer_name"], row["reference"]) for row in rows][0] == ("'" + text, "'" + text + "-ref")
    assert rows[1]["customer_name"] == "Anne-Marie =1"  # only a cell's first character matters


@pytest.mark.parametrize("text", FORMULAS.values(), ids=FORMULAS.keys())
def test_safe_cell_guards_every_formula_start(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Anne-Marie =1", "100045", " plain", "", "Ｏｌａ", "kari@example.com"])
def test_safe_cell_leaves_other_text_alone(text):
    assert safe_cell(text) == text


def test_an_export_is_audited_with_who_and_what(client, exported, manager, make_payment):
    # (its number comes from the session's count of payments made: searched as it is)
    number = make_payment("bambora", currency="EUR", at_provider=False).order.number
    client.force_login(manager)

    exported({"q": number, "from": "2026-01-01"})

    export = Export.objects.get()
    requested, completed, downloaded_ = AuditEvent.objects.filter(action__startswith="export.").order_by("pk")
    assert (requested.action, requested.actor, requested.actor_label, requested.ip) == (
        AuditAction.EXPORT_REQUESTED, manager, "manager", "127.0.0.1"
    )
    assert requested.message == (
        f"Asked for export {export.pk} (payments as CSV): search '{number}', from 2026-01-01."
    )
    assert (completed.action, completed.actor_label) == (AuditAction.EXPORT_COMPLETED, "system: exports")
    assert completed.message == f"Export {export.pk} for manager is ready: 1 rows, SHA-256 {export.sha256}."
    assert (downloaded_.action, downloaded_.actor) == (AuditAction.EXPORT_DOWNLOADED, manager)
    assert downloaded_.message == (
        f"Downloaded export {export.pk} (payments, 1 rows, asked for by manager): search '{number}', from 2026-01-01."
    )


def test_a_search_and_a_date_range_narrow_the_export(client, exported, manager):
    make_orders(30)
    Order.objects.filter(number="EXP-00003").update(created_at=timezone.now() - timezone.timedelta(days=40))
    client.force_login(manager)

    prefix = exported({"q": "EXP-0001"})
    recent = exported({"from": (timezone.localdate() - timezone.timedelta(days=1)).isoformat()})
    bad = client.post(reverse("export_payments"), {"from": "yesterday"})

    assert sorted(row["order_number"] for row in prefix) == [f"EXP-{i:05d}" for i in range(10, 20)]
    assert len(recent) == 29
    assert bad.status_code == 400


def test_the_export_form_says_its_dates_are_local_and_the_files_times_utc(client, exported, manager, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    make_orders(1)
    client.force_login(manager)

    form = client.get(reverse("home")).content.decode()
    [row] = exported()

    assert "Dates in Asia/Tokyo time; the file gives times in UTC." in form
    assert row["order_date"].endswith("+00:00")


def test_reversed_dates_are_refused_with_a_reason_not_answered_with_an_empty_file(client, exported, manager):
    make_orders(3)
    client.force_login(manager)

    response = client.post(reverse("export_payments"), {"from": "2026-12-31", "to": "2026-01-01"})

    assert response.status_code == 400
    assert "The range starts after it ends (2026-12-31 to 2026-01-01): put the earlier date first." in (
        response.content.decode()
    )
    assert not Export.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_REQUESTED).exists()


def test_a_range_of_one_day_is_fine(client, exported, manager):
    make_orders(3)
    client.force_login(manager)
    today = timezone.localdate().isoformat()

    assert len(exported({"from": today, "to": today})) == 3


def test_the_export_makes_the_same_queries_for_ten_rows_or_a_thousand(client, exported, manager):
    client.force_login(manager)
    client.get(reverse("home"))  # the first request after login refreshes the session
    make_orders(10)
    with CaptureQueriesContext(connection) as few:
        exported()
    make_orders(2_490, start=10)
    with CaptureQueriesContext(connection) as many:
        exported()

    # The rows come in chunks of 2,000 through one server-side cursor; the only query more is
    # the progress written after the first 2,000.
    extra = [query["sql"] for query in many.captured_queries[len(few.captured_queries):]]
    assert len(many.captured_queries) == len(few.captured_queries) + 1
    progress = [query["sql"] for query in many.captured_queries if 'SET "rows_done" = 2000' in query["sql"]]
    assert len(progress) == 1, extra


def test_auditors_export_from_the_admin_with_its_filters(client, exported, auditor, make_payment):
    make_orders(5)
    make_payment("vipps", currency="NOK", at_provider=False)
    client.force_login(auditor)

    payments = exported({"provider__exact": "vipps"}, url=reverse("admin:payments_payment_export"))
    audit = exported(url=reverse("admin:payments_auditevent_export"))

    assert [row["provider"] for row in payments] == ["vipps"]
    assert audit and {"time", "actor", "action", "message"} <= set(audit[0])
    page = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "Export CSV" in page
    # Each export is in the audit log: who took what, selected how.
    first, second = Export.objects.order_by("pk")
    exports = AuditEvent.objects.filter(action=AuditAction.EXPORT_REQUESTED, actor=auditor).order_by("pk")
    assert [event.message for event in exports] == [
        f"Asked for export {first.pk} (payments as CSV): admin list of payments, provider__exact=vipps.",
        f"Asked for export {second.pk} (audit log as CSV): admin list of audit events, everything.",
    ]


def test_only_the_requester_and_auditors_download_an_export(client, exported, manager, make_user, auditor):
    make_orders(2)
    other_manager = make_user("other", group="Managers")
    client.force_login(manager)
    exported()
    export = Export.objects.get()

    client.force_login(other_manager)
    refused = client.get(reverse("export_download", args=[export.pk]))
    listed = client.get(reverse("exports")).content.decode()
    client.force_login(auditor)
    rows = downloaded(client, export)

    assert refused.status_code == 403
    assert f"export-{export.pk}" not in listed  # the page lists one's own exports only
    assert len(rows) == 2
    downloads = AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED).order_by("pk")
    assert [event.actor for event in downloads] == [manager, auditor]


def test_a_superuser_downloads_their_own_exports_only(client, exported, manager, superuser):
    # given: a manager's export, and one the superuser asked for in the admin
    make_orders(2)
    client.force_login(manager)
    exported()
    theirs = Export.objects.get()
    client.force_login(superuser)
    exported(url=reverse("admin:payments_payment_export"))
    own = Export.objects.latest("pk")

    # when
    refused = client.get(reverse("export_download", args=[theirs.pk]))
    listed = client.get(reverse("admin:payments_export_changelist")).content.decode()

    # then: superuser status makes nobody an auditor; they still see who took what
    assert refused.status_code == 403
    assert own.requested_by == superuser
    assert f'href="{reverse("export_download", args=[theirs.pk])}"' not in listed
    assert f"<a href=\"{reverse('admin:payments_export_change', args=[theirs.pk])}\">" in listed
    downloads = AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED)
    assert [event.actor for event in downloads.order_by("pk")] == [manager, superuser]


def test_an_export_expires_after_its_time_and_its_file_is_deleted(
    client, exported, manager, settings, exports_root, django_capture_on_commit_callbacks
):
    settings.EXPORT_EXPIRY_HOURS = 2
    make_orders(2)
    client.force_login(manager)
    exported()
    export = Export.objects.get()
    assert export.expires_at == export.finished_at + timedelta(hours=2)
    [file] = exports_root.rglob("*.csv")

    from payments.services.exports import exports_expire

    assert exports_expire() == 0  # not yet
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert exports_expire() == 1
    response = client.get(reverse("export_download", args=[export.pk]), follow=True)

    assert not file.exists()
    export.refresh_from_db()
    assert (export.status, export.file_name) == ("expired", "")
    assert "This export has expired; ask for it again." in response.content.decode()
    assert "Expired" in client.get(reverse("exports")).content.decode()


def test_asking_for_an_export_answers_at_once_and_queues_it(client, manager, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    make_orders(3)
    client.force_login(manager)

    response = client.post(reverse("export_payments"), {"q": "EXP-"}, follow=True)

    export = Export.objects.get()
    assert (export.status, export.rows_done, export.file_name) == ("queued", 0, "")
    page = response.content.decode()
    assert "Export queued" in page and "Waiting for the task worker" in page
