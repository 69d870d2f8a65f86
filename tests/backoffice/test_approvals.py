"""The approvals page and its actions through Django's test client, against the sandbox."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditAction, AuditEvent, Operation
from payments.order_lines import RefundItems
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewLine
from payments.services.refunds import refund_request
from payments.services.sync import payment_sync
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def ask(payment, amount, user):
    operation = refund_request(
        payment_id=payment.pk, amount=amount, reason="goodwill",
        actor=Actor.of_user(user), idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.AWAITING_APPROVAL
    return operation


def hx_post(client, url, data=None):
    return client.post(url, data or {}, headers={"HX-Request": "true"})


def facts(html, request):
    """The facts listed for one request on the approvals page: {label: value}."""
    row = re.search(rf'<li class="card approval" id="request-{request.pk}".*?</li>\n', html, re.S)[0]
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", row))


def test_approve_swaps_the_row_and_moves_the_money(manager_client, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    response = hx_post(manager_client, reverse("approve", args=[request.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<li class="card approval decided" id="request-{request.pk}">')
    assert f"Order {payment.order.number}: approved. Refunded 600.00\xa0EUR." in html
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 60_000


def test_reject_with_a_note_swaps_the_row_and_releases_the_amount(manager_client, manager, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    response = hx_post(manager_client, reverse("reject", args=[request.pk]),
                       {f"reject-{request.pk}-note": "Goods not returned yet"})

    html = response.content.decode()
    assert html.lstrip().startswith(f'<li class="card approval decided" id="request-{request.pk}">')
    assert f"Order {payment.order.number}: rejected." in html
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    request.refresh_from_db()
    assert (request.status, request.decision_note, request.decided_by) == (
        OperationStatus.REJECTED, "Goods not returned yet", manager
    )
    assert sandbox.requests("bambora") == []


def test_reject_without_a_note_asks_for_one(manager_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    response = hx_post(manager_client, reverse("reject", args=[request.pk]), {f"reject-{request.pk}-note": "  "})

    assert "Write a note saying why the request is rejected." in response.content.decode()
    request.refresh_from_db()
    assert request.status == OperationStatus.AWAITING_APPROVAL


def test_approval_fails_with_a_clear_message_when_refundable_dropped(manager_client, agent, make_payment, sandbox):
    # given: a request for 6,000 NOK; meanwhile 5,000 NOK were refunded in Vipps's portal
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000)
    request = ask(payment, 600_000, agent)
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=500_000)
    payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))
    sandbox.clear_requests()

    # when
    response = hx_post(manager_client, reverse("approve", args=[request.pk]))

    # then
    html = response.content.decode()
    assert "The payment can no longer refund this amount: at most 5,000.00\xa0NOK is refundable now." in html
    assert 'role="alert"' in html
    request.refresh_from_db()
    assert request.status == OperationStatus.AWAITING_APPROVAL
    assert [r for r in sandbox.requests("vipps") if r["endpoint"] == "refund"] == []


def test_the_page_shows_refundable_now_as_the_order_page_does(manager_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    approvals = manager_client.get(reverse("approvals")).content.decode()
    order_page = manager_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert re.search(r"<dt>Refundable</dt><dd>400.00\xa0EUR</dd>", order_page)
    assert facts(approvals, request)["Refundable now"] == "400.00\xa0EUR"
    assert facts(approvals, request)["Refundable if rejected"] == "1,000.00\xa0EUR"


def test_the_time_a_request_was_made_names_its_time_zone(manager_client, agent, make_payment, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)
    made = timezone.localtime(request.created_at)

    approvals = manager_client.get(reverse("approvals")).content.decode()

    assert f'title="{made:%Y-%m-%d %H:%M}, Asia/Tokyo time (JST, UTC+09:00)"' in approvals


def test_the_queue_is_oldest_first_25_a_page(manager_client, agent, make_payment):
    payment = make_payment("vipps", currency="NOK", amount=10_000_000, captured=10_000_000, at_provider=False)
    first = ask(payment, 500_100, agent)  # over the limit: it and every later one wait
    requests = [first] + [ask(payment, 100 + i, agent) for i in range(25)]
    # Made in one order, asked for in the reverse: the page follows when they were asked for.
    now = timezone.now()
    for age, request in enumerate(requests):
        Operation.objects.filter(pk=request.pk).update(created_at=now - timedelta(minutes=age))
    oldest_first = [request.pk for request in reversed(requests)]

    def shown(response):
        return [int(pk) for pk in re.findall(r'<li class="card approval" id="request-(\d+)"', response.content.decode())]

    def link(response, rel):
        return re.search(rf'rel="{rel}" href="\?([^"]+)"', response.content.decode())[1]

    first_page = manager_client.get(reverse("approvals"))
    second_page = manager_client.get(reverse("approvals") + "?" + link(first_page, "next"))
    back = manager_client.get(reverse("approvals") + "?" + link(second_page, "prev"))

    assert shown(first_page) == oldest_first[:25]
    assert link(first_page, "next") == f"after={oldest_first[24]}"
    assert shown(second_page) == oldest_first[25:]
    assert 'rel="next"' not in second_page.content.decode()
    assert shown(back) == oldest_first[:25]
    assert 'rel="prev"' not in back.content.decode()


def test_the_count_is_the_requests_waiting_for_this_manager(manager_client, manager, agent, make_payment, settings):
    payment = make_payment("vipps", currency="NOK", amount=10_000_000, captured=10_000_000, at_provider=False)
    ask(payment, 600_000, agent)
    ask(payment, 100, agent)
    ask(payment, 100, manager)  # their own: not theirs to decide
    expired = ask(payment, 200, agent)  # past its time: nothing left to decide, even before reconcile
    Operation.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(days=settings.REFUND_APPROVAL_EXPIRY_DAYS, minutes=1)
    )

    response = manager_client.get(reverse("approvals_count"))

    assert re.fullmatch(r'<span id="approvals-count" [^>]*>2</span>\s*', response.content.decode())


def test_an_expired_request_is_not_offered_for_approval_and_cannot_be_approved(
    manager_client, agent, make_payment, sandbox, settings
):
    settings.REFUND_APPROVAL_EXPIRY_DAYS = 7
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)
    Operation.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=8))

    page = manager_client.get(reverse("approvals")).content.decode()
    response = hx_post(manager_client, reverse("approve", args=[request.pk]))

    assert f'action="{reverse("approve", args=[request.pk])}"' not in page
    assert "this request waited more than 7 days, so it can no longer be approved" in page
    assert "This request waited more than 7 days and has expired: nothing was sent" in response.content.decode()
    request.refresh_from_db()
    assert request.status == OperationStatus.EXPIRED
    assert AuditEvent.objects.filter(action=AuditAction.REFUND_EXPIRED, operation=request).exists()
    assert sandbox.requests("bambora") == []


def test_a_request_by_line_shows_its_items(manager_client, agent, make_payment):
    # given: a request for two shirts of one line and the shipping
    payment = make_payment(
        "bambora", currency="EUR", amount=140_000, captured=140_000, shipping=5_000,
        lines=[NewLine(sku="SH-1", name="Shirt <b>", quantity=3, unit_price=40_000),
               NewLine(sku="", name="Socks", quantity=5, unit_price=3_000)],
    )  # fmt: skip
    shirt = payment.order.lines.get(sku="SH-1")
    request = refund_request(
        payment_id=payment.pk, amount=85_000, reason="goodwill", actor=Actor.of_user(agent),
        idempotency_key=new_idempotency_key(), items=RefundItems(quantities={shirt.pk: 2}, shipping=True),
    )  # fmt: skip
    assert request.status == OperationStatus.AWAITING_APPROVAL

    html = manager_client.get(reverse("approvals")).content.decode()

    # then: the manager sees what is given back, the customer's text escaped
    items = facts(html, request)["Items"]
    assert re.findall(r"<li>(.*?)</li>", items) == [
        '2 × <bdi>Shirt &lt;b&gt;</bdi> <span class="muted">(<bdi>SH-1</bdi>)</span>: 800.00\xa0EUR',
        "Shipping: 50.00\xa0EUR",
    ]


def test_a_request_by_amount_lists_no_items(manager_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    html = manager_client.get(reverse("approvals")).content.decode()

    assert "Items" not in facts(html, request)


@pytest.mark.parametrize(
    ("reference", "shown"),
    [
        ("r" * 50, "r" * 50),
        ("r" * 51, "r" * 49 + "…"),
        ("ø" * 51, "ø" * 49 + "…"),
        # Decomposed (e and a combining acute accent): written composed, as Truncator writes it.
        ("e\u0301-ref", "\u00e9-ref"),
    ],
)
def test_a_payment_reference_is_cut_after_50_characters(manager_client, agent, make_payment, reference, shown):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000, reference=reference,
                           at_provider=False)
    request = ask(payment, 60_000, agent)

    approvals = manager_client.get(reverse("approvals")).content.decode()

    assert facts(approvals, request)["Payment"] == f"Bambora <code><bdi>{shown}</bdi></code>"
