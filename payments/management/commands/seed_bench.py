"""Benchmark data: N orders with their payments, operations and audit events, written with
PostgreSQL's COPY. Aggregates equal their ledgers (check_ledger passes) and every constraint
holds; the spread of providers, currencies, states and dates is that of a busy shop: about 1.2
payments per order, 3 operations per payment (partial captures as goods ship, refunds in
parts, a failed attempt now and then) and the audit events the back office writes for them.

Rows are made in this process while PostgreSQL takes in the previous batch on another
connection, so the two cores work at once."""

import json
import queue
import random
import threading
import time
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from payments.customer_names import folded_name
from payments.models import AuditEvent, Operation, Order, Payment

BATCH = 20_000
# provider, its currencies, weight
PROVIDERS = [
    ("vipps", ["NOK", "NOK", "NOK", "DKK", "EUR"], 40),
    ("bambora", ["EUR", "SEK", "DKK", "JPY"], 25),
    ("optty", ["AUD", "USD"], 15),
    ("simpleps", ["USD", "SEK"], 20),
]
# what became of a payment, weight
STATES = [
    ("authorized", 10),
    ("partly captured", 5),
    ("captured", 40),
    ("partly refunded", 22),
    ("refunded", 12),
    ("cancelled", 8),
    ("refund failed", 2),
    ("awaiting approval", 0.6),
    ("unknown", 0.4),
]
# How many shipments (captures) a captured payment took.
CAPTURES = [2, 3, 3, 4]
FIRST = ["kari", "ola", "ingrid", "lars", "mette", "anna", "erik", "yuki", "sofia", "jack", "olivia",
         "liam", "emma", "noah", "astrid", "freja", "nora", "emil", "ida", "jonas"]
LAST = ["nordmann", "hansen", "jensen", "larsen", "schmidt", "svensson", "tanaka", "rossi",
        "wilson", "brown", "smith", "johnson", "davis", "lund", "nielsen", "berg", "dahl"]

# The columns written, in the order of the values given to Table.add. A column added to a
# model without a database default makes COPY fail loudly rather than load wrong rows.
COLUMNS = {
    Order: ["id", "number", "customer_name", "customer_name_folded", "customer_email", "currency", "total",
            "created_at"],
    Payment: ["id", "order_id", "provider", "reference", "currency", "authorized", "captured", "cancelled",
              "refunded", "provider_state", "synced_at", "created_at"],
    Operation: ["id", "payment_id", "kind", "source", "amount", "settled_amount", "reason", "note", "status",
                "idempotency_key", "requested_by_id", "decided_by_id", "decided_at", "decision_note",
                "approval_required",
                "provider_reference", "provider_response", "provider_code", "failure_message",
                "created_at", "updated_at", "settled_at"],
    AuditEvent: ["id", "created_at", "actor_id", "actor_label", "action", "order_id", "payment_id",
                 "operation_id", "amount", "currency", "before", "after", "ip", "message"],
}


def _text(value):
    """A value in COPY's text format. The values made here never hold a tab, a newline or a
    backslash (names, emails and references come from fixed alphabets), so nothing needs
    escaping."""
    return "\\N" if value is None else str(value)


