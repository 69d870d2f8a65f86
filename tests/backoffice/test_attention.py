"""The "Needs attention" page, the needs-a-person block on the order page, and a manager's
decision through either, with htmx and without JavaScript."""

import re

import pytest
from django.urls import reverse

from payments.models import AuditAction, AuditEvent
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]


@pytest.fixture
def operation(needing_person, agent):
    return needing_person(agent)


def decision(operation, choice, note="Checked the portal: the refund is there.", return_to="attention"):
    prefix = f"resolve-{operation.pk}"
    return {f"{prefix}-decision": choice, f"{prefix}-note": note, f"{prefix}-return_to": return_to}


def text(html):
    # <bdi> isolates user text within a line: it is no break between words
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"</?bdi>", "", html)))


def test_the_page_lists_the_operation_with_what_the_provider_last_said(client, manager, operation):
    client.force_login(manager)

    html = client.get(reverse("needs_attention")).content.decode()

    row = re.search(rf'<li class="card approval" id="attention-{operation.pk}".*?</li>', html, re.S)[0]
    assert f"Refund of 25.00\xa0EUR on order {operation.payment.order.number}" in text(row)
    assert "The provider last said The provider’s answer does not show its refunds" in text(row)
    assert "Requested by agent" in text(row)
    assert f'<label for="resolve-{operation.pk}-note">Note</label>' in row
    assert ">Carried out at the provider</button>" in row and ">Did not happen</button>" in row
    assert f'<a href="{reverse("needs_attention")}" aria-current="page">Needs attention</a>' in html


def test_the_requester_sees_it_but_cannot_resolve_it(client, needing_person, manager):
    own = needing_person(manager)
    client.force_login(manager)

    html = client.get(reverse("needs_attention")).content.decode()

    assert "You asked for this refund: another manager has to resolve it." in html
    assert reverse("resolve", args=[own.pk]) not in html


def test_nothing_to_do(client, manager):
    client.force_login(manager)

    html = client.get(reverse("needs_attention")).content.decode()

    assert "Nothing needs attention" in html


def test_resolving_from_the_list_with_htmx_swaps_the_row(client, manager, operation, sandbox):
    client.force_login(manager)

    response = client.post(reverse("resolve", args=[operation.pk]), decision(operation, "carried_out"),
                           headers={"HX-Request": "true"})

    html = response.content.decode()
    operation.refresh_from_db()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<li class="card approval decided" id="attention-{operation.pk}">')
    assert f"Order {operation.payment.order.number}: the refund of 25.00\xa0EUR is booked as carried out." in html
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.decision_note == "Checked the portal: the refund is there."


def test_resolving_without_javascript_goes_back_to_the_list(client, manager, operation):
    client.force_login(manager)

    response = client.post(reverse("resolve", args=[operation.pk]),
                           decision(operation, "did_not_happen", note="Not in the portal."), follow=True)

    operation.refresh_from_db()
    assert response.redirect_chain == [(reverse("needs_attention"), 302)]
    assert "is booked as not done; its amount is released." in response.content.decode()
    assert operation.status == OperationStatus.FAILED


def test_a_decision_without_a_note_is_refused_in_place(client, manager, operation):
    client.force_login(manager)

    response = client.post(reverse("resolve", args=[operation.pk]), decision(operation, "carried_out", note=""),
                           headers={"HX-Request": "true"})

    html = response.content.decode()
    operation.refresh_from_db()
    assert response.status_code == 422
    assert html.lstrip().startswith(f'<li class="card approval" id="attention-{operation.pk}"')
    assert "Write a note saying what the provider’s portal shows." in html
    assert ">Carried out at the provider</button>" in html
    assert operation.status == OperationStatus.UNKNOWN


def test_a_forged_decision_on_ones_own_request_is_403_and_audited(client, needing_person, manager):
    own = needing_person(manager)
    client.force_login(manager)

    response = client.post(reverse("resolve", args=[own.pk]), decision(own, "did_not_happen"),
                           headers={"HX-Request": "true"})

    own.refresh_from_db()
    assert response.status_code == 403
    assert own.status == OperationStatus.UNKNOWN
    assert AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED).actor == manager


