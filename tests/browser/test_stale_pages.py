"""Pages left open while things change: the session ends, or someone else acts on the payment.
An action then answers in place, never with a whole page swapped into a card."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from tests.browser.helpers import card, open_order, refund_button

pytestmark = pytest.mark.django_db(transaction=True)


def test_after_the_session_ended_an_action_leads_to_the_login_and_back(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)  # as when the session times out

    bambora = card(page, "Bambora")
    bambora.get_by_label("Reason").select_option(label="Goodwill")
    refund_button(bambora).click()

    # back to the page as it was, opened from the search
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next=/orders/{payment.order_id}/%3Fq%3D\w+$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert sandbox.requests("bambora") == []
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Order {payment.order.number}")).to_be_visible()


def test_cancel_on_a_card_that_is_out_of_date_says_so_in_the_card(page, log_in, agent, make_user, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=12_000)
    log_in(agent)
    open_order(page, payment.order.number)
    # Meanwhile another agent cancels it.
    payment_cancel(payment_id=payment.pk, expected_amount=12_000,
                   actor=Actor.of_user(make_user(group="Support agents")), idempotency_key=new_idempotency_key())

    bambora = card(page, "Bambora")
    bambora.get_by_role("button", name="Cancel payment").click()

    expect(bambora.get_by_role("status")).to_have_text("Nothing can be cancelled on this payment now.")
    expect(bambora.locator("dt:text-is('Cancelled') + dd")).to_have_text("120.00\xa0EUR")
    expect(bambora.get_by_role("button", name="Cancel payment")).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(1)  # no page inside the page
