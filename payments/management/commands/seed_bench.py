"""Benchmark data: N orders with their lines, payments, operations and audit events, written
with PostgreSQL's COPY. Aggregates equal their ledgers (check_ledger passes) and every
constraint holds; the spread of providers, currencies, states and dates is that of a busy shop:
customers of six countries who order two or three times each (_bench_people), a quarter of
the orders sent with their lines, about 1.2 payments per order, 3 operations per payment
(partial captures as goods ship, refunds in parts, a failed attempt now and then) and the
audit events the back office writes for them.

Rows are made in this process while PostgreSQL takes in the previous batch on another
connection, so the two cores work at once. Into an empty database the whole load is one
transaction: nothing is left half-seeded when it stops, the tables' secondary indexes are
built once at the end instead of being kept up row by row (an hour less at ten million orders,
and a fifth less disk, since indexes built at once are packed), and, the tables being emptied
in the same transaction, PostgreSQL writes no WAL for the rows (wal_level=minimal, as the
benchmark's server runs) and stores them already frozen (COPY FREEZE: no VACUUM pass after)."""

import json
import queue
import random
import threading
import time
from datetime import timedelta
from itertools import accumulate

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from payments.customer_names import folded_name
from payments.management.commands._bench_people import customer, pick
from payments.models import AuditEvent, Operation, Order, OrderLine, OrderSearchTerm, Payment
from payments.search_terms import TRIGGER, backfill_sql

BATCH = 20_000
# Orders per customer, on average: most order once or twice, some many times.
ORDERS_PER_CUSTOMER = 2.5
# Orders sent with their lines (README, "Sending orders"), and how many lines.
ITEMIZED_SHARE = 0.25
LINE_COUNTS = (1, 1, 2, 2, 3, 4, 6)
PRODUCTS = (
    ("TENT-2P", "Tent, 2 persons"), ("TENT-4P", "Tent, 4 persons"), ("BAG-SUM", "Sleeping bag, summer"),
    ("BAG-WIN", "Sleeping bag, winter"), ("MAT-SI", "Self-inflating mat"), ("BOOT-HI", "Hiking boots"),
    ("JKT-RAIN", "Rain jacket"), ("SOCK-3", "Wool socks, 3 pairs"), ("LAMP-H", "Headlamp"),
    ("STOVE-G", "Camping stove"), ("PACK-40", "Backpack, 40 l"), ("PACK-65", "Backpack, 65 l"),
    ("PEG-10", "Tent pegs, 10"), ("POLE-TR", "Trekking poles"), ("BOTTLE", "Water bottle, 1 l"),
    ("CUP-TI", "Titanium cup"), ("MAP-N50", "Map, 1:50 000"), ("GLOVE-W", "Wool gloves"),
)
# What became of a payment, weight
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
_STATE_NAMES = [state for state, _ in STATES]
_STATE_WEIGHTS = list(accumulate(weight for _, weight in STATES))
# How many shipments (captures) a captured payment took.
CAPTURES = [2, 3, 3, 4]
# What the provider's answers left open, for a refund that waits for a person.
UNPROVEN = "The provider's answers do not show whether the refund was made."
REFERENCE_PREFIXES = {"vipps": "acme", "bambora": "bam", "optty": "opt", "simpleps": "sps"}

# The columns written, in the order of the values given to Table.add. A column added to a
# model without a database default makes COPY fail loudly rather than load wrong rows.
COLUMNS = {
    Order: ["id", "number", "customer_name", "customer_name_folded", "customer_email", "currency", "total",
            "itemized", "shipping", "created_at"],
    OrderLine: ["id", "order_id", "position", "sku", "name", "quantity", "unit_price", "tax"],
    Payment: ["id", "order_id", "provider", "reference", "currency", "authorized", "captured", "cancelled",
              "refunded", "provider_state", "synced_at", "created_at"],
    Operation: ["id", "payment_id", "kind", "source", "amount", "settled_amount", "reason", "note", "status",
                "idempotency_key", "requested_by_id", "decided_by_id", "decided_at", "decision_note",
                "approval_required",
                "provider_reference", "provider_response", "provider_code", "failure_message",
                "checks", "last_checked_at", "last_check", "needs_person_since",
                "created_at", "updated_at", "settled_at"],
    AuditEvent: ["id", "created_at", "actor_id", "actor_label", "action", "order_id", "payment_id",
                 "operation_id", "amount", "currency", "before", "after", "ip", "message"],
}
# Search terms are written by PostgreSQL from the orders once they are in (payments.search_terms);
# its trigger is off while they are copied, as writing them one order at a time is slower.
TERMS = OrderSearchTerm._meta.db_table
TABLES = [model._meta.db_table for model in COLUMNS] + [TERMS]


