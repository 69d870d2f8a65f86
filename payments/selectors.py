"""Reads shared by views, services and commands."""

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.db.models import Count, F, Field, Model, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from django.db.models.functions import MD5, Coalesce, StrIndex, Upper
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from payments.balances import Balances, balances_of
from payments.customer_names import name_search_words
from payments.models import (
    AuditAction,
    AuditEvent,
    Operation,
    OperationKind,
    Order,
    OrderLine,
    Payment,
    RefundLine,
)
from payments.money import format_money
from payments.order_lines import LineOffer, RefundOffer
from payments.search_terms import email_stream, name_streams, newest_keys
from payments.statuses import (
    AWAITING_OUTCOME_STATUSES,
    BEING_SENT_STATUSES,
    NEEDING_PERSON_STATUSES,
    RESERVING_STATUSES,
    UNRESOLVED_STATUSES,
    OperationStatus,
)

if TYPE_CHECKING:
    # For its type only: the selectors do not import the provider layer (README, "How it is
    # built").
    from payments.providers.base import ProviderPayment

_Row = TypeVar("_Row", bound=Model)


def built_once(build: Callable[[], QuerySet[_Row]]) -> Callable[[], QuerySet[_Row]]:
    """`build`, run once per process (or once per thread that comes first): the queryset of a
    page's hottest read, of which each call gives a clone that a request filters, as a generic
    view's `queryset` is. Building annotations with subqueries and joins cost the order page
    1.5 ms a request, a clone of the built queryset 0.07 ms (tests/perf/bench.py).

    The clones share the built expressions, compiled by each request: a subquery in them may
    not be ordered by a related field, whose joins Django would add to the shared subquery as
    it compiles it."""
    built = functools.cache(build)
    return lambda: built().all()


# The kinds of operation whose reserved amounts are held back from refunds, and from cancels
# (a capture under way takes from what could be released too).
_REFUND_KINDS = (OperationKind.REFUND,)
_CANCEL_KINDS = (OperationKind.CANCEL, OperationKind.CAPTURE)


def payment_balances(*, payment: Payment, excluding: Operation | None = None) -> Balances:
    """The payment's Balances (payments.balances), with what its operations hold back read
    from the ledger in one query. `excluding`: an operation whose own amount is not to count,
    to learn what the payment could do were it not there (approving a refund request, whose
    amount is among the reserved ones)."""
    reserving = Operation.objects.filter(payment_id=payment.pk, status__in=RESERVING_STATUSES)
    if excluding is not None:
        reserving = reserving.exclude(pk=excluding.pk)
    sums = reserving.aggregate(
        refunds=Sum("amount", filter=Q(kind__in=_REFUND_KINDS)),
        cancels=Sum("amount", filter=Q(kind__in=_CANCEL_KINDS)),
    )
    return balances_of(payment, reserved_refunds=sums["refunds"] or 0, reserved_cancels=sums["cancels"] or 0)


def _reserved_sum(kinds: tuple[OperationKind, ...], payment: str) -> Subquery:
    return Subquery(
        Operation.objects.filter(payment=OuterRef(payment), kind__in=kinds, status__in=RESERVING_STATUSES)
        .order_by()
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )


def with_reserved_sums(queryset: QuerySet[_Row], *, payment: str = "pk") -> QuerySet[_Row]:
    """`queryset` with what each payment's operations hold back annotated, for
    annotated_balances(): the one annotation of lists and exports, read in the same query, row
    by row (rows can stream). A queryset of payments names them by "pk"; one of rows that
    point to a payment (operations) by the foreign key's name, `payment="payment"`."""
    return queryset.annotate(
        reserved_refunds_sum=_reserved_sum(_REFUND_KINDS, payment),
        reserved_cancels_sum=_reserved_sum(_CANCEL_KINDS, payment),
    )


def annotated_balances(payment: Payment, *, row: Payment | Operation | None = None) -> Balances:
    """The Balances of `payment`, read from `row` (the payment itself by default) annotated by
    with_reserved_sums()."""
    # The annotation's names are given to the rows when they are read: no type declares them.
    annotated: Any = payment if row is None else row
    return balances_of(
        payment,
        reserved_refunds=annotated.reserved_refunds_sum or 0,
        reserved_cancels=annotated.reserved_cancels_sum or 0,
    )


@dataclass(frozen=True)
class PaymentDetail:
    """A payment as its card shows it: its figures, and its history."""

    payment: Payment
    balances: Balances
    # Its operations whose outcome is unknown or pending: "Check with provider" is offered.
    unresolved_count: int
    timeline: list[AuditEvent]  # oldest first
    needing_person: list[Operation]  # those no machine can prove, for a manager

    @property
    def waiting_requests(self) -> list[AuditEvent]:
        """The events that asked for its refunds still waiting for a manager's approval (their
        operations with them): found in the timeline, no query of their own."""
        return [
            event
            for event in self.timeline
            if event.action == AuditAction.REFUND_REQUESTED
            and event.operation is not None
            and event.operation.status == OperationStatus.AWAITING_APPROVAL
        ]


