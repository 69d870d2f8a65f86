"""The CSV files of exports (payments, the audit log): rows read in chunks and written as they
come, so that a million take constant memory; cells safe to open in a spreadsheet; and a last
line that states how many rows the file holds and the SHA-256 of everything above it, so that a
reader can tell a whole file from a cut one. The exports themselves are jobs of the task worker
(payments.services.exports)."""

import csv
import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from django.db.models import QuerySet

from payments.models import AuditEvent, Payment
from payments.money import format_plain
from payments.selectors import annotated_balances

# A spreadsheet treats a cell as a formula when its first character that is not blank is one
# of these, in their full-width forms too ("＝", "＋", "－", "＠", which NFKC folds to these).
FORMULA_STARTS = frozenset("=+-@")


class _Line:
    """csv.writer's file: hands back each line instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def safe_cell(value: object) -> str:
    """The value as text that a spreadsheet shows as it is, never runs as a formula: one whose
    first non-blank character (after spaces, tabs and line breaks) starts a formula, or that
    starts with a tab or a line break, gets a leading "'"."""
    text = "" if value is None else str(value)
    first = text.lstrip()[:1]
    if text[:1] in ("\t", "\r", "\n") or unicodedata.normalize("NFKC", first) in FORMULA_STARTS:
        return "'" + text
    return text


_WRITER = csv.writer(_Line())


def csv_line(cells: Iterable[object]) -> str:
    """One CSV line (with its CRLF) of `cells`, each made safe."""
    # writerow hands back what _Line.write gave it: the line.
    line: str = _WRITER.writerow([safe_cell(value) for value in cells])
    return line


def check_line(*, rows: int, sha256: str) -> str:
    """The last line of every export: `# rows=N sha256=HEX`, N the rows below the header and
    HEX the SHA-256 of every byte above this line. One cell, starting with no formula sign."""
    return f"# rows={rows} sha256={sha256}\r\n"


def csv_write(
    *,
    out: BinaryIO,
    header: Iterable[object],
    rows: Iterable[Iterable[object]],
    progress: Callable[[int], object] | None = None,
    every: int | None = None,
) -> tuple[int, str]:
    """Write the header, `rows` (an iterable of lists, read lazily) and the check line to `out`
    (a binary file) as UTF-8. `progress(count)` is called after every `every` rows (CHUNK by
    default). Returns (rows written, SHA-256 hex of the bytes before the check line)."""
    every = every or CHUNK
    digest = hashlib.sha256()
    count = 0

    def put(text: str) -> None:
        data = text.encode()
        digest.update(data)
        out.write(data)

    put(csv_line(header))
    for row in rows:
        put(csv_line(row))
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    sha256 = digest.hexdigest()
    out.write(check_line(rows=count, sha256=sha256).encode())
    return count, sha256


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


def payment_rows(payments: QuerySet[Payment]) -> Iterator[list[str]]:
    """One row per payment (a queryset with the order selected, annotated by
    selectors.with_reserved_sums, as payments_for_export gives), amounts in major units of the
    currency column; read in chunks, never all at once."""
    for payment in payments.iterator(chunk_size=CHUNK):
        order, currency = payment.order, payment.currency
        balances = annotated_balances(payment)
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


def audit_rows(events: QuerySet[AuditEvent]) -> Iterator[list[str]]:
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