def _text(value):
    """A value in COPY's text format. The values made here never hold a tab, a newline or a
    backslash (names, emails and references come from fixed alphabets), so nothing needs
    escaping."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    return str(value)


def _split(total, parts):
    """`total` in `parts` positive amounts (fewer when it is too small to split)."""
    parts = max(1, min(parts, total))
    cuts = sorted(random.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


class Table:
    def __init__(self, model, freeze):
        options = " WITH (FREEZE)" if freeze else ""
        self.sql = f"COPY {model._meta.db_table} ({', '.join(COLUMNS[model])}) FROM STDIN{options}"
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
        "Fill PostgreSQL with N benchmark orders (their lines, about 1.2 payments each, about 3 "
        "operations per payment, their audit events), fast, with COPY. For tests/perf/bench.py."
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
            held = Order.objects.count()
            if held != orders:
                raise CommandError(
                    f"The benchmark's database holds {held:,} orders, not {orders:,}: "
                    "'make clean-bench' forgets it, and the next run seeds anew."
                )
            return
        if unless_seeded:
            self.stdout.write(f"Seeding {orders:,} orders (once; 'make clean-bench' starts over)...")
        random.seed(seed)
        self.seed = seed
        started = time.monotonic()
        self.now = timezone.now()
        self.span = timedelta(days=730)
        self.total_orders = orders
        self.customers = max(1, int(orders / ORDERS_PER_CUSTOMER))
        fresh = not any(model.objects.exists() for model in COLUMNS)
        counts = dict.fromkeys(COLUMNS, 0)

        batches = queue.Queue(maxsize=1)
        # Into an empty database the people are made in the writer's transaction, after the
        # tables are emptied (making them writes audit events); the ids continue from there.
        writer = Writer(batches, fresh=fresh, report=self.stdout.write, prepare=self._prepare)
        writer.start()
        if fresh:
            self.clerks, self.ids = writer.prepared()
        else:
            self.clerks, self.ids = self._prepare()
        self.ids_from = dict(self.ids)
        try:
            for start in range(0, orders, BATCH):
                tables = {model: Table(model, freeze=writer.froze) for model in COLUMNS}
                for index in range(start, min(start + BATCH, orders)):
                    self._order(index, tables)
                for model, table in tables.items():
                    counts[model] += len(table.lines)
                writer.put(tables)
                done = min(start + BATCH, orders)
                if done % (BATCH * 10) == 0 or done == orders:
                    self.stdout.write(f"{done:,} orders ({time.monotonic() - started:,.0f} s)")
        finally:
            writer.finish()
        with connection.cursor() as cursor:
            if not fresh:
                cursor.execute(backfill_sql("WHERE o.id >= %s"), [self.ids_from[Order]])
            for model in [*COLUMNS, OrderSearchTerm]:
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
                # Statistics and the visibility map, as autovacuum would make them later
                # (rows copied frozen have their visibility map already).
                cursor.execute(f"{'ANALYZE' if writer.froze else 'VACUUM ANALYZE'} {table}")
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
        self.stdout.write(
            f"Done in {time.monotonic() - started:,.0f} s, the database {size / 2**30:.1f} GiB: {counts[Order]:,} orders "
            f"({counts[OrderLine]:,} lines), {counts[Payment]:,} payments, {counts[Operation]:,} operations "
            f"({counts[Operation] / counts[Payment]:.1f} per payment), {counts[AuditEvent]:,} audit events."
        )

    def _prepare(self):
        """The bench's people, and the first id of each table's new rows."""
        return self._people(), {model: self._next_id(model) for model in COLUMNS}

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
        buyer = customer(random.randrange(self.customers), self.seed)
        count = 2 if random.random() < 0.2 else 1
        amounts = [self._amount(buyer.currency) for _ in range(count)]
        total = sum(amounts)
        shipping = self._lines(order_id, total, buyer.currency, tables) if random.random() < ITEMIZED_SHARE else None
        tables[Order].add(order_id, number, buyer.name, folded_name(buyer.name), buyer.email, buyer.currency,
                          total, shipping is not None, shipping or 0, created)
        for position, amount in enumerate(amounts, start=1):
            self._payment(order_id, number, buyer.provider, buyer.currency, amount, position, created, tables)

    def _lines(self, order_id, total, currency, tables):
        """The order's lines, adding up with the shipping to `total`; returns the shipping, or
        None (no lines) when the total is too small to split."""
        scale = 1 if currency == "JPY" else 100
        shipping = random.choice((0, 0, 49, 99, 149)) * scale
        if total - shipping < 10:
            shipping = 0
        count = min(random.choice(LINE_COUNTS), total - shipping)
        if count < 1:
            return None
        for position, worth in enumerate(_split(total - shipping, count)):
            quantity = random.choice((1, 1, 1, 2, 2, 3, 5))
            unit_price = worth // quantity
            if unit_price == 0:
                quantity, unit_price = 1, worth
            sku, name = random.choice(PRODUCTS)
            # What the units leave of the line's worth is its tax.
            tables[OrderLine].add(self._take(OrderLine), order_id, position, sku, name, quantity, unit_price,
                                  worth - quantity * unit_price)
        return shipping

    @staticmethod
    def _amount(currency):
        if currency == "JPY":
            return random.randrange(500, 300_000)
        return random.randrange(1_000, 500_000)

    def _payment(self, order_id, number, provider, currency, amount, position, created, tables):
        payment_id = self._take(Payment)
        reference = f"{REFERENCE_PREFIXES[provider]}-{number}-{position}"
        if provider == "bambora" and random.random() < 0.01:
            reference += "-" + "x" * random.randrange(500, 1_900)  # Bambora allows 2,000
        state = pick(_STATE_NAMES, _STATE_WEIGHTS, random.random())
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
        # Half the refunds of unknown outcome were checked with the provider in vain, and wait
        # for a person (the managers' "Needs attention").
        checked = at + timedelta(hours=6) if status == "unknown" and random.random() < 0.5 else None
        tables[Operation].add(
            operation_id, payment_id, kind, source, amount, amount if succeeded else None,
            "customer_request" if kind == "refund" else "", "", status, f"bo-{operation_id:032x}",
            clerk.pk if clerk else None, None, None, "", status == "awaiting_approval", "", None, "", failure,
            3 if checked else 0, checked, UNPROVEN if checked else "", checked, at, checked or at,
            at if final else None,
        )
        if source != "backoffice":
            return
        label = clerk.username
        self._event(tables, at, clerk.pk, label, f"{kind}.requested", order_id, payment_id, operation_id,
                    amount, currency)
        if status != "awaiting_approval":
            self._event(tables, at, clerk.pk, label, "provider.answered", order_id, payment_id, operation_id,
                        amount, currency, after=json.dumps({"status": status}), message=failure)
        if checked:
            self._event(tables, checked, None, "system: reconcile", "operation.needs_person", order_id, payment_id,
                        operation_id, amount, currency, message=UNPROVEN)

    def _event(self, tables, at, actor_id, label, action, order_id, payment_id, operation_id, amount, currency,
               after=None, message=""):
        tables[AuditEvent].add(
            self._take(AuditEvent), at, actor_id, label, action, order_id, payment_id, operation_id,
            amount, currency, None, after, None, message,
        )


# Into an empty database: what refers to the seeded tables, and so is emptied with them (it must
# be empty already), and the catalog queries for the indexes to build at the end.
REFERRING = """
    WITH RECURSIVE referring (oid) AS (
        SELECT oid FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'
        UNION
        SELECT con.conrelid FROM pg_constraint con JOIN referring ON con.confrelid = referring.oid
        WHERE con.contype = 'f'
    )
    SELECT relname FROM pg_class JOIN referring USING (oid)
