"""Each person's settings: the locale they write and read amounts in (MONEY_LOCALE until they
choose)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.models import Preferences

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_the_settings_page_offers_each_locale_by_how_it_writes_amounts(agent_client, settings):
    settings.MONEY_LOCALE = "en"

    html = agent_client.get(reverse("preferences")).content.decode()

    assert '<a href="/settings/" aria-current="page">Settings</a>' in html
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', html)
    assert options == [
        ("", "1,234.50 (the default, English)"),
        ("en", "1,234.50 (English)"),
        ("nb", f"1{NBSP}234,50 (Norsk bokmål)"),
        ("da", "1.234,50 (Dansk)"),
        ("sv", f"1{NBSP}234,50 (Svenska)"),
        ("de", "1.234,50 (Deutsch)"),
    ]
    assert re.search(r'<option value="" selected>', html)


def test_a_chosen_locale_is_how_amounts_are_shown_and_read_from_then_on(agent_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=123_450, captured=123_450)

    saved = agent_client.post(reverse("preferences"), {"money_locale": "nb"}, follow=True)

    assert f"Saved: you write amounts like 1{NBSP}234,50 now." in saved.content.decode()
    assert Preferences.objects.get(user=agent).money_locale == "nb"
    page = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()
    assert f"<dt>Refundable</dt><dd>1{NBSP}234,50{NBSP}EUR</dd>" in page
    assert f"In EUR, for example 1{NBSP}234,50." in page
    assert 'data-decimal="," data-group="\xa0"' in page
    whole = agent_client.get(reverse("order", args=[payment.order_id]), {"whole": payment.pk}).content.decode()
    assert f'name="refund-{payment.pk}-amount" value="1{NBSP}234,50"' in whole


def test_the_default_follows_money_locale_for_people_who_have_not_chosen(agent_client, make_payment, settings):
    settings.MONEY_LOCALE = "de"
    payment = make_payment("bambora", currency="EUR", amount=123_450, captured=123_450)

    page = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert f"<dt>Refundable</dt><dd>1.234,50{NBSP}EUR</dd>" in page


def test_an_unknown_locale_is_refused_and_nothing_is_saved(agent_client, agent):
    response = agent_client.post(reverse("preferences"), {"money_locale": "xx_<script>"})

    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()
    assert not Preferences.objects.filter(user=agent).exists()


def test_preferences_cost_no_query_of_their_own(agent_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    url = reverse("order", args=[payment.order_id])
    agent_client.get(url)

    def count():
        with CaptureQueriesContext(connection) as captured:
            agent_client.get(url)
        return len(captured.captured_queries)

    without = count()
    Preferences.objects.create(user=agent, money_locale="sv")
    with_preferences = count()

    assert with_preferences == without
