"""Every desk page, checked by axe-core (shipped inside axe-playwright-python: nothing is
downloaded) in the browser, in the states people see it in: no violations of any rule axe runs
by default (WCAG 2 A and AA, and its best practices).

A page added to the desk is added to PAGES: a name, who looks at it, its address in the world
below, and what to do there first (if anything) before it is checked."""

import re
from dataclasses import dataclass
from typing import Callable

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from payments.models import Order
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewPayment, order_create
from payments.services.refunds import refund_reject, refund_request

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class DeskPage:
    name: str
    who: str | None  # a fixture's name (agent, manager ...), or None for nobody logged in
    path: Callable  # world -> the address
    heading: str  # the page's first heading, to be sure the page checked is the one meant
    then: Callable | None = None  # (page, world) -> None: brings the page to the state checked


def cancel_confirmation(page, world):
    page.get_by_role("region", name="Vipps MobilePay").get_by_role("button", name="Cancel payment").click()
    expect(page.get_by_role("button", name="Confirm cancellation")).to_be_visible()


def invalid_refund(page, world):
    bambora = page.get_by_role("region", name="Bambora")
    bambora.get_by_label("Amount").fill("10.001")
    bambora.get_by_label("Reason").select_option(label="Goodwill")
    bambora.get_by_role("button", name=re.compile(r"^Refund")).click()
    expect(bambora.get_by_text("EUR amounts have at most 2 decimals.")).to_be_visible()


def decision_shown(page, world):
    # The page asks for the notices as it loads, and a notice is taken when it is given: let
    # that first ask end before the decision, or it could take the notice the reload shows.
    page.wait_for_load_state("networkidle")
    refund_reject(operation_id=world["request"], actor=Actor.of_user(world["manager"]), note="Not yet")
    page.reload()
    expect(page.locator("#decision-notices")).to_contain_text("rejected")


def export_asked(page, world):
    page.goto("/")
    page.get_by_role("button", name="Export orders and payments (CSV)").click()
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()


def export_refused(page, world):
    page.get_by_label("Placed from").fill("2026-02-02")
    page.get_by_label("to", exact=True).fill("2026-02-01")
    page.get_by_role("button", name="Export orders and payments (CSV)").click()
    expect(page.get_by_role("heading", name="Export", level=1)).to_be_visible()


PAGES = [
    DeskPage("login", None, lambda world: "/accounts/login/", "Log in"),
    DeskPage("newest orders", "agent", lambda world: "/", "Newest orders", then=decision_shown),
    DeskPage("search results", "agent", lambda world: "/?q=nordmann", "Orders matching “nordmann”"),
    DeskPage("search without results", "agent", lambda world: "/?q=nobody-at-all", "Orders matching “nobody-at-all”"),
    DeskPage("order with every action", "agent", lambda world: f"/orders/{world['order']}/", "Order A11Y-1"),
    DeskPage("order opened from a search", "agent", lambda world: f"/orders/{world['order']}/?q=A11Y-1",
             "Order A11Y-1"),
    DeskPage("cancel confirmation in the card", "agent", lambda world: f"/orders/{world['order']}/", "Order A11Y-1",
             then=cancel_confirmation),
    DeskPage("cancel confirmation without JavaScript", "agent", lambda world: f"/payments/{world['vipps']}/cancel/",
             "Cancel payment of order A11Y-1"),
    DeskPage("refund refused as invalid", "agent", lambda world: f"/orders/{world['order']}/", "Order A11Y-1",
             then=invalid_refund),
    DeskPage("my requests", "agent", lambda world: "/my-requests/", "My requests"),
    DeskPage("settings", "agent", lambda world: "/settings/", "Settings"),
    DeskPage("approvals", "manager", lambda world: "/approvals/", "Approvals"),
    DeskPage("needs attention", "manager", lambda world: "/attention/", "Needs attention"),
    DeskPage("order with a refund that needs a person", "manager",
             lambda world: f"/orders/{world['needs_person_order']}/", "Order A11Y-3"),
    DeskPage("order, as an auditor", "auditor", lambda world: f"/orders/{world['order']}/", "Order A11Y-1"),
    DeskPage("not allowed", "agent", lambda world: "/approvals/", "Not allowed"),
    DeskPage("not found", "agent", lambda world: "/orders/999999/", "Not found"),
    DeskPage("exports, one being made", "manager", lambda world: "/exports/", "Exports", then=export_asked),
    DeskPage("export refused", "manager", lambda world: "/", "Newest orders", then=export_refused),
]


