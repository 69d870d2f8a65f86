"""An agent who works by keyboard: "/" to search, Enter to open, focus where the work is, and
the safe choice first where a slip would cost money."""

import pytest
from playwright.sync_api import expect

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewPayment, order_create
from payments.services.refunds import refund_request
from tests.browser.helpers import card

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def order_with_a_settled_payment_first(agent, sandbox):
    """Order K-1: a Bambora payment refunded in full (nothing left to do), then a Vipps
    payment with money to refund."""
    order, _ = order_create(
        number="K-1", customer_name="Ingrid Berg", customer_email="ingrid@example.com", currency="NOK",
        total=30_000,
        payments=[NewPayment(provider="bambora", reference="k-1-bambora", amount=10_000, captured=10_000),
                  NewPayment(provider="vipps", reference="k-1-vipps", amount=20_000, captured=20_000)],
        actor=Actor.system("tests"),
    )
    for payment in order.payments.all():
        sandbox.create_payment(provider=payment.provider, reference=payment.reference, currency="NOK",
                               amount=payment.authorized, captured=payment.captured)
    settled = order.payments.get(provider="bambora")
    refund_request(payment_id=settled.pk, amount=10_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())
    return order


def test_a_refund_by_keyboard_alone_from_the_search(page, log_in, agent, order_with_a_settled_payment_first,
                                                    sandbox, screenshot):
    log_in(agent)
    page.get_by_role("link", name="Orders", exact=True).focus()

    # "/" goes to Search; Enter opens the one order found, by the customer's name
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("ingrid b")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Order K-1")).to_be_visible()

    # the search box keeps the query; focus is on the first action of the first payment that
    # has one: the refundable Vipps payment's amount, not the refunded Bambora one
    expect(page.get_by_label("Search")).to_have_value("ingrid b")
    vipps = card(page, "Vipps MobilePay")
    expect(vipps.get_by_label("Amount")).to_be_focused()
    screenshot("opened-from-search-focus-on-first-action")

    page.keyboard.type("50.00")
    page.keyboard.press("Tab")
    expect(vipps.get_by_role("button", name="Whole refundable amount")).to_be_focused()
    page.keyboard.press("Tab")
    expect(vipps.get_by_label("Reason")).to_be_focused()
    vipps.get_by_label("Reason").select_option(label="Damaged")
    page.keyboard.press("Tab")
    expect(vipps.get_by_label("Note")).to_be_focused()
    page.keyboard.press("Enter")

    expect(vipps.get_by_role("status")).to_have_text("Refunded 50.00\xa0NOK.")
    assert sandbox.payment(provider="vipps", reference="k-1-vipps")["refunded"] == 5_000


def test_slash_goes_to_search_except_while_typing(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000, at_provider=False)
    log_in(agent)
    page.goto(f"/orders/{payment.order_id}/")
    bambora = card(page, "Bambora")

    # typing a "/" in a field types it
    bambora.get_by_label("Note").fill("")
    bambora.get_by_label("Note").press_sequentially("size 42/43")
    expect(bambora.get_by_label("Note")).to_have_value("size 42/43")
    expect(bambora.get_by_label("Note")).to_be_focused()

    # anywhere else it goes to Search, with what was in it selected to be typed over
    page.get_by_label("Search").fill("old query")
    bambora.get_by_role("heading", name="Bambora").click()
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("new")
    expect(page.get_by_label("Search")).to_have_value("new")


def test_an_order_opened_without_a_search_leaves_focus_alone(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000, at_provider=False)
    log_in(agent)

    page.goto(f"/orders/{payment.order_id}/")

    expect(card(page, "Bambora").get_by_label("Amount")).not_to_be_focused()