# What a timeline shows of an event and its operation, and what the card's "Needs a person"
# says of the operation; the rest (the provider's answers, kept as JSON, and the like) is not
# read.
_TIMELINE_FIELDS = (
    "created_at", "actor_label", "action", "order_id", "payment_id", "operation_id", "amount", "currency",
    "after", "message", "operation__kind", "operation__amount", "operation__status", "operation__reason",
    "operation__note", "operation__requested_by__username", "operation__provider_code", "operation__failure_message",
    "operation__needs_person_since", "operation__last_check", "operation__payment_id",
)  # fmt: skip


@built_once
def _detailed_payments() -> QuerySet[Payment]:
    """Payments with their orders, oldest first, annotated for annotated_balances() and with
    `unresolved_count`, their operations awaiting an outcome."""
    awaiting_outcome = (
        Operation.objects.filter(payment=OuterRef("pk"), status__in=AWAITING_OUTCOME_STATUSES)
        .order_by()
        .values("payment")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return with_reserved_sums(Payment.objects.select_related("order").order_by("pk")).annotate(
        unresolved_count=Subquery(awaiting_outcome)
    )


@built_once
def _timeline_events() -> QuerySet[AuditEvent]:
    """Events with their operations, oldest first, as a timeline shows them."""
    return (
        AuditEvent.objects.select_related("operation__requested_by")
        .only(*_TIMELINE_FIELDS)
        .order_by("created_at", "pk")
    )


def _payments_in_detail(payments_where: Q, events_where: Q) -> tuple[list[PaymentDetail], list[AuditEvent]]:
    """PaymentDetails of the payments `payments_where` picks, oldest first, with their
    timelines from the events `events_where` picks, in two queries whatever the number of
    payments and events; and the events that belong to none of them."""
    # Annotated with `unresolved_count`, which no type declares.
    payments: list[Any] = list(_detailed_payments().filter(payments_where))
    timelines: dict[int, list[AuditEvent]] = {payment.pk: [] for payment in payments}
    needing_person: dict[int, dict[int, Operation]] = {payment.pk: {} for payment in payments}
    others: list[AuditEvent] = []
    for event in _timeline_events().filter(events_where):
        if event.payment_id in timelines:
            timelines[event.payment_id].append(event)
            if event.operation is not None and needs_person(event.operation):
                needing_person[event.payment_id][event.operation.pk] = event.operation
        else:
            others.append(event)
    details = [
        PaymentDetail(
            payment=payment,
            balances=annotated_balances(payment),
            unresolved_count=payment.unresolved_count or 0,
            timeline=timelines[payment.pk],
            needing_person=sorted(needing_person[payment.pk].values(), key=lambda operation: operation.pk),
        )
        for payment in payments
    ]
    return details, others


def currency_mismatch(*, payment: Payment, seen: "ProviderPayment") -> str | None:
    """Why the provider's view `seen` of `payment` cannot be compared with
    ours, in words, when it is in another currency; None when the currencies agree."""
    if seen.currency == payment.currency:
        return None
    return (
        f"The provider holds this payment in {seen.currency or 'no currency'}, the back office "
        f"in {payment.currency}"
    )


def operations_under_way(*, payment_id: int, since: datetime) -> QuerySet[Operation]:
    """The payment's operations whose money may be at the provider but not yet in our
    aggregate, or the other way round, for a provider read at `since`: every unresolved one,
    whatever its age (one in flight may have been carried out already, its answer not yet
    back), and every one settled since the provider was read."""
    return Operation.objects.filter(payment_id=payment_id).filter(
        Q(status__in=UNRESOLVED_STATUSES) | Q(status=OperationStatus.SUCCEEDED, updated_at__gte=since)
    )


def _settled_sum(kind: OperationKind) -> Coalesce:
    return Coalesce(
        Subquery(
            Operation.objects.filter(
                payment=OuterRef("pk"), kind=kind, status=OperationStatus.SUCCEEDED
            )
            .values("payment")
            .annotate(total=Sum("settled_amount"))
            .values("total")
        ),
        Value(0),
    )


def ledger_mismatches() -> QuerySet[Payment]:
    """Payments whose aggregate differs from the sum of their settled operations, each with
    `ledger_captured`, `ledger_cancelled` and `ledger_refunded` annotated."""
    return (
        Payment.objects.annotate(
            ledger_captured=_settled_sum(OperationKind.CAPTURE),
            ledger_cancelled=_settled_sum(OperationKind.CANCEL),
            ledger_refunded=_settled_sum(OperationKind.REFUND),
        )
        .filter(
            ~Q(captured=F("ledger_captured"))
            | ~Q(cancelled=F("ledger_cancelled"))
            | ~Q(refunded=F("ledger_refunded"))
        )
        .select_related("order")
        .order_by("pk")
    )


@built_once
def _line_claims() -> QuerySet[OrderLine]:
    """Order lines in the shop's order, one row per line and refund of it that claims its units
    (`claim_quantity`, `claim_amount`, `claim_status`: None for a line without one), each with
    `shipping_claim`, the status of the refund that claims its order's shipping, if any."""
    claiming = [OperationStatus.SUCCEEDED, *RESERVING_STATUSES]
    # Shipping is claimed by one refund at a time: the status of the one that claims it now.
    shipping_claim = (
        RefundLine.objects.filter(
            order_line=None, operation__payment__order_id=OuterRef("order_id"), operation__status__in=claiming
        )
        .order_by()
        .values("operation__status")[:1]
    )
    # Added up by the caller: the sums as aggregates made this the costliest query of an order's
    # page to build (README, "Performance").
    return OrderLine.objects.annotate(
        claim_quantity=F("refund_lines__quantity"),
        claim_amount=F("refund_lines__amount"),
        claim_status=F("refund_lines__operation__status"),
        shipping_claim=Subquery(shipping_claim),
    ).order_by("position")


def order_refund_offer(*, order: Order) -> RefundOffer | None:
    """What can still be refunded of an order sent with lines, line by line and its shipping
    (RefundOffer), read from the ledger in one query; None for an order without lines.

    Units are claimed by refunds that succeeded or may still move money; a refund that failed,
    or was rejected, withdrawn or expired before it was sent, gives its units back."""
    if not order.itemized:
        return None
    lines: dict[int, OrderLine] = {}
    claims: defaultdict[int, dict[str, int]] = defaultdict(lambda: {"refunded": 0, "held": 0, "claimed_amount": 0})
    shipping_status = None
    # Annotated rows (claim_*, shipping_claim), which no type declares.
    rows: Iterable[Any] = _line_claims().filter(order_id=order.pk)
    for row in rows:
        lines.setdefault(row.pk, row)
        shipping_status = row.shipping_claim
        claim = claims[row.pk]
        if row.claim_status == OperationStatus.SUCCEEDED:
            claim["refunded"] += row.claim_quantity
        elif row.claim_status in RESERVING_STATUSES:
            claim["held"] += row.claim_quantity
        else:
            continue
        claim["claimed_amount"] += row.claim_amount
    return RefundOffer(
        lines=[LineOffer(line=line, **claims[pk]) for pk, line in lines.items()],
        shipping=order.shipping,
        shipping_refunded=shipping_status == OperationStatus.SUCCEEDED,
        shipping_held=shipping_status in RESERVING_STATUSES,
    )


def payments_by_reference(reference: str) -> QuerySet[Payment]:
    """Payments whose provider reference is exactly `reference`, found through the MD5 index
    (references of up to 2,000 characters are too long for a plain btree)."""
    digest = hashlib.md5(reference.encode()).hexdigest()
    return Payment.objects.alias(reference_md5=MD5("reference")).filter(
        reference_md5=digest, reference=reference
    )


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row `after` (its pk), or before the row `before`; neither:
    the first page."""

    after: int | None = None
    before: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of results, found without counting them all or skipping over the rows before
    it: a million rows stay cheap, on the first page as on the thousandth."""

    items: list
    has_previous: bool
    has_next: bool
    # The pks of the page's first and last rows: Cursor(before=first_key) is the page before,
    # Cursor(after=last_key) the page after.
    first_key: int | None = None
    last_key: int | None = None


def beyond_cursor(
    queryset: QuerySet[_Row], cursor: Cursor, *, newest_first: bool = True, by: str = "created_at"
) -> QuerySet[_Row]:
    """The rows of `queryset` from where `cursor` says, in the order of (`by`, pk) a page reads
    them (see page_of): the order is reversed for the page before a row."""
    forwards = cursor.before is None
    ordering = (f"-{by}", "-pk") if newest_first == forwards else (by, "pk")
    if cursor.after is not None or cursor.before is not None:
        key = cursor.after if forwards else cursor.before
        boundary = queryset.model._default_manager.filter(pk=key).order_by()
        bound: Any = boundary.values_list(by, "pk").query
        features = connections[queryset.db].features
        if not features.supports_tuple_lookups:  # type: ignore[attr-defined]  # Django 5.2's, not in the stubs
            # SQLite (the demo) compares a row with values only, not with a subquery: one query
            # more. No such row: nothing is beyond it, as with the subquery.
            bound = boundary.values_list(by, "pk").first() or (None, None)
        beyond = TupleLessThan if newest_first == forwards else TupleGreaterThan
        queryset = queryset.filter(beyond((F(by), F("pk")), bound))
    return queryset.order_by(*ordering)


def page_of(
    queryset: QuerySet[_Row],
    *,
    per_page: int,
    cursor: Cursor | None = None,
    newest_first: bool = True,
    by: str = "created_at",
    load: Callable[[QuerySet[_Row]], QuerySet[_Row]] | None = None,
) -> Page:
    """The page of `queryset` that `cursor` (a Cursor) says, in the order of (`by`, pk): by
    created_at, newest or oldest first, unless `by` names another time. The row a cursor names
    is found by its pk, and the page from it through the index on (`by`, id): PostgreSQL
    compares the two as a row, so that no row before the page is read. One row more than the
    page is read to know whether another page follows.

    With `load`, the page's keys are chosen from `queryset` alone, and `load(keys)` reads their
    rows (say with the rows they refer to): `queryset`'s conditions are then not joined to
    other tables, where PostgreSQL, misjudging how many rows they leave, may join every one of
    them and sort them all before taking a page."""
    cursor = cursor or Cursor()
    model = queryset.model
    forwards = cursor.before is None
    ordered = beyond_cursor(queryset, cursor, newest_first=newest_first, by=by)
    if load is not None:
        keys = ordered.values("pk")[: per_page + 1]
        ordered = load(model._default_manager.filter(pk__in=keys)).order_by(*ordered.query.order_by)
    rows = list(ordered[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if forwards:
        has_previous, has_next = cursor.after is not None, more
    else:
        rows.reverse()
        has_previous, has_next = more, True
    return Page(
        items=rows,
        has_previous=has_previous,
        has_next=has_next,
        first_key=rows[0].pk if rows else None,
        last_key=rows[-1].pk if rows else None,
    )


@dataclass(frozen=True)
class Unsettled:
    """Money of a payment held by operations that have not settled, in one state."""

    state: str  # as the desk says it: "waiting for approval", "outcome unknown" ...
    amount: int


@dataclass(frozen=True)
class ListedPayment:
    payment: Payment
    unsettled: tuple[Unsettled, ...]  # in the order of UNSETTLED_STATES; none when all is settled


@dataclass(frozen=True)
class ListedOrder:
    """An order as the order list and the search results show it."""

    order: Order
    payments: tuple[ListedPayment, ...]  # oldest first


# What a list says about a payment's operations that have not settled: (state, which ones).
# One that needs a person is counted there only, not also as pending or unknown.
UNSETTLED_STATES = (
    ("waiting for approval", Q(operations__status=OperationStatus.AWAITING_APPROVAL)),
    ("in progress", Q(operations__status__in=BEING_SENT_STATUSES)),
    ("pending", Q(operations__status=OperationStatus.PENDING, operations__needs_person_since__isnull=True)),
    ("outcome unknown", Q(operations__status=OperationStatus.UNKNOWN, operations__needs_person_since__isnull=True)),
    (
        "needs a person",
        Q(operations__status__in=NEEDING_PERSON_STATUSES, operations__needs_person_since__isnull=False),
    ),
)


# What a list shows of a payment (Payment.status reads the amounts): the rest is not read.
_LISTED_PAYMENT_FIELDS = ("order_id", "provider", "currency", "authorized", "captured", "cancelled", "refunded")


@built_once
def _listed_payments() -> QuerySet[Payment]:
    """Payments as a list shows them, oldest first, with what is unsettled on each
    (`unsettled_<n>`, the sum of the operations in the nth of UNSETTLED_STATES)."""
    # No Coalesce: a payment without such operations sums to NULL, read as nothing unsettled.
    sums = {
        f"unsettled_{position}": Sum("operations__amount", filter=which)
        for position, (_, which) in enumerate(UNSETTLED_STATES)
    }
    return Payment.objects.only(*_LISTED_PAYMENT_FIELDS).annotate(**sums).order_by("pk")


def _listed(page: Page) -> Page:
    """The page's orders as ListedOrders: their payments, each with what is unsettled on it, in
    one query however many orders and operations."""
    payments = defaultdict(list)
    for payment in _listed_payments().filter(order__in=[order.pk for order in page.items]):
        unsettled = tuple(
            Unsettled(state=state, amount=getattr(payment, f"unsettled_{position}"))
            for position, (state, _) in enumerate(UNSETTLED_STATES)
            if getattr(payment, f"unsettled_{position}")
        )
        payments[payment.order_id].append(ListedPayment(payment=payment, unsettled=unsettled))
    items = [ListedOrder(order=order, payments=tuple(payments[order.pk])) for order in page.items]
    return replace(page, items=items)


@dataclass(frozen=True)
class SearchResult:
    page: Page | None  # of ListedOrder
    # The one order the search found: the desk opens it straight away.
    exact_order_id: int | None = None


def order_number_forms(query: str) -> list[str]:
    """An order number as typed and in capitals: shops write letters in their numbers in
    capitals ("DEMO-1006"), people type them in lower case. Both go through the index."""
    return sorted({query, query.upper()})


def payments_by_reference_in_any_case(reference: str) -> QuerySet[Payment]:
    """Payments whose provider reference is `reference` in any case, found through the index
    on MD5(UPPER(reference)). The database folds the case on both sides, so both agree."""
    return Payment.objects.alias(reference_upper_md5=MD5(Upper("reference"))).filter(
        reference_upper_md5=MD5(Upper(Value(reference))), reference__iexact=reference
    )


def _exact_order_ids(query: str) -> list[int]:
    """Ids of the orders whose number is `query` (see order_number_forms), or that have a
    payment with reference `query` in any case: one query, each side through its own index. A
    handful at most, since numbers are unique and a reference is unique per provider."""
    return list(
        Order.objects.filter(number__in=order_number_forms(query))
        .order_by()
        .values_list("pk", flat=True)
        .union(payments_by_reference_in_any_case(query).order_by().values_list("order_id", flat=True))
    )


# Longer queries are no email or name (a reference may be 2,000 characters long).
def _longest(field_name: str) -> int:
    field = Order._meta.get_field(field_name)
    if not isinstance(field, Field) or field.max_length is None:
        raise TypeError(f"Order.{field_name} has no max_length.")
    return field.max_length


_LONGEST_EMAIL = _longest("customer_email")
_LONGEST_NAME = _longest("customer_name")


def orders_matching(query: str, *, exact_ids: list[int] | None = None) -> QuerySet[Order]:
    """Orders newest first that `query` finds: by the beginning of the order number (as typed
    or in capitals) or of the customer's email (any case), by the beginnings of the words of
    the customer's name (any case, accents ignored: "kari nord" finds Kåri Nordmann), or by a
    payment's reference (whole, any case). Pass `exact_ids` when _exact_order_ids() was
    already asked for this query.

    Each condition is served by its own index (on PostgreSQL, a trigram index for names), and
    PostgreSQL combines them: no condition reads the whole table."""
    found = _SearchConditions.of(query, exact_ids=exact_ids)
    return Order.objects.order_by("-created_at", "-pk").filter(found.plain | found.email | found.name)


@dataclass(frozen=True)
class _SearchConditions:
    """What a search's query asks of an order (see orders_matching), condition by condition."""

    plain: Q  # the order number's beginning, or the orders named by number or reference
    email: Q  # the email's beginning; Q() when the query could not begin one
    name: Q  # the beginnings of the name's words; Q() when the query has none
    query: str
    words: list[str]

    @classmethod
    def of(cls, query: str, *, exact_ids: list[int] | None = None) -> "_SearchConditions":
        query = query.strip()
        # The orders a reference names are looked up first and given as ids: ORed with a
        # subquery the other conditions' selectivity is lost, and PostgreSQL would read the
        # whole table.
        if exact_ids is None:
            exact_ids = _exact_order_ids(query)
        plain = Q(pk__in=exact_ids) if exact_ids else Q()
        for number in order_number_forms(query):
            plain |= Q(number__startswith=number)
        email = Q(customer_email__istartswith=query) if len(query) <= _LONGEST_EMAIL else Q()
        words = name_search_words(query) if "@" not in query and len(query) <= _LONGEST_NAME else []
        name = Q(*(_name_word_beginning(word) for word in words)) if words else Q()
        return cls(plain=plain, email=email, name=name, query=query, words=words)

    def page(self, *, cursor: Cursor, per_page: int) -> Page:
        """The page of the orders found (see payments.search_terms): on PostgreSQL the name and
        the email are read from their term streams, newest first, as far as the page needs."""
        found = Order.objects.filter(self.plain | self.email | self.name)
        if connections[found.db].vendor != "postgresql":
            return page_of(found, cursor=cursor, per_page=per_page)

        def beyond(condition: Q) -> QuerySet[Order]:
            return beyond_cursor(Order.objects.filter(condition), cursor)

        plain = self.plain
        streams = []
        email = email_stream(self.query, beyond(self.email)) if self.email else None
        names = name_streams(self.words, beyond(self.name))
        for found_by, condition in (([email] if email else [], self.email), (names, self.name)):
            if found_by:
                streams += found_by
            else:
                plain |= condition
        keys = newest_keys(
            plain=beyond(plain),
            streams=streams,
            limit=per_page + 1,
            bound=cursor.after if cursor.before is None else cursor.before,
            newest_first=cursor.before is None,
        )
        return page_of(Order.objects.filter(pk__in=keys), cursor=cursor, per_page=per_page)


def _name_word_beginning(word: str) -> Q:
    """Orders whose customer's folded name has a word beginning with `word`: LIKE '% word%'.

    That LIKE makes the trigram index read every name with a word beginning with the word's
    first letter (pg_trgm's trigram "  w"), a long list ("kari nord": half the time of the
    search at a million orders). A word of three letters or more is rather looked for
    anywhere in the name through the index (its own trigrams), then at a word's beginning
    (STRPOS, not indexed) in the names found: the same orders. A shorter word has no trigram
    of its own and keeps the first form."""
    if len(word) < 3:
        return Q(customer_name_folded__contains=" " + word)
    return Q(customer_name_folded__contains=word) & Q(GreaterThan(StrIndex("customer_name_folded", Value(" " + word)), 0))


def order_search(*, query: str, cursor: Cursor | None = None, per_page: int = 50) -> SearchResult:
    """Orders found by `query` (see orders_matching), a page of ListedOrders. An exact order
    number or provider reference (up to 2,000 characters), or a search that finds one order
    only, gives that order, which the desk opens."""
    query = query.strip()
    exact_ids = _exact_order_ids(query)
    if len(exact_ids) == 1:
        return SearchResult(page=None, exact_order_id=exact_ids[0])
    conditions = _SearchConditions.of(query, exact_ids=exact_ids)
    found = conditions.page(cursor=cursor or Cursor(), per_page=per_page)
    if not found.has_previous and len(found.items) == 1 and not found.has_next:
        return SearchResult(page=None, exact_order_id=found.items[0].pk)
    return SearchResult(page=_listed(found))


def recent_orders(*, cursor: Cursor | None = None, per_page: int = 50) -> Page:
    """All orders, newest first: a page of ListedOrders."""
    return _listed(page_of(Order.objects.all(), cursor=cursor, per_page=per_page))


@dataclass(frozen=True)
class OrderView:
    order: Order
    payments: list[PaymentDetail]  # oldest first
    order_events: list[AuditEvent]  # events about the order itself, not one payment


def order_view(*, order_id: int) -> OrderView:
    """An order with its payments in detail (PaymentDetail), in a fixed number of queries
    whatever the number of payments and events; Order.DoesNotExist."""
    payments, order_events = _payments_in_detail(Q(order_id=order_id), Q(order_id=order_id))
    order = payments[0].payment.order if payments else Order.objects.get(pk=order_id)
    return OrderView(order=order, payments=payments, order_events=order_events)


def needs_person(operation: Operation) -> bool:
    """Whether no machine can prove what became of the operation: a manager resolves it."""
    return operation.needs_person_since is not None and operation.status in NEEDING_PERSON_STATUSES


@dataclass(frozen=True)
class AttentionItem:
    """An operation on the "Needs attention" list (with its payment and order)."""

    operation: Operation
    mine: bool  # asked for by the person looking, who may not resolve it


def attention_item(*, operation: Operation, user: User) -> AttentionItem:
    return AttentionItem(operation=operation, mine=operation.requested_by_id == user.pk)


def needs_attention_queue(*, user: User, cursor: Cursor | None = None, per_page: int = 25) -> Page:
    """A Page of AttentionItems: the operations that need a person, longest waiting first."""
    operations = page_of(
        Operation.objects.filter(needs_person_since__isnull=False, status__in=NEEDING_PERSON_STATUSES),
        cursor=cursor,
        per_page=per_page,
        newest_first=False,
        by="needs_person_since",
        # The two conditions are estimated apart, as if few operations met both: joined, a
        # page read and sorted every operation needing a person (250 ms at ten million orders).
        load=lambda page: page.select_related("payment__order", "requested_by"),
    )
    return replace(operations, items=[attention_item(operation=op, user=user) for op in operations.items])


def payment_view(*, payment_id: int) -> PaymentDetail:
    """One payment in detail (see order_view); Payment.DoesNotExist."""
    payments, _ = _payments_in_detail(Q(pk=payment_id), Q(payment_id=payment_id))
    if not payments:
        raise Payment.DoesNotExist(payment_id)
    return payments[0]


def refund_request_expiry_cutoff() -> datetime:
    """Refund requests made before this moment have expired (REFUND_APPROVAL_EXPIRY_DAYS),
    whether or not `reconcile` has released them yet."""
    return timezone.now() - timedelta(days=settings.REFUND_APPROVAL_EXPIRY_DAYS)


@dataclass(frozen=True)
class RequestState:
    """Where a refund request stands, in the words its requester is told."""

    label: str  # "Waiting for approval", "Approved and refunded", "Rejected" ...
    tone: str  # "info", "success", "warning" or "error"
    detail: str = ""  # the manager's note, the provider's words ...
    waiting: bool = False  # still waiting for a decision: its requester may withdraw it


def refund_request_state(operation: Operation) -> RequestState:
    """The RequestState of a refund request; reads `operation.decided_by` and its payment
    (select them along)."""
    status = OperationStatus
    # No query when there is no decider: Django reads a null key as None.
    decider = operation.decided_by.get_username() if operation.decided_by is not None else "a manager"
    approved = f"Approved by {decider}."
    days = settings.REFUND_APPROVAL_EXPIRY_DAYS
    match operation.status:
        case status.AWAITING_APPROVAL if operation.created_at < refund_request_expiry_cutoff():
            detail = (
                f"It waited more than {days} days, so it can no longer be approved. Its amount is "
                "released at the next expiry run, or now if you withdraw it."
            )
            return RequestState("Expired", "warning", detail, waiting=True)
        case status.AWAITING_APPROVAL:
            return RequestState("Waiting for approval", "info", waiting=True)
        case status.APPROVED | status.IN_FLIGHT:
            return RequestState("Approved, being sent to the provider", "info", approved)
        case status.SUCCEEDED:
            # The database holds a succeeded operation's settled amount
            # (operation_settled_amount_iff_succeeded).
            assert operation.settled_amount is not None
            refunded = format_money(operation.settled_amount, operation.payment.currency)
            return RequestState("Approved and refunded", "success", f"{approved} {refunded} refunded.")
        case status.PENDING:
            detail = f"{approved} The provider accepted the refund and confirms it later."
            return RequestState("Approved, pending at the provider", "info", detail)
        case status.UNKNOWN:
            detail = f"{approved} The provider's answer is not known yet; it is checked with the provider."
            return RequestState("Approved, outcome unknown", "warning", detail)
        case status.FAILED:
            detail = f"{approved} {operation.failure_message}".strip()
            return RequestState("Approved, but failed at the provider", "error", detail)
        case status.REJECTED:
            return RequestState("Rejected", "error", f"{decider} wrote: “{operation.decision_note}”")
        case status.WITHDRAWN:
            return RequestState("Withdrawn", "info", "You withdrew it; nothing was sent.")
        case status.EXPIRED:
            return RequestState("Expired", "warning", f"Not decided within {days} days; nothing was sent.")
    raise ValueError(f"Operation {operation.pk} is not a refund request: {operation.status}.")


@dataclass(frozen=True)
class RefundRequest:
    """A refund request as its requester sees it: the operation (with its payment, order and
    decider) and where it stands."""

    operation: Operation
    state: RequestState


def _as_requests(operations: Iterable[Operation]) -> list[RefundRequest]:
    return [RefundRequest(operation=operation, state=refund_request_state(operation)) for operation in operations]


# What "My requests" shows of a request (RequestState included), its payment, order and decider.
_REQUEST_FIELDS = (
    "payment_id", "amount", "settled_amount", "reason", "note", "status", "requested_by_id", "decided_by_id",
    "decided_by__username", "decided_at", "decision_note", "failure_message", "created_at",
    "payment__order_id", "payment__provider", "payment__reference", "payment__currency", "payment__order__number",
)  # fmt: skip


def _requests() -> QuerySet[Operation]:
    return (
        Operation.objects.filter(approval_required=True)
        .select_related("payment__order", "decided_by")
        .only(*_REQUEST_FIELDS)
    )


def refund_requests_of(*, user: User, cursor: Cursor | None = None, per_page: int = 25) -> Page:
    """A Page of `user`'s refund requests (RefundRequest), newest first, whatever became of
    them: in a fixed number of queries, through the index on requester and time."""
    found = page_of(_requests().filter(requested_by=user), cursor=cursor, per_page=per_page)
    return replace(found, items=_as_requests(found.items))


def refund_request_of(*, user: User, operation_id: int) -> RefundRequest:
    """`user`'s refund request `operation_id` as a RefundRequest; Operation.DoesNotExist when
    there is no such request of theirs."""
    return _as_requests([_requests().get(pk=operation_id, requested_by=user)])[0]


def approvals_waiting_for(*, user: User) -> QuerySet[Operation]:
    """Refund requests waiting for approval that `user` may decide (not their own, not
    expired), oldest first."""
    return (
        Operation.objects.filter(
            kind=OperationKind.REFUND,
            status=OperationStatus.AWAITING_APPROVAL,
            created_at__gte=refund_request_expiry_cutoff(),
        )
        .exclude(requested_by=user)
        .order_by("created_at", "pk")
    )


# What the approvals queue shows of a request, its payment and order; nothing else is read.
_QUEUED_FIELDS = (
    "payment_id", "amount", "reason", "note", "created_at", "requested_by_id", "requested_by__username",
    "payment__order_id", "payment__provider", "payment__reference", "payment__currency",
    "payment__authorized", "payment__captured", "payment__cancelled", "payment__refunded",
    "payment__order__number",
)  # fmt: skip


@dataclass(frozen=True)
class QueuedRequest:
    """A refund request on the approvals page: the operation (with its payment, order and
    requester), its payment's balances, whether `user` asked for it (and may not decide it),
    whether it has waited too long to be approved, its items (RequestedItem, for a refund by
    line) and why `user` may not approve it (ApprovalConflict, or None)."""

    operation: Operation
    balances: Balances
    mine: bool
    expired: bool
    items: list["RequestedItem"]
    conflict: "ApprovalConflict | None"


@built_once
def _queued_requests() -> QuerySet[Operation]:
    """The refund requests waiting for approval, with what the queue shows of them."""
    return with_reserved_sums(
        Operation.objects.filter(kind=OperationKind.REFUND, status=OperationStatus.AWAITING_APPROVAL)
        .select_related("requested_by", "payment__order")
        .only(*_QUEUED_FIELDS),
        payment="payment",
    )


def approval_queue(*, user: User, cursor: Cursor | None = None, per_page: int = 25) -> Page:
    """A Page of QueuedRequests: the refund requests waiting for approval, oldest first, in
    three queries however long the queue."""
    requests = page_of(
        _queued_requests(),
        cursor=cursor,
        per_page=per_page,
        newest_first=False,
    )
    # Until the next expiry run releases them, expired requests are still waiting, but they
    # can no longer be approved.
    cutoff = refund_request_expiry_cutoff()
    items = _requested_items(operation_ids=[request.pk for request in requests.items])
    standing = ApprovalStanding(approver=user) if requests.items else None
    return replace(
        requests,
        items=[
            QueuedRequest(
                operation=request,
                balances=annotated_balances(request.payment, row=request),
                mine=request.requested_by_id == user.pk,
                expired=request.created_at < cutoff,
                items=items.get(request.pk, []),
                conflict=(
                    standing.conflict(requester=request.requested_by)
                    if standing is not None and request.requested_by_id != user.pk
                    else None
                ),
            )
            for request in requests.items
        ],
    )


@dataclass(frozen=True)
class RequestedItem:
    """Units of one order line (or the shipping: `line` None) that a refund by line gives back."""

    line: OrderLine | None
    quantity: int
    amount: int


@built_once
def _refund_lines() -> QuerySet[RefundLine]:
    """Refund lines with their order lines (none for the shipping), in the shop's order."""
    return (
        RefundLine.objects.select_related("order_line")
        .only("operation_id", "quantity", "amount", "order_line__name", "order_line__sku", "order_line__position")
        .order_by(F("order_line__position").asc(nulls_last=True))
    )


def _requested_items(*, operation_ids: list[int]) -> defaultdict[int, list[RequestedItem]]:
    """The items each of the operations refunds by line, by operation id, in the shop's order:
    one query for a page of requests."""
    items: defaultdict[int, list[RequestedItem]] = defaultdict(list)
    if not operation_ids:
        return items
    for refund_line in _refund_lines().filter(operation_id__in=operation_ids):
        items[refund_line.operation_id].append(
            RequestedItem(line=refund_line.order_line, quantity=refund_line.quantity, amount=refund_line.amount)
        )
    return items


def payments_for_export(
    *, query: str = "", date_from: date | None = None, date_to: date | None = None
) -> QuerySet[Payment]:
    """Payments with their orders for a CSV export, oldest first: those of the orders matching
    `query` (see orders_matching) placed between the dates (inclusive), each annotated by
    with_reserved_sums (read row by row, so that rows can stream)."""
    payments = Payment.objects.select_related("order").order_by("pk")
    if query.strip():
        payments = payments.filter(order__in=orders_matching(query).order_by().values("pk"))
    if date_from:
        payments = payments.filter(order__created_at__date__gte=date_from)
    if date_to:
        payments = payments.filter(order__created_at__date__lte=date_to)
    return with_reserved_sums(payments)


# Events that made a person able to approve refunds, or that hand their account to someone:
# whoever did one of them to an approver could be approving through them.
GRANTING_ACTIONS: dict[str, str] = {
    AuditAction.USER_CREATED: "created",
    AuditAction.USER_ACTIVATED: "activated",
    AuditAction.USER_PASSWORD_SET: "given a password",
    AuditAction.USER_MADE_APPROVER: "given the right to approve refunds",
}


@dataclass(frozen=True)
class ApprovalConflict:
    """Why a person may not approve a request: the event about their account that stands in
    the way, and the reason in words ("your account was ..."), which each decision phrases in
    its own refusal. `made_by_requester`: the requester (or an account they made) made the
    account; otherwise it was changed too recently (the cooling-off)."""

    event: AuditEvent
    reason: str
    made_by_requester: bool

    @property
    def message(self) -> str:
        """The refusal of an approval: of this request (made by the requester's hand, waiting
        does not help), or of any refund yet (the cooling-off)."""
        if self.made_by_requester:
            return f"You cannot approve this request: {self.reason}"
        return f"You cannot approve refunds yet: {self.reason}"


# The events about an approver's account by others (the granting actions; by a command or
# shell when their actor is empty), each with one row per account behind it: its actor,
# whoever did a granting action to that actor, and so on at any depth. UNION (not UNION ALL) drops rows already found, so a circle of accounts ends.
_ACCOUNTS_BEHIND_SQL = """
WITH RECURSIVE behind(event_id, account_id) AS (
    SELECT id, actor_id FROM {events}
    WHERE account_id = %s AND (actor_id IS NULL OR actor_id <> %s) AND action IN ({actions})
  UNION
    SELECT behind.event_id, made.actor_id FROM {events} made JOIN behind ON made.account_id = behind.account_id
    WHERE made.actor_id IS NOT NULL AND made.action IN ({actions})
)
SELECT event.id, event.created_at, event.action, event.actor_id, event.actor_label, behind.account_id AS behind_id
FROM behind JOIN {events} event ON event.id = behind.event_id
"""


class ApprovalStanding:
    """What stands in the way of one person approving refunds (README, "Guarantees"), read in
    one query, so that a page of requests can say of each whether that person may approve it:
    conflict(requester=...) is the rule the approval itself applies (approval_conflict)."""

    def __init__(self, *, approver: User) -> None:
        actions = list(GRANTING_ACTIONS)
        sql = _ACCOUNTS_BEHIND_SQL.format(
            events=AuditEvent._meta.db_table, actions=", ".join(["%s"] * len(actions))
        )
        events: dict[int, AuditEvent] = {}
        self.behind: defaultdict[int, set[int]] = defaultdict(set)
        for row in AuditEvent.objects.raw(sql, [approver.pk, approver.pk, *actions, *actions]):
            events.setdefault(row.pk, row)
            self.behind[row.pk].add(row.behind_id)  # type: ignore[attr-defined]  # the query's own column
        # The newest first: a refusal names the latest change that stands in the way.
        self.events = sorted(events.values(), key=lambda event: (event.created_at, event.pk), reverse=True)

    def conflict(self, *, requester: User | None) -> ApprovalConflict | None:
        """Why the person may not approve a refund `requester` asked for, or None: their
        account was created, activated, given a password or made an approver by the requester
        (or by an account the requester made, at any depth), or by anyone less than
        APPROVAL_COOLING_OFF_HOURS ago. A person's changes to their own account do not count."""
        if requester is not None:
            for event in self.events:
                if requester.pk in self.behind[event.pk]:
                    return ApprovalConflict(
                        event=event,
                        reason=f"your account was {GRANTING_ACTIONS[event.action]} by {event.actor_label}, "
                        + (
                            "who asked for this refund."
                            if event.actor_id == requester.pk
                            else f"an account made by {requester.get_username()}, who asked for this refund."
                        ),
                        made_by_requester=True,
                    )
        cooling_off = timedelta(hours=settings.APPROVAL_COOLING_OFF_HOURS)
        recent = next((e for e in self.events if e.created_at > timezone.now() - cooling_off), None)
        if recent is not None:
            until = timezone.localtime(recent.created_at + cooling_off)
            return ApprovalConflict(
                event=recent,
                made_by_requester=False,
                reason=f"your account was "
                f"{GRANTING_ACTIONS[recent.action]} by {recent.actor_label} at "
                f"{timezone.localtime(recent.created_at):%Y-%m-%d %H:%M}. Approvals from an account "
                f"count {settings.APPROVAL_COOLING_OFF_HOURS:g} hours after such a change, from "
                f"{until:%Y-%m-%d %H:%M}.",
            )
        return None


def approval_conflict(*, approver: User, requester: User | None) -> ApprovalConflict | None:
    """Why `approver` may not approve a refund `requester` asked for, or None (see
    ApprovalStanding.conflict)."""
    return ApprovalStanding(approver=approver).conflict(requester=requester)