def test_the_order_page_shows_it_and_a_manager_resolves_it_there(client, manager, operation):
    client.force_login(manager)
    order_url = reverse("order", args=[operation.payment.order_id])

    page = client.get(order_url).content.decode()
    response = client.post(reverse("resolve", args=[operation.pk]),
                           decision(operation, "carried_out", return_to="order"), headers={"HX-Request": "true"})

    assert "Needs a person: the refund of 25.00\xa0EUR asked for by agent." in text(page)
    assert "The provider last said: The provider’s answer does not show its refunds" in text(page)
    card = response.content.decode()
    assert response.status_code == 200
    assert card.lstrip().startswith(f'<section class="card payment" id="payment-{operation.payment_id}"')
    assert "is booked as carried out" in card
    assert "Needs a person:" not in card
    assert "Resolved by a person" in card  # its history says who decided, and how


def test_an_agent_sees_it_on_the_order_page_without_the_decision(client, agent, operation):
    client.force_login(agent)

    page = client.get(reverse("order", args=[operation.payment.order_id])).content.decode()

    assert "Needs a person: the refund of 25.00" in text(page)
    assert "A manager resolves it after checking the payment in the provider’s portal." in page
    assert reverse("resolve", args=[operation.pk]) not in page
    assert "Needs attention" not in page


@pytest.mark.parametrize("note", ["Refund is there \u202e.lairetam", "Line one\nBcc: all", "Seen\x00"])
def test_a_note_that_would_read_otherwise_than_it_is_is_refused_and_nothing_decided(client, manager, operation, note):
    client.force_login(manager)

    response = client.post(reverse("resolve", args=[operation.pk]), decision(operation, "did_not_happen", note=note),
                           headers={"HX-Request": "true"})

    operation.refresh_from_db()
    assert response.status_code == 422
    assert re.search(r"The note was not taken: (Must not contain control or invisible characters|Null characters)",
                     response.content.decode())
    assert (operation.status, operation.decision_note) == (OperationStatus.UNKNOWN, "")
    assert not AuditEvent.objects.filter(action=AuditAction.OPERATION_RESOLVED).exists()


def test_the_order_page_isolates_what_the_provider_and_people_wrote(client, manager, operation):
    type(operation).objects.filter(pk=operation.pk).update(last_check="Refunds \u202edenwohs ton")
    client.force_login(manager)

    html = client.get(reverse("order", args=[operation.payment.order_id])).content.decode()

    assert "The provider last said: <bdi>Refunds \u202edenwohs ton</bdi>" in html
    assert "asked for by <bdi>agent</bdi>" in html


def test_the_lists_show_the_payment_needs_a_person_with_its_amount(client, agent, operation, make_payment):
    make_payment("vipps", customer_email=operation.payment.order.customer_email, at_provider=False)
    client.force_login(agent)

    newest = client.get(reverse("home")).content.decode()
    found = client.get(reverse("home"), {"q": operation.payment.order.customer_email}).content.decode()

    for html in (newest, found):
        assert '<span class="badge badge-needs-a-person">needs a person 25.00\xa0EUR</span>' in html
        assert "outcome unknown" not in html


def test_the_page_isolates_what_the_provider_and_people_wrote(client, manager, operation):
    type(operation).objects.filter(pk=operation.pk).update(last_check="Refunds \u202edenwohs ton")
    client.force_login(manager)

    html = client.get(reverse("needs_attention")).content.decode()

    row = re.search(rf'<li class="card approval" id="attention-{operation.pk}".*?</li>', html, re.S)[0]
    assert f"order <bdi>{operation.payment.order.number}</bdi>" in row
    assert f"<code><bdi>{operation.payment.reference}</bdi></code>" in row
    assert "<dt>Requested by</dt><dd><bdi>agent</bdi></dd>" in row
    assert "<dt>The provider last said</dt><dd><bdi>Refunds \u202edenwohs ton</bdi>" in row
