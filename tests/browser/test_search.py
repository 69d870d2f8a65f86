"""Finding a customer as an agent hears of them: by name, typed any old way."""

import pytest
from playwright.sync_api import expect

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_by_name_lists_the_customers_orders_with_what_waits(page, log_in, agent, make_payment, settings,
                                                                  screenshot):
    # given: two orders of Åse Ødegård, one with a refund waiting for approval, and somebody else's
    settings.REFUND_APPROVAL_LIMITS = {}
    waiting = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, customer_name="Åse Ødegård",
                           at_provider=False)
    other = make_payment("bambora", currency="EUR", amount=5_000, customer_name="Åse Ødegård", at_provider=False)
    make_payment("vipps", currency="NOK", amount=100_000, customer_name="Ola Nordmann", at_provider=False)
    refund_request(payment_id=waiting.pk, amount=45_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())
    log_in(agent)

    # when: the name is typed without its letters, in part
    page.get_by_label("Search").fill("ase odeg")
    page.get_by_label("Search").press("Enter")

    # then: both her orders, and what waits on each payment with its amount
    expect(page.get_by_role("heading", name="Orders matching “ase odeg”")).to_be_visible()
    rows = page.get_by_role("row").filter(has_text="Åse Ødegård")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("row").filter(has_text="Ola Nordmann")).to_have_count(0)
    expect(rows.filter(has_text=waiting.order.number)).to_contain_text("waiting for approval 450.00\xa0NOK")
    expect(rows.filter(has_text=other.order.number)).not_to_contain_text("waiting")
    expect(page.get_by_label("Search")).to_have_value("ase odeg")
    screenshot("search-by-name")

    # and an order opens with the query still in the search box
    page.get_by_role("link", name=waiting.order.number).click()
    expect(page.get_by_role("heading", name=f"Order {waiting.order.number}")).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("ase odeg")