def _split(total, parts):
    """`total` in `parts` positive amounts (fewer when it is too small to split)."""
    parts = max(1, min(parts, total))
    cuts = sorted(random.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


class Table:
    def __init__(self, model):
        self.sql = f"COPY {model._meta.db_table} ({', '.join(COLUMNS[model])}) FROM STDIN"
        self.width = len(COLUMNS[model])
        self.lines = []

    def add(self, *values):
        assert len(values) == self.width
        self.lines.append("\t".join([_text(value) for value in values]))

    def copy_into(self, cursor):
        if self.lines:
            with cursor.copy(self.sql) as copy:
                copy.write("\n".join(self.lines) + "\n")


class Command(BaseCommand):
    help = (
        "Fill PostgreSQL with N benchmark orders (about 1.2 payments each, about 3 operations per "
        "payment, their audit events), fast, with COPY. For tests/perf/bench.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--unless-seeded",
            action="store_true",
            help="Do nothing when the database holds orders already (scripts/bench seeds once).",
        )

    def handle(self, *args, orders, seed, unless_seeded, **options):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench writes with PostgreSQL's COPY: set DATABASE_URL to PostgreSQL.")
        if orders < 1:
            raise CommandError("Give a positive number of orders.")
        if unless_seeded and Order.objects.exists():
            return
        if unless_seeded:
            self.stdout.write(f"Seeding {orders:,} orders (once; 'make clean-bench' starts over)...")
        random.seed(seed)
        self.clerks = self._people()
        started = time.monotonic()
        self.now = timezone.now()
        self.span = timedelta(days=730)
        self.ids = {model: self._next_id(model) for model in COLUMNS}
        self.total_orders = orders
        counts = dict.fromkeys(COLUMNS, 0)

        batches = queue.Queue(maxsize=1)
        writer = Writer(batches)
        writer.start()
        try:
            for start in range(0, orders, BATCH):
                tables = {model: Table(model) for model in COLUMNS}
                for index in range(start, min(start + BATCH, orders)):
                    self._order(index, tables)
                for model, table in tables.items():
                    counts[model] += len(table.lines)
                writer.put(tables)
                done = min(start + BATCH, orders)
                self.stdout.write(f"{done:,} orders ({time.monotonic() - started:,.0f} s)")
        finally:
            writer.finish()
        with connection.cursor() as cursor:
            for model in COLUMNS:
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
                # Statistics and the visibility map, as autovacuum would make them later.
                cursor.execute(f"VACUUM ANALYZE {table}")
        self.stdout.write(
            f"Done in {time.monotonic() - started:,.0f} s: {counts[Order]:,} orders, {counts[Payment]:,} "
            f"payments, {counts[Operation]:,} operations ({counts[Operation] / counts[Payment]:.1f} per "
            f"payment), {counts[AuditEvent]:,} audit events."
        )

    def _people(self):
        clerks = []
        for name, group in (("bench-agent", "Support agents"), ("bench-agent2", "Support agents"),
                            ("bench-manager", "Managers"), ("bench-auditor", "Auditors")):
            user, created = User.objects.get_or_create(username=name, defaults={"is_staff": group == "Auditors"})
            if created:
                user.set_password("bench-password")
                user.save()
                user.groups.add(Group.objects.get(name=group))
            clerks.append(user)
        return clerks

    @staticmethod
    def _next_id(model):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
            return cursor.fetchone()[0]

    def _take(self, model):
        value = self.ids[model]
        self.ids[model] += 1
        return value

    def _order(self, index, tables):
        order_id = self._take(Order)
        # Newer orders have higher numbers, as in a shop.
        created = self.now - self.span * (1 - (index + random.random()) / self.total_orders)
        number = f"{100000 + order_id}"
        first, last = random.choice(FIRST), random.choice(LAST)
        email = f"{first}.{last}{random.randrange(20_000)}@example.com"
        provider, currencies, _ = random.choices(PROVIDERS, weights=[p[2] for p in PROVIDERS])[0]
        currency = random.choice(currencies)
        count = 2 if random.random() < 0.2 else 1
        amounts = [self._amount(currency) for _ in range(count)]
        name = f"{first.title()} {last.title()}"
        tables[Order].add(order_id, number, name, folded_name(name), email, currency, sum(amounts), created)
        for position, amount in enumerate(amounts, start=1):
            self._payment(order_id, number, provider, currency, amount, position, created, tables)

    @staticmethod
    def _amount(currency):
        if currency == "JPY":
            return random.randrange(500, 300_000)
        return random.randrange(1_000, 500_000)

    def _payment(self, order_id, number, provider, currency, amount, position, created, tables):
        payment_id = self._take(Payment)
        reference = {
            "vipps": f"acme-{number}-{position}",
            "bambora": f"bam-{number}-{position}",
            "optty": f"opt-{number}-{position}",
            "simpleps": f"sps-{number}-{position}",
        }[provider]
        if provider == "bambora" and random.random() < 0.01:
            reference += "-" + "x" * random.randrange(500, 1_900)  # Bambora allows 2,000
        state = random.choices(STATES, weights=[s[1] for s in STATES])[0][0]
        captured = 0 if state in ("authorized", "cancelled") else amount
        if state == "partly captured":
            captured = amount // 2
        cancelled = amount if state == "cancelled" else 0
        refunded = {"partly refunded": captured // 3, "refunded": captured}.get(state, 0)

        operations = []  # kind, amount, status, source
        if captured:
            shipments = random.choice([1, 2]) if state == "partly captured" else random.choice(CAPTURES)
            operations += [("capture", part, "succeeded", "shop") for part in _split(captured, shipments)]
        if cancelled:
            operations.append(("cancel", cancelled, "succeeded", "backoffice"))
        if refunded:
            if random.random() < 0.1:
                operations.append(("refund", refunded, "failed", "backoffice"))
            refunds = random.choice([1, 2]) if state == "partly refunded" else random.choice([1, 2, 3])
            operations += [("refund", part, "succeeded", "backoffice") for part in _split(refunded, refunds)]
        left = captured - refunded
        if state == "refund failed":
            operations.append(("refund", max(left // 2, 1), "failed", "backoffice"))
        if state == "awaiting approval":
            operations.append(("refund", max(left // 2, 1), "awaiting_approval", "backoffice"))
        if state == "unknown":
            operations.append(("refund", max(left // 4, 1), "unknown", "backoffice"))

        tables[Payment].add(
            payment_id, order_id, provider, reference, currency, amount, captured, cancelled, refunded,
            "", created + timedelta(minutes=1), created,
        )
        self._event(tables, created, None, "system: shop", "order.received", order_id, payment_id, None,
                    amount, currency)
        at = created
        for kind, value, status, source in operations:
            at += timedelta(hours=random.randrange(1, 200))
            self._operation(tables, payment_id, order_id, currency, kind, value, status, source, at)

    def _operation(self, tables, payment_id, order_id, currency, kind, amount, status, source, at):
        operation_id = self._take(Operation)
        clerk = random.choice(self.clerks[:3]) if source == "backoffice" else None
        succeeded = status == "succeeded"
        final = status in ("succeeded", "failed")
        failure = "The provider refused the refund: the amount is above what can be refunded." if status == "failed" else ""
        tables[Operation].add(
            operation_id, payment_id, kind, source, amount, amount if succeeded else None,
            "customer_request" if kind == "refund" else "", "", status, f"bo-{operation_id:032x}",
            clerk.pk if clerk else None, None, None, "", status == "awaiting_approval", "", None, "", failure, at,
            at, at if final else None,
        )
        if source != "backoffice":
            return
        label = clerk.username
        self._event(tables, at, clerk.pk, label, f"{kind}.requested", order_id, payment_id, operation_id,
                    amount, currency)
        if status != "awaiting_approval":
            self._event(tables, at, clerk.pk, label, "provider.answered", order_id, payment_id, operation_id,
                        amount, currency, after=json.dumps({"status": status}), message=failure)

    def _event(self, tables, at, actor_id, label, action, order_id, payment_id, operation_id, amount, currency,
               after=None, message=""):
        tables[AuditEvent].add(
            self._take(AuditEvent), at, actor_id, label, action, order_id, payment_id, operation_id,
            amount, currency, None, after, None, message,
        )


class Writer(threading.Thread):
    """Copies batches into PostgreSQL on a connection of its own, one transaction each, while
    the next batch is being made."""

    def __init__(self, batches):
        super().__init__(daemon=True)
        self.batches = batches
        self.error = None

    def put(self, tables):
        while True:
            if self.error is not None:
                raise CommandError(f"Writing to PostgreSQL failed: {self.error}") from self.error
            try:
                self.batches.put(tables, timeout=1)
                return
            except queue.Full:
                continue

    def finish(self):
        if self.is_alive():
            self.batches.put(None)
            self.join()
        if self.error is not None:
            raise CommandError(f"Writing to PostgreSQL failed: {self.error}") from self.error

    def run(self):
        db = connections["default"]
        try:
            while (tables := self.batches.get()) is not None:
                with transaction.atomic(using=db.alias), db.cursor() as cursor:
                    if self._superuser(cursor):
                        # The rows are consistent by construction: skip the per-row foreign
                        # key checks (triggers) for the load. Needs a superuser.
                        cursor.execute("SET LOCAL session_replication_role = replica")
                    for table in tables.values():
                        table.copy_into(cursor.connection.cursor())
        except Exception as error:  # reported to the main thread, which stops making rows
            self.error = error
            while self.batches.get() is not None:  # let the main thread finish its puts
                pass
        finally:
            db.close()

    @staticmethod
    def _superuser(cursor):
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return cursor.fetchone()[0]