"""
SECONDARY_INDEXES = """
    SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), con.conname, pg_get_constraintdef(con.oid)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = t.oid AND con.contype = 'u'
    WHERE t.relname = ANY(%s) AND NOT x.indisprimary
    ORDER BY t.relname, i.relname
"""


class Writer(threading.Thread):
    """Copies batches into PostgreSQL on a connection of its own while the next batch is being
    made: into an empty database in one transaction (see the module's docstring), else one
    transaction per batch."""

    def __init__(self, batches, *, fresh, report, prepare):
        super().__init__(daemon=True)
        self.batches = batches
        self.fresh = fresh
        self.report = report
        self.prepare = prepare
        self.preparation = queue.Queue(maxsize=1)
        self.error = None
        self.froze = False

    def prepared(self):
        """What prepare() gave, once the tables are emptied (the load into an empty database)."""
        outcome = self.preparation.get()
        if isinstance(outcome, Exception):
            raise CommandError(f"Writing to PostgreSQL failed: {outcome}") from outcome
        return outcome

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
            if self.fresh:
                with transaction.atomic(using=db.alias), db.cursor() as cursor:
                    self._load_into_empty_tables(cursor)
            else:
                while (tables := self.batches.get()) is not None:
                    with transaction.atomic(using=db.alias), db.cursor() as cursor:
                        self._without_row_checks(cursor)
                        self._copy(cursor, tables)
        except Exception as error:  # reported to the main thread, which stops making rows
            self.error = error
            if self.fresh and self.preparation.empty():
                self.preparation.put(error)
                return
            while self.batches.get() is not None:  # let the main thread finish its puts
                pass
        finally:
            db.close()

    def _load_into_empty_tables(self, cursor):
        cursor.execute(REFERRING, [TABLES])
        emptied = [name for (name,) in cursor.fetchall()]
        holding = []
        for table in emptied:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
            if cursor.fetchone()[0]:
                holding.append(table)
        if not holding:
            # Emptied in this transaction, the tables take the copied rows frozen, without WAL
            # (rows already there, audit events of people say, are never emptied).
            cursor.execute(f"TRUNCATE {', '.join(emptied)}")
            self.froze = True
        prepared = self.prepare()
        # The people's rows are checked now: foreign key checks left pending to the commit
        # would keep the indexes from being built in this transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        self.preparation.put(prepared)
        cursor.execute(SECONDARY_INDEXES, [TABLES])
        rebuild = []
        for table, index, definition, constraint, constraint_definition in cursor.fetchall():
            if constraint:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
                rebuild.append(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {constraint_definition}")
            else:
                cursor.execute(f"DROP INDEX {index}")
                rebuild.append(definition)
        self._without_row_checks(cursor)
        while (tables := self.batches.get()) is not None:
            self._copy(cursor, tables)
        cursor.execute(backfill_sql("WHERE o.id >= %s"), [prepared[1][Order]])
        started = time.monotonic()
        for statement in rebuild:
            cursor.execute(statement)
        self.report(f"{len(rebuild)} indexes built in {time.monotonic() - started:,.0f} s")

    def _copy(self, cursor, tables):
        cursor.execute(f"ALTER TABLE {Order._meta.db_table} DISABLE TRIGGER {TRIGGER}")
        for table in tables.values():
            table.copy_into(cursor.connection.cursor())
        cursor.execute(f"ALTER TABLE {Order._meta.db_table} ENABLE TRIGGER {TRIGGER}")

    @staticmethod
    def _without_row_checks(cursor):
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            # The rows are consistent by construction: skip the per-row foreign key checks
            # (triggers) for the load. Needs a superuser.
            cursor.execute("SET LOCAL session_replication_role = replica")
