"""A requester's side: "My requests", the decisions shown once, and withdrawing a request from
there or from the payment's card."""

import re

import pytest
from django.urls import reverse

from payments.models import Operation
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_reject, refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def payment(make_payment, settings):
    settings.REFUND_APPROVAL_LIMITS = {}  # every refund needs approval
    return make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)


def ask(payment, user, amount=60_000, note=""):
    return refund_request(payment_id=payment.pk, amount=amount, reason="other" if note else "goodwill", note=note,
                          actor=Actor.of_user(user), idempotency_key=new_idempotency_key())


def test_my_requests_lists_each_request_with_its_state_and_the_managers_note(agent_client, agent, manager, payment):
    rejected = ask(payment, agent, 30_000, note="Box crushed")
    refund_reject(operation_id=rejected.pk, actor=Actor.of_user(manager), note="Ask for a photo first")
    waiting = ask(payment, agent, 20_000)

    html = agent_client.get(reverse("my_requests")).content.decode()

    rows = re.findall(r'<li class="card request" id="request-(\d+)".*?</li>', html, re.S)
    assert rows == [str(waiting.pk), str(rejected.pk)]
    waiting_row, rejected_row = re.findall(r'<li class="card request".*?</li>', html, re.S)
    assert "Waiting for approval" in waiting_row and "Withdraw request" in waiting_row
    assert "Rejected" in rejected_row and "manager wrote: “Ask for a photo first”" in rejected_row
    assert "Other: “<bdi>Box crushed</bdi>”" in rejected_row
    assert "Withdraw request" not in rejected_row


def test_the_navigation_offers_my_requests_to_those_who_may_refund(client, agent, manager, auditor):
    for user, offered in ((agent, True), (manager, True), (auditor, False)):
        client.force_login(user)
        html = client.get(reverse("home")).content.decode()
        assert (f'<a href="{reverse("my_requests")}"' in html) is offered, user
        assert ('id="decision-notices"' in html) is offered, user


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "without JavaScript"])
def test_withdrawing_on_my_requests_stays_there(agent_client, agent, payment, htmx):
    waiting = ask(payment, agent)

    response = agent_client.post(reverse("withdraw", args=[waiting.pk]), {"return_to": "my_requests"},
                                 headers={"HX-Request": "true"} if htmx else {}, follow=not htmx)

    html = response.content.decode()
    assert "Your refund request was withdrawn; its amount is available again." in html
    row = re.search(rf'<li class="card request" id="request-{waiting.pk}".*?</li>', html, re.S)[0]
    assert "Withdrawn" in row and "Withdraw request" not in row
    assert Operation.objects.get(pk=waiting.pk).status == OperationStatus.WITHDRAWN
    if not htmx:
        assert response.redirect_chain[-1][0] == reverse("my_requests") + f"#request-{waiting.pk}"


def test_withdrawing_on_my_requests_what_is_no_longer_waiting_says_why(agent_client, agent, manager, payment):
    request = ask(payment, agent)
    refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="No")

    response = agent_client.post(reverse("withdraw", args=[request.pk]), {"return_to": "my_requests"},
                                 headers={"HX-Request": "true"})

    assert "This request is no longer waiting for approval: it is rejected." in response.content.decode()


def test_withdrawing_a_request_that_does_not_exist_is_404(agent_client):
    assert agent_client.post(reverse("withdraw", args=[999_999]), {"return_to": "my_requests"}).status_code == 404


def test_the_card_offers_withdraw_to_the_requester_only(client, agent, make_user, payment):
    waiting = ask(payment, agent)
    order_page = reverse("order", args=[payment.order_id])

    client.force_login(agent)
    mine = client.get(order_page).content.decode()
    client.force_login(make_user(group="Support agents"))
    theirs = client.get(order_page).content.decode()

    card_part = mine[mine.index(f'id="request-{waiting.pk}-on-card"'):mine.index('class="history"')]
    assert "Refund of 600.00\xa0NOK asked for by you." in card_part and "Withdraw request" in card_part
    assert "asked for by agent." in theirs and "Withdraw request" not in theirs


def test_withdrawing_on_the_card_gives_the_card_back(agent_client, agent, payment):
    waiting = ask(payment, agent)

    response = agent_client.post(reverse("withdraw", args=[waiting.pk]), headers={"HX-Request": "true"})

    html = response.content.decode()
    assert f'<section class="card payment" id="payment-{payment.pk}"' in html
    assert re.search(r"<dt>Refundable</dt><dd>1,000.00\xa0NOK</dd>", html)
    assert "Withdraw request" not in html


def test_a_decision_is_shown_at_the_next_page_once(client, agent, manager, payment):
    request = ask(payment, agent)
    refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Ask for a photo first")
    client.force_login(agent)

    first = client.get(reverse("decision_notices"), headers={"HX-Request": "true"})
    again = client.get(reverse("decision_notices"), headers={"HX-Request": "true"})

    assert first.status_code == 200
    html = first.content.decode()
    assert f"Your refund of 600.00\xa0NOK on order <bdi>{payment.order.number}</bdi>: <strong>rejected</strong>." in html
    assert "manager wrote: “Ask for a photo first”" in html
    assert f'href="{reverse("my_requests")}#request-{request.pk}"' in html
    assert again.status_code == 204 and again.content == b""


def test_what_people_wrote_is_isolated_so_that_it_cannot_reorder_the_page(agent_client, agent, manager, payment):
    # given: notes stored before the desk refused bidirectional overrides
    rejected = ask(payment, agent, 30_000, note="Box crushed")
    refund_reject(operation_id=rejected.pk, actor=Actor.of_user(manager), note="Ask for a photo first")
    Operation.objects.filter(pk=rejected.pk).update(note="Box \u202edehsurc", decision_note="No \u202eotohp")

    html = agent_client.get(reverse("my_requests")).content.decode()

    assert "Other: “<bdi>Box \u202edehsurc</bdi>”" in html
    assert "<bdi>manager wrote: “No \u202eotohp”</bdi>" in html
    assert f"order <bdi>{payment.order.number}</bdi>" in html
