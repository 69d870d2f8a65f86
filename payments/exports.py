"""CSV exports of payments and of the audit log, for the desk (managers) and the admin
(auditors): streamed in constant memory whatever their size, safe to open in a spreadsheet,
and audited (who took which customers' data, selected how)."""

import csv

from django.http import StreamingHttpResponse

from payments.models import AuditAction
from payments.money import format_plain
from payments.selectors import payment_balances, payments_for_export
from payments.services.audit import audit_record

# A spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """csv.writer's file: hands back each line instead of keeping it."""

    def write(self, line):
        return line


def safe_cell(value):
    """The value as text that a spreadsheet shows as it is, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_response(*, filename, header, rows):
    """Stream `rows` (an iterable of lists, read lazily) as a CSV download."""
    writer = csv.writer(_Line())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


PAYMENT_HEADER = [
    "order_number", "order_date", "customer_name", "customer_email", "order_total", "currency",
    "provider", "reference", "provider_state", "authorized", "captured", "cancelled",
    "refunded", "refundable",
]  # fmt: skip
AUDIT_HEADER = [
    "time", "actor", "action", "order_number", "payment_reference", "amount", "currency", "ip",
    "message",
]  # fmt: skip
CHUNK = 2_000


def payment_rows(payments):
    """One row per payment (a queryset with the order selected and `reserved_refunds_sum`, as
    payments_for_export gives), amounts in major units of the currency column; read in
    chunks, never all at once."""
    for payment in payments.iterator(chunk_size=CHUNK):
        order, currency = payment.order, payment.currency
        balances = payment_balances(
            payment=payment,
            reserved_refunds=payment.reserved_refunds_sum,
            # Only refundable is exported: the reserved cancels, which only cancellable needs,
            # are not read (reading them per row would break the streaming's fixed queries).
            reserved_cancels=0,
        )
        yield [
            order.number,
            order.created_at.isoformat(),
            order.customer_name,
            order.customer_email,
            format_plain(order.total, order.currency),
            currency,
            payment.provider,
            payment.reference,
            payment.provider_state,
            *(
                format_plain(amount, currency)
                for amount in (
                    payment.authorized,
                    payment.captured,
                    payment.cancelled,
                    payment.refunded,
                    balances.refundable,
                )
            ),
        ]


def export_record(*, actor, export, selection):
    """Write the audit event of a CSV export of customer data, before its first row goes out:
    who took `export` ("payments", "audit log"), selected by `selection` (a short text)."""
    return audit_record(
        actor=actor,
        action=AuditAction.DATA_EXPORTED,
        message=f"Exported {export} as CSV: {selection}.",
    )


def payments_export(*, actor, filename, query="", date_from=None, date_to=None):
    """The payments of the orders that `query` finds, placed between the dates (see
    payments_for_export), as a streamed CSV download; the export is audited first."""
    criteria = [f"search {query!r}" if query.strip() else "every order"]
    if date_from:
        criteria.append(f"from {date_from.isoformat()}")
    if date_to:
        criteria.append(f"to {date_to.isoformat()}")
    export_record(actor=actor, export="payments", selection=", ".join(criteria))
    payments = payments_for_export(query=query, date_from=date_from, date_to=date_to)
    return csv_response(filename=filename, header=PAYMENT_HEADER, rows=payment_rows(payments))


def audit_rows(events):
    for event in events.select_related("order", "payment").iterator(chunk_size=CHUNK):
        yield [
            event.created_at.isoformat(),
            event.actor_label,
            event.action,
            event.order.number if event.order else "",
            event.payment.reference if event.payment else "",
            format_plain(event.amount, event.currency) if event.amount is not None and event.currency else "",
            event.currency,
            event.ip or "",
            event.message,
        ]