@pytest.fixture
def world(agent, manager, sandbox, settings, needing_person):
    """Order A11Y-1 with a card of each kind: Vipps with money to refund and to cancel and a
    request of the agent's waiting; Bambora with a refund of unknown outcome and another request
    of the agent's waiting (`request`), for a manager to decide on. And another order of Kari
    Nordmann's, so that her name lists two. And order A11Y-3, whose refund needs a person."""
    needs_person = needing_person(agent)
    Order.objects.filter(pk=needs_person.payment.order_id).update(number="A11Y-3")
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "500"}
    order, _ = order_create(
        number="A11Y-1", customer_name="Kari Nordmann", customer_email="kari@example.com", currency="EUR",
        total=300_000,
        payments=[NewPayment(provider="vipps", reference="a11y-vipps-1", amount=200_000, captured=100_000),
                  NewPayment(provider="bambora", reference="a11y-bambora", amount=100_000, captured=100_000)],
        actor=Actor.system("tests"),
    )
    order_create(number="A11Y-2", customer_name="Kari Nordmann", customer_email="kari@example.com", currency="EUR",
                 total=1_000, payments=[], actor=Actor.system("tests"))
    vipps, bambora = order.payments.order_by("pk")
    for payment in (vipps, bambora):
        sandbox.create_payment(provider=payment.provider, reference=payment.reference, currency="EUR",
                               amount=payment.authorized, captured=payment.captured)

    def ask(payment, amount):
        return refund_request(payment_id=payment.pk, amount=amount, reason="goodwill", actor=Actor.of_user(agent),
                              idempotency_key=new_idempotency_key())

    ask(vipps, 60_000)
    request = ask(bambora, 70_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")
    ask(bambora, 1_000)
    return {"order": order.pk, "vipps": vipps.pk, "request": request.pk, "manager": manager,
            "needs_person_order": needs_person.payment.order_id}


def test_every_desk_page_is_in_the_list():
    from django.urls import get_resolver

    pages = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    # Not pages: actions (POST), fragments that pages load, machines' endpoints, the admin.
    not_pages = {"payment_card", "refund", "check", "approvals_count", "approve", "reject", "withdraw",
                 "decision_notices", "api_orders", "api_openapi", "webhook_vipps", "webhook_simpleps", "webhook_optty",
                 "healthz", "readyz", "metrics", "logout", "export_payments", "export_download", "order_items",
                 "resolve"}
    checked = {"login", "home", "order", "cancel", "my_requests", "approvals", "exports", "preferences",
               "needs_attention"}
    assert pages - not_pages - checked == set(), "a desk page is missing from PAGES"


@pytest.mark.parametrize("desk_page", PAGES, ids=[desk_page.name for desk_page in PAGES])
def test_no_accessibility_violations(desk_page, request, world, page, log_in):
    if desk_page.who:
        log_in(request.getfixturevalue(desk_page.who))
    page.goto(desk_page.path(world))
    expect(page.get_by_role("heading", level=1)).to_have_text(desk_page.heading)
    if desk_page.then:
        desk_page.then(page, world)

    results = Axe().run(page)

    assert results.violations_count == 0, results.generate_snapshot() + "\n" + "\n".join(
        f"{violation['id']}: {node['target']} {node['failureSummary']}"
        for violation in results.response["violations"]
        for node in violation["nodes"]
    )


def test_the_check_finds_what_is_wrong(page, log_in, agent):
    # A field without a label, put into a desk page: the check above would report it.
    log_in(agent)
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<input type=text>')")

    results = Axe().run(page)

    assert [violation["id"] for violation in results.response["violations"]] == ["label"]
