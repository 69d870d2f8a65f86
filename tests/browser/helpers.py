"""Helpers shared by the browser tests (fixtures are in conftest.py): finding what a person
finds on the desk, by its role and label."""

import re

from playwright.sync_api import expect


def card(page, provider_name):
    return page.get_by_role("region", name=provider_name)


def refund_button(region):
    """The refund form's button, named for what it does: "Refund", "Refund 40.00 EUR", or
    "Request approval"."""
    return region.get_by_role("button", name=re.compile(r"^(Refund\b|Request approval$)"))


def open_order(page, number):
    page.goto("/")
    page.get_by_label("Search").fill(number)
    page.get_by_label("Search").press("Enter")
    expect(page.get_by_role("heading", name=f"Order {number}")).to_be_visible()


def request_refund(page, amount, reason="Returned goods"):
    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill(amount)
    bambora.get_by_label("Reason").select_option(label=reason)
    refund_button(bambora).click()
    return bambora
