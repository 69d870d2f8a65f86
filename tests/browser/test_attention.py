"""A manager resolves what no machine can prove, in a real browser: by keyboard from "Needs
attention", from the order's card, and without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from payments.statuses import OperationStatus
from tests.browser.helpers import card, open_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_resolves_it_by_keyboard_from_needs_attention(page, log_in, agent, manager, needing_person,
                                                                 sandbox, screenshot):
    operation = needing_person(agent)
    number = operation.payment.order.number
    log_in(manager)

    page.get_by_role("link", name="Needs attention").click()
    row = page.get_by_role("listitem").filter(has_text=number)
    expect(row).to_contain_text("Refund of 25.00\xa0EUR")
    expect(row).to_contain_text("The provider’s answer does not show its refunds")
    screenshot("needs-attention")
    row.get_by_label("Note").focus()
    page.keyboard.type("Bambora portal: refund of 25.00 on the 3rd.")
    page.keyboard.press("Tab")  # "Carried out at the provider"
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text(f"Order {number}: the refund of 25.00\xa0EUR is booked as carried out.")
    operation.refresh_from_db()
    assert (operation.status, operation.decided_by) == (OperationStatus.SUCCEEDED, manager)
    assert sandbox.payment(provider="bambora", reference=operation.payment.reference)["refunded"] == 2_500

    open_order(page, number)
    bambora = card(page, "Bambora")
    expect(bambora.locator("dt:text-is('Refunded') + dd")).to_have_text("25.00\xa0EUR")
    expect(bambora).to_contain_text("Resolved by a person")


def test_a_manager_resolves_it_on_the_orders_card(page, log_in, agent, manager, needing_person):
    operation = needing_person(agent)
    log_in(manager)
    open_order(page, operation.payment.order.number)
    bambora = card(page, "Bambora")
    block = bambora.get_by_role("group", name=re.compile("Needs a person"))
    expect(block).to_contain_text("The provider last said")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("75.00\xa0EUR")

    block.get_by_label("Note").fill("Not in the portal.")
    block.get_by_role("button", name="Did not happen").click()

    expect(bambora.get_by_role("status")).to_contain_text("is booked as not done; its amount is released.")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("100.00\xa0EUR")
    expect(bambora.get_by_role("group", name=re.compile("Needs a person"))).to_have_count(0)


def test_a_manager_resolves_it_without_javascript(browser, live_server, log_in, agent, manager, needing_person):
    operation = needing_person(agent)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = log_in(manager, on=context.new_page())
        page.get_by_role("link", name="Needs attention").click()
        row = page.get_by_role("listitem").filter(has_text=operation.payment.order.number)

        row.get_by_label("Note").fill("Portal shows it.")
        row.get_by_role("button", name="Carried out at the provider").click()

        expect(page.get_by_role("status")).to_contain_text("is booked as carried out")
        expect(page.get_by_text("Nothing needs attention")).to_be_visible()
    finally:
        context.close()
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
