"""Each page makes a fixed number of queries however many orders, payments, operations and
events there are. Desk pages: session, user, permissions, and at most three for the page
itself. Admin lists: a fixed number too (tests/perf/bench.py measures their time)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.models import Operation
from payments.order_lines import RefundItems
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewLine, NewPayment, order_create
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

MAX_DESK_QUERIES = 6


def session_refreshed(client):
    """A request that refreshes the session's expiry if a minute has passed since it last was
    (SessionIdleTimeoutMiddleware): the pages measured next then do not write it."""
    client.get(reverse("home"))


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200 or url.endswith("/decisions/"), (url, response.status_code)
    return len(captured.captured_queries)


@pytest.fixture
def grow(make_user):
    """Add `count` orders of `payments` payments each, every payment with a refund request
    waiting for approval (operations, events, a row in the approvals queue); returns the last
    order's id."""
    requester = make_user(group="Support agents")
    numbers = iter(range(10**6))

    def add(count, *, payments=1):
        order = None
        for _ in range(count):
            number = f"Q{next(numbers):06d}"
            order, _ = order_create(
                number=number, customer_name="Many Orders", customer_email="many@example.com",
                currency="NOK", total=900_000 * payments,
                payments=[
                    NewPayment(provider="vipps", reference=f"q-{number}-{position}", amount=900_000,
                               captured=900_000)
                    for position in range(payments)
                ],
                actor=Actor.system("tests"),
            )
            for payment in order.payments.all():
                refund_request(payment_id=payment.pk, amount=600_000, reason="goodwill",
                               actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
        return order.pk

    return add


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_desk_pages_query_counts_do_not_grow_with_rows(client, request, grow, role):
    client.force_login(request.getfixturevalue(role))
    client.get(reverse("home"))  # the first request after login refreshes the session
    pages = {
        "newest orders": lambda order_id: reverse("home"),
        "second page": lambda order_id: reverse("home") + f"?after={order_id}",
        "search by email": lambda order_id: reverse("home") + "?q=many@example.com",
        "search by number prefix": lambda order_id: reverse("home") + "?q=Q0",
        "search by name": lambda order_id: reverse("home") + "?q=many%20ord",
        "search by the beginning of an email": lambda order_id: reverse("home") + "?q=MANY@",
        "order": lambda order_id: reverse("order", args=[order_id]),
    }

    def first_request():
        return Operation.objects.filter(status="awaiting_approval").earliest("created_at", "pk").pk

    if role == "manager":
        pages["approvals"] = lambda order_id: reverse("approvals")
        pages["approvals, second page"] = lambda order_id: reverse("approvals") + f"?after={first_request()}"
        pages["needs attention"] = lambda order_id: reverse("needs_attention")

    few = grow(55)  # more than a page of orders and of requests, so that second pages have rows
    session_refreshed(client)
    counts_few = {name: queries_for(client, url(few)) for name, url in pages.items()}
    # The measured order now has five payments, each with its operations and events.
    many = grow(60, payments=5)
    session_refreshed(client)
    counts_many = {name: queries_for(client, url(many)) for name, url in pages.items()}

    assert counts_many == counts_few
    assert max(counts_many.values()) <= MAX_DESK_QUERIES, counts_many


def test_admin_lists_query_counts_do_not_grow_with_rows(client, auditor, grow):
    client.force_login(auditor)
    admin = "/admin/payments"
    pages = [
        f"{admin}/order/",
        f"{admin}/order/?q=Q0",
        f"{admin}/order/?q=MANY@example.com",
        f"{admin}/payment/",
        f"{admin}/payment/?q=Q00001",
        f"{admin}/payment/?currency=NOK",
        f"{admin}/operation/",
        f"{admin}/operation/?status__exact=awaiting_approval",
        f"{admin}/operation/?q=q-Q000001-0",
        f"{admin}/auditevent/",
        f"{admin}/auditevent/?q=system:%20tests",
        f"{admin}/auditevent/?q=q000001",
        f"{admin}/providernotification/",
    ]
    client.get(pages[0])
    grow(55)
    session_refreshed(client)
    counts_few = [queries_for(client, url) for url in pages]
    grow(60, payments=3)
    session_refreshed(client)
    counts_many = [queries_for(client, url) for url in pages]

    assert counts_many == counts_few


def test_an_order_with_lines_costs_one_query_more_whatever_its_lines_and_refunds(client, agent):
    """The "Items" table and the refund forms' quantities come from one query."""
    client.force_login(agent)
    client.get(reverse("home"))

    def itemized(number, lines):
        order, _ = order_create(
            number=number, customer_name="Many Lines", customer_email="lines@example.com", currency="NOK",
            total=10_000 * lines,
            lines=[NewLine(sku=f"L{i}", name=f"Line {i}", quantity=2, unit_price=5_000) for i in range(lines)],
            payments=[NewPayment(provider="vipps", reference=f"lines-{number}-{i}", amount=5_000 * lines,
                                 captured=5_000 * lines) for i in range(2)],
            actor=Actor.system("tests"),
        )
        for payment, line in zip(order.payments.all(), order.lines.all(), strict=False):
            refund_request(payment_id=payment.pk, amount=5_000, reason="goodwill", actor=Actor.of_user(agent),
                           idempotency_key=new_idempotency_key(), items=RefundItems(quantities={line.pk: 1}))
        return order.pk

    plain = order_create(
        number="PLAIN-1", customer_name="No Lines", customer_email="plain@example.com", currency="NOK",
        total=10_000, payments=[NewPayment(provider="vipps", reference="plain-1", amount=10_000)],
        actor=Actor.system("tests"),
    )[0].pk
    few, many = itemized("LINES-1", 1), itemized("LINES-2", 40)

    counts = [queries_for(client, reverse("order", args=[pk])) for pk in (plain, few, many)]

    assert counts[1] == counts[2] == counts[0] + 1 <= MAX_DESK_QUERIES


def test_my_requests_and_the_decisions_shown_make_fixed_queries(client, agent, manager, make_payment, settings):
    """However many requests a person has, and however many decisions wait to be shown."""
    from payments.services.refunds import refund_reject

    settings.REFUND_APPROVAL_LIMITS = {}
    client.force_login(agent)
    client.get(reverse("home"))
    payment = make_payment("vipps", currency="NOK", amount=10_000_000, captured=10_000_000, at_provider=False)

    def decide(count):
        for _ in range(count):
            request = refund_request(payment_id=payment.pk, amount=100, reason="goodwill",
                                     actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
            refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="No")

    def counts():
        session_refreshed(client)
        newest = Operation.objects.filter(requested_by=agent).latest("created_at", "pk").pk
        return [queries_for(client, reverse("my_requests")), queries_for(client, reverse("my_requests") + f"?after={newest}"),
                queries_for(client, reverse("decision_notices"))]

    decide(30)
    few = counts()
    decide(60)
    many = counts()

    assert many == few
    assert max(many) <= MAX_DESK_QUERIES, many


def test_the_order_page_shows_what_needs_a_person_in_fixed_queries(client, manager, make_user):
    """Each operation that needs a person names who asked for it: read with it, not one by one."""
    from django.utils import timezone

    from payments.models import Operation
    from payments.statuses import OperationStatus

    client.force_login(manager)
    client.get(reverse("home"))

    def needing_people(number, count):
        order, _ = order_create(
            number=number, customer_name="Needs People", customer_email="needs@example.com", currency="NOK",
            total=900_000 * count,
            payments=[NewPayment(provider="vipps", reference=f"{number}-{i}", amount=900_000, captured=900_000)
                      for i in range(count)],
            actor=Actor.system("tests"),
        )
        for payment in order.payments.all():
            requester = make_user(group="Support agents")
            operation = refund_request(payment_id=payment.pk, amount=600_000, reason="goodwill",
                                       actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
            # as reconciliation leaves an operation no check could prove
            Operation.objects.filter(pk=operation.pk).update(
                status=OperationStatus.UNKNOWN, needs_person_since=timezone.now()
            )
        return order.pk

    one, five = needing_people("NP-1", 1), needing_people("NP-5", 5)

    counts = [queries_for(client, reverse("order", args=[pk])) for pk in (one, five)]

    assert counts[0] == counts[1] <= MAX_DESK_QUERIES
