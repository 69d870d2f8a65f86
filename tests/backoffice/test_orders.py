"""The desk's pages and actions through Django's test client, against the sandbox."""

import re
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.services.sync import payment_sync
from payments.statuses import OperationStatus
from tests.backoffice.helpers import refund_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_login_is_required(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def opened(order_id, query):
    """The order's page as a search for `query` opens it."""
    return reverse("order", args=[order_id]) + "?" + urlencode({"q": query})


def test_search_by_exact_order_number_opens_the_order(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = agent_client.get(reverse("home"), {"q": payment.order.number})

    assert response.status_code == 302
    assert response.url == opened(payment.order_id, payment.order.number)


def test_search_by_a_2000_character_reference(agent_client, make_payment):
    reference = "r" * 1990 + "/?#&x=1"
    payment = make_payment("bambora", currency="EUR", amount=10_000, reference=reference)

    response = agent_client.get(reverse("home"), {"q": reference})

    assert response.url == opened(payment.order_id, reference)


def test_search_by_email_any_case_lists_orders(agent_client, make_payment):
    first = make_payment("bambora", currency="EUR", customer_email="Kari@Example.com")
    second = make_payment("vipps", customer_email="kari@example.com", at_provider=False)
    make_payment("vipps", customer_email="ola@example.com", at_provider=False)

    response = agent_client.get(reverse("home"), {"q": "KARI@example.COM"})

    assert response.status_code == 200
    numbers = [listed.order.number for listed in response.context["page"].items]
    assert numbers == [second.order.number, first.order.number]


def test_order_page_shows_the_aggregate(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=12_500, captured=10_000)

    response = agent_client.get(reverse("order", args=[payment.order_id]))

    html = response.content.decode()
    for label, value in [("Authorized", "125.00"), ("Captured", "100.00"), ("Refunded", "0.00"), ("Refundable", "100.00")]:
        assert re.search(rf"<dt>{label}</dt><dd>{re.escape(value)}\xa0EUR</dd>", html), label
    # Nothing is refunded by accident: the amount starts empty, the whole amount is one click away.
    amount = re.search(rf'<input type="text" name="refund-{payment.pk}-amount"[^>]*>', html)[0]
    assert "value=" not in amount
    assert re.search(r'<button type="submit" class="refund-submit"><span class="idle">Refund</span>', html)
    whole = agent_client.get(reverse("order", args=[payment.order_id]), {"whole": payment.pk}).content.decode()
    assert f'name="refund-{payment.pk}-amount" value="100.00"' in whole
    assert '<span class="idle">Refund 100.00\xa0EUR</span>' in whole


def test_times_are_shown_in_the_desks_time_zone_and_say_which(agent_client, make_payment, settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # no summer time: the same words all year
    payment = make_payment("bambora", currency="EUR", amount=12_500, captured=10_000)
    placed = timezone.localtime(payment.order.created_at)
    assert placed.utcoffset().total_seconds() == 9 * 3600

    order_page = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()
    home = agent_client.get(reverse("home")).content.decode()

    zone = 'title="Asia/Tokyo time (JST, UTC+09:00)"'
    assert f'<time datetime="{placed.isoformat()}" {zone}>{placed:%Y-%m-%d %H:%M}</time>' in order_page
    assert f'<time datetime="{placed.isoformat()}" {zone}>{placed:%Y-%m-%d %H:%M}</time>' in home
    assert order_page.count("<time ") == order_page.count(zone) == 2  # "Placed" and the timeline's one event
    assert '<dt>Placed <span class="zone">(Asia/Tokyo time)</span></dt>' in order_page
    assert "times in Asia/Tokyo time" in order_page
    assert 'Date <span class="zone">(Asia/Tokyo time)</span>' in home


def test_refund_with_htmx_swaps_the_card(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, "25.00"), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    html = response.content.decode()
    assert "Refunded 25.00\xa0EUR." in html
    assert re.search(r"<dt>Refundable</dt><dd>75.00\xa0EUR</dd>", html)
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 2_500


def test_after_a_request_waits_for_approval_the_card_says_what_needs_approval_once(agent_client, make_payment, sandbox):
    # given: EUR refunds above 500.00 need approval
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)

    # when: a refund above the limit waits for approval
    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, "600.00"), headers={"HX-Request": "true"}
    )

    # then: the card says so; its refund form, empty, says nothing of approval until there is
    # an amount, and then that any further refund needs it
    html = response.content.decode()
    assert "Waiting for approval: the refund of 600.00\xa0EUR is sent once a manager approves it." in html
    refund_form = re.search(r'<form class="refund".*?</form>', html, re.S)[0]
    assert 'data-approval-above="0"' in refund_form
    assert re.search(r'<strong class="needs-approval" hidden>This amount needs a manager’s approval:\s+'
                     r"any refund on this payment does\.\s+It is sent once approved\.</strong>", refund_form)
    assert refund_form.count("manager’s approval") == 1


def test_refund_without_javascript_redirects_with_a_message(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = agent_client.post(reverse("refund", args=[payment.pk]), refund_data(payment, "25.00"), follow=True)

    assert "Refunded 25.00\xa0EUR." in response.content.decode()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.345", "EUR amounts have at most 2 decimals."),
        ("-5", "The amount must be greater than zero."),
        ("1e3", "Enter the amount in digits, for example 1,234.50."),
        ("100.01", "At most 100.00\xa0EUR can be refunded now."),
    ],
)
def test_invalid_refund_input_is_422_and_changes_nothing(agent_client, make_payment, sandbox, amount, message):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, amount), headers={"HX-Request": "true"}
    )

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Operation.objects.filter(payment=payment, kind="refund").exists()
    assert sandbox.requests("bambora") == []


def test_other_reason_needs_a_note(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, "10", reason="other"), headers={"HX-Request": "true"}
    )

    assert response.status_code == 422
    assert "Describe the reason when it is “Other”." in response.content.decode()


def test_the_same_form_sent_twice_refunds_once(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    data = refund_data(payment, "25.00")

    agent_client.post(reverse("refund", args=[payment.pk]), data)
    agent_client.post(reverse("refund", args=[payment.pk]), data)

    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 2_500
    assert Operation.objects.filter(payment=payment, kind="refund").count() == 1


def test_refusal_by_the_provider_shows_its_reason(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR", amount=10_000)

    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, "25.00"), headers={"HX-Request": "true"}
    )

    assert "Not refunded: Bambora refused the refund" in response.content.decode()


def test_unknown_outcome_then_check_with_provider(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")

    response = agent_client.post(
        reverse("refund", args=[payment.pk]), refund_data(payment, "25.00"), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "Outcome unknown." in html
    assert "Check with provider" in html
    assert re.search(r"<dt>Refundable</dt><dd>75.00\xa0EUR</dd>", html)

    response = agent_client.post(reverse("check", args=[payment.pk]), headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "The provider confirms the refund." in html
    assert re.search(r"<dt>Refunded</dt><dd>25.00\xa0EUR</dd>", html)
    assert sandbox.payment(provider="bambora", reference=payment.reference)["operations"] == [
        {"kind": "refund", "amount": 2_500}
    ]


def timeline_of(html):
    """The lines of the timelines on a page, as text (amounts keep their no-break space)."""
    return [
        re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", line)).strip()
        for line in re.findall(r'<li class="event[^"]*">(.*?)</li>', html, re.S)
    ]


@pytest.mark.parametrize(
    "fault, reason",
    [("drop", "The connection to the provider failed."),
     ("error", "Bambora had an internal error (HTTP 500).")],
)
def test_the_timeline_says_the_provider_gave_no_definite_answer(agent_client, make_payment, sandbox, fault, reason):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode=fault)
    agent_client.post(reverse("refund", args=[payment.pk]), refund_data(payment, "20.00"))

    html = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    [line] = [line for line in timeline_of(html) if "Outcome unknown" in line]
    assert "No definite answer from the provider · 20.00\xa0EUR Outcome unknown " + reason in line
    assert "Provider answered" not in line


def test_cancel_asks_for_confirmation_then_cancels(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000)

    confirm = agent_client.get(reverse("cancel", args=[payment.pk]), headers={"HX-Request": "true"})
    html = confirm.content.decode()
    assert "100.00\xa0EUR of the authorization will be released" in html
    key = re.search(r'name="cancel-\d+-idempotency_key" value="([^"]+)"', html)[1]

    response = agent_client.post(
        reverse("cancel", args=[payment.pk]),
        {f"cancel-{payment.pk}-expected_amount": "10000", f"cancel-{payment.pk}-idempotency_key": key},
        headers={"HX-Request": "true"},
    )

    assert "Cancelled: 100.00\xa0EUR released." in response.content.decode()
    assert sandbox.payment(provider="bambora", reference=payment.reference)["cancelled"] == 10_000


def forms_posting_to(html, *urls):
    """The <form> tags of `html` that send to one of `urls`, by plain POST or by htmx."""
    return [
        tag for tag in re.findall(r"<form\b[^>]*>", html)
        if any(f'"{url}"' in tag for url in urls)
    ]


@pytest.fixture
def payment_with_every_action(make_payment, sandbox):
    """Something to refund, to cancel, and a refund of unknown outcome to check."""
    payment = make_payment("vipps", currency="NOK", amount=20_000, captured=11_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="lost_answer")
    unknown = refund_request(payment_id=payment.pk, amount=1_000, reason="goodwill",
                             actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    assert unknown.status == OperationStatus.UNKNOWN
    return payment


def test_an_auditor_reads_but_sees_no_actions(client, auditor, payment_with_every_action):
    payment = payment_with_every_action
    payment_urls = [reverse(name, args=[payment.pk]) for name in ("refund", "cancel", "check")]
    client.force_login(auditor)

    page = client.get(reverse("order", args=[payment.order_id]))
    refund = client.post(reverse("refund", args=[payment.pk]), refund_data(payment, "1"))

    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(r"<dt>Refundable</dt><dd>100.00\xa0NOK</dd>", html)
    assert forms_posting_to(html, *payment_urls) == []
    assert refund.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.REFUND_REQUESTED, actor=auditor).exists()
    assert not Operation.objects.filter(kind="refund", status=OperationStatus.SUCCEEDED).exists()


def hx(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, headers={"HX-Request": "true"})


def form_value(html, name):
    return re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)[1]


def cancel_data(payment, html):
    """What the confirmation shown in `html` sends."""
    prefix = f"cancel-{payment.pk}"
    return {
        f"{prefix}-expected_amount": form_value(html, f"{prefix}-expected_amount"),
        f"{prefix}-idempotency_key": form_value(html, f"{prefix}-idempotency_key"),
    }


def test_search_by_a_reference_of_exactly_2000_characters(agent_client, make_payment):
    reference = ("acme-" + "0123456789" * 200)[:2000]
    payment = make_payment("bambora", currency="EUR", amount=10_000, reference=reference)
    make_payment("bambora", currency="EUR", amount=10_000, reference=reference[:-1] + "x")

    response = agent_client.get(reverse("home"), {"q": reference})

    assert len(reference) == 2000
    assert response.status_code == 302
    assert response.url == opened(payment.order_id, reference)


def test_a_pending_refund_says_the_provider_confirms_it_later(agent_client, make_payment, sandbox):
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="optty", reference=payment.reference, currency="AUD",
                           amount=10_000, captured=10_000, pending_refunds=True)

    response = hx(agent_client, "post", reverse("refund", args=[payment.pk]), refund_data(payment, "40.00"))

    html = response.content.decode()
    assert response.status_code == 200
    assert ("The provider accepted the refund of 40.00\xa0AUD and will confirm it later; "
            "the amount stays reserved meanwhile.") in html
    assert re.search(r"<dt>Refunded</dt><dd>0.00\xa0AUD</dd>", html)
    assert re.search(r"<dt>Refundable</dt><dd>60.00\xa0AUD</dd>", html)
    assert Operation.objects.get(payment=payment, kind="refund").status == OperationStatus.PENDING


def test_a_cancel_refused_by_the_provider_shows_its_reason(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="cancel", mode="status", status=400,
                         message="The authorization has already expired.")
    confirm = hx(agent_client, "get", reverse("cancel", args=[payment.pk])).content.decode()

    response = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), cancel_data(payment, confirm))

    html = response.content.decode()
    assert "Not cancelled: " in html
    assert "The authorization has already expired." in html
    assert re.search(r"<dt>Cancelled</dt><dd>0.00\xa0EUR</dd>", html)
    assert sandbox.payment(provider="bambora", reference=payment.reference)["cancelled"] == 0
    assert Operation.objects.get(payment=payment, kind="cancel").status == OperationStatus.FAILED


def test_a_cancel_with_unknown_outcome_keeps_the_amount_reserved(agent_client, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="cancel", mode="lost_answer")
    confirm = hx(agent_client, "get", reverse("cancel", args=[payment.pk])).content.decode()

    response = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), cancel_data(payment, confirm))

    html = response.content.decode()
    assert "Outcome unknown." in html
    assert "Check with provider" in html
    assert "Cancel payment" not in html  # its amount is held back: nothing is left to cancel
    assert Operation.objects.get(payment=payment, kind="cancel").status == OperationStatus.UNKNOWN


def test_a_stale_cancel_shows_the_new_amount_and_the_next_confirmation_works(agent_client, make_payment, sandbox):
    # given: the confirmation shown for 1,000 NOK, then the shop captured 400 NOK
    payment = make_payment("vipps", currency="NOK", amount=100_000)
    confirm = hx(agent_client, "get", reverse("cancel", args=[payment.pk])).content.decode()
    sandbox.portal(provider="vipps", reference=payment.reference, kind="capture", amount=40_000)
    payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))

    # when
    stale = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), cancel_data(payment, confirm))

    # then
    html = stale.content.decode()
    assert stale.status_code == 422
    assert "The amount to release has changed to 600.00\xa0NOK; check it and confirm again." in html
    assert "600.00\xa0NOK of the authorization will be released" in html
    assert not Operation.objects.filter(payment=payment, kind="cancel").exists()

    again = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), cancel_data(payment, html))

    assert "Cancelled: 600.00\xa0NOK released." in again.content.decode()
    assert sandbox.payment(provider="vipps", reference=payment.reference)["cancelled"] == 60_000


def test_cancel_on_a_stale_card_answers_the_card_with_a_notice(agent_client, make_payment):
    # The card offered "Cancel payment" before the payment was captured in full.
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    response = hx(agent_client, "get", reverse("cancel", args=[payment.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<section class="card payment" id="payment-{payment.pk}"')
    assert "Nothing can be cancelled on this payment now." in html
    assert "<html" not in html
    assert "HX-Trigger" not in response  # nothing changed


@pytest.mark.parametrize("key", ["bo-not-a-key", "", "bo-" + "0" * 60])
def test_a_damaged_refund_form_says_so_and_comes_back_renewed(agent_client, make_payment, sandbox, key):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    data = refund_data(payment, "25.00")
    data[f"refund-{payment.pk}-idempotency_key"] = key

    refused = hx(agent_client, "post", reverse("refund", args=[payment.pk]), data)

    html = refused.content.decode()
    assert refused.status_code == 422
    assert re.search(r'<div class="errors" role="alert"[^>]*>\s*<ul class="errorlist">\s*<li>'
                     r"This form arrived damaged, so nothing was done\.", html)
    assert not Operation.objects.filter(payment=payment, kind="refund").exists()
    assert sandbox.requests("bambora") == []
    renewed = form_value(html, f"refund-{payment.pk}-idempotency_key")
    assert renewed != key and re.fullmatch(r"bo-[0-9a-f]{32}", renewed)
    assert form_value(html, f"refund-{payment.pk}-amount") == "25.00"  # what the agent typed stays

    sent_again = hx(agent_client, "post", reverse("refund", args=[payment.pk]),
                    {**data, f"refund-{payment.pk}-idempotency_key": renewed})

    assert "Refunded 25.00\xa0EUR." in sent_again.content.decode()
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 2_500


def test_a_refused_refund_comes_back_with_a_new_key(agent_client, make_payment, sandbox):
    # A key already used for another refund: the agent can still correct and send the form.
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    used = refund_data(payment, "10.00")
    hx(agent_client, "post", reverse("refund", args=[payment.pk]), used)

    refused = hx(agent_client, "post", reverse("refund", args=[payment.pk]),
                 {**used, f"refund-{payment.pk}-amount": "20.00"})

    html = refused.content.decode()
    assert refused.status_code == 422
    assert "This form has already been used." in html
    renewed = form_value(html, f"refund-{payment.pk}-idempotency_key")
    assert renewed != used[f"refund-{payment.pk}-idempotency_key"]
    hx(agent_client, "post", reverse("refund", args=[payment.pk]),
       {**used, f"refund-{payment.pk}-amount": "20.00", f"refund-{payment.pk}-idempotency_key": renewed})
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 3_000


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("idempotency_key", "tampered", "This form arrived damaged, so nothing was done."),
        ("expected_amount", "lots", "The amount to release was missing from the confirmation"),
        ("expected_amount", "", "The amount to release was missing from the confirmation"),
    ],
)
def test_a_damaged_cancel_confirmation_says_so_and_comes_back_renewed(
    agent_client, make_payment, sandbox, field, value, message
):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    confirm = hx(agent_client, "get", reverse("cancel", args=[payment.pk])).content.decode()
    data = {**cancel_data(payment, confirm), f"cancel-{payment.pk}-{field}": value}

    refused = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), data)

    html = refused.content.decode()
    assert refused.status_code == 422
    assert re.search(r'<div class="errors" role="alert"[^>]*>\s*<ul class="errorlist">\s*<li>'
                     + re.escape(message), html)
    assert "100.00\xa0EUR of the authorization will be released" in html
    assert not Operation.objects.filter(payment=payment, kind="cancel").exists()
    assert sandbox.requests("bambora") == []
    renewed = cancel_data(payment, html)
    assert renewed[f"cancel-{payment.pk}-idempotency_key"] != data[f"cancel-{payment.pk}-idempotency_key"]
    assert renewed[f"cancel-{payment.pk}-expected_amount"] == "10000"

    confirmed = hx(agent_client, "post", reverse("cancel", args=[payment.pk]), renewed)

    assert "Cancelled: 100.00\xa0EUR released." in confirmed.content.decode()
    assert sandbox.payment(provider="bambora", reference=payment.reference)["cancelled"] == 10_000


def test_a_requester_withdraws_their_request_from_the_order_page(agent_client, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    hx(agent_client, "post", reverse("refund", args=[payment.pk]), refund_data(payment, "600.00"))
    request = Operation.objects.get(payment=payment, kind="refund")
    page = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()
    assert f'hx-post="{reverse("withdraw", args=[request.pk])}"' in page

    response = hx(agent_client, "post", reverse("withdraw", args=[request.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    assert "Your refund request was withdrawn; its amount is available again." in html
    assert re.search(r"<dt>Refundable</dt><dd>1,000.00\xa0EUR</dd>", html)
    assert "Withdraw request" not in html
    request.refresh_from_db()
    assert request.status == OperationStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action=AuditAction.REFUND_WITHDRAWN, actor=agent).exists()
    assert sandbox.requests("bambora") == []


def test_an_agent_is_offered_the_actions_an_auditor_is_not(agent_client, payment_with_every_action):
    # The other side of the auditor's test: the same page has the forms for an agent.
    payment = payment_with_every_action

    html = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    for name in ("refund", "cancel", "check"):
        assert len(forms_posting_to(html, reverse(name, args=[payment.pk]))) == 1, name


def test_search_by_a_name_lists_the_orders_with_what_waits_on_each_payment(agent_client, agent, make_payment, settings):
    # given: two orders of Åse Ødegård, one with a refund waiting for approval
    settings.REFUND_APPROVAL_LIMITS = {}
    waiting = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, customer_name="Åse Ødegård",
                           at_provider=False)
    make_payment("vipps", currency="NOK", amount=50_000, customer_name="Åse Ødegård", at_provider=False)
    make_payment("vipps", currency="NOK", amount=50_000, customer_name="Ola Hansen", at_provider=False)
    refund_request(payment_id=waiting.pk, amount=60_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())

    # when
    response = agent_client.get(reverse("home"), {"q": "ase ODEG"})

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("Åse Ødegård") == 2 and "Ola Hansen" not in html
    assert re.search(r'<span class="badge badge-waiting-for-approval">waiting for approval 600.00\xa0NOK</span>', html)
    assert html.count("waiting for approval") == 1
    # the search box keeps the query, and each order opens with it
    assert 'value="ase ODEG"' in html
    assert f'href="{reverse("order", args=[waiting.order_id])}?q=ase%20ODEG"' in html


def test_an_order_opened_from_a_search_keeps_the_query_and_marks_its_first_action(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)

    opened_page = agent_client.get(reverse("order", args=[payment.order_id]), {"q": "kari nord"}).content.decode()
    plain_page = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert 'value="kari nord"' in opened_page
    assert "data-focus-first-action" in opened_page
    assert "data-focus-first-action" not in plain_page


def test_the_history_shows_each_refunds_reason_and_note_and_the_managers_note(agent_client, agent, manager,
                                                                            make_payment, settings):
    from payments.services.refunds import refund_reject

    settings.REFUND_APPROVAL_LIMITS = {}
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    request = refund_request(payment_id=payment.pk, amount=60_000, reason="other", note="Box was crushed",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Ask for a photo first")

    html = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    history = html[html.index('class="history"'):]
    assert "Reason: Other: “Box was crushed”" in history
    assert "Ask for a photo first" in history


def history_is_open(html, payment):
    details = re.search(rf'<details class="history" id="payment-{payment.pk}-history"[^>]*>', html)[0]
    return " open>" in details


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "without JavaScript"])
def test_a_long_history_is_open_on_what_just_happened(agent_client, agent, make_payment, sandbox, htmx):
    # given: a payment whose history is long enough to be shown closed
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    for _ in range(3):
        refund_request(payment_id=payment.pk, amount=200, reason="goodwill", actor=Actor.of_user(agent),
                       idempotency_key=new_idempotency_key())
    assert not history_is_open(agent_client.get(reverse("order", args=[payment.order_id])).content.decode(), payment)

    # when: the agent refunds once more
    response = agent_client.post(reverse("refund", args=[payment.pk]), refund_data(payment, "1.00"),
                                 headers={"HX-Request": "true"} if htmx else {}, follow=not htmx)

    # then: the card's history is open, ending with this refund
    html = response.content.decode()
    assert history_is_open(html, payment)
    history = html[html.index(f'id="payment-{payment.pk}-history"'):]
    assert re.findall(r"· (\d+\.\d\d)\xa0EUR", history)[-1] == "1.00"


@pytest.mark.django_db(transaction=True)
def test_check_with_provider_sends_one_operation_again_and_leaves_the_rest_to_the_background(
    client, agent, make_payment, sandbox, settings, clock
):
    # given: three refunds that SimplePS never got (after an outage), their calls long over
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="error", status=503, times=3)
    unknown = [
        refund_request(payment_id=payment.pk, amount=amount, reason="goodwill", actor=Actor.of_user(agent),
                       idempotency_key=new_idempotency_key())
        for amount in (1_000, 2_000, 3_000)
    ]
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    sandbox.clear_requests()
    client.force_login(agent)

    # when: the agent checks with the provider
    response = client.post(reverse("check", args=[payment.pk]), headers={"HX-Request": "true"})

    # then: the request read the payment once and sent one refund again: it ends within two
    # calls' time; the agent is told the others are sent by the background check
    calls = [(r["method"], r["endpoint"]) for r in sandbox.requests("simpleps") if r["endpoint"] != "token"]
    assert calls == [("GET", "fetch"), ("POST", "refund")]
    html = response.content.decode()
    assert "The provider never received the refund; it was sent again: succeeded." in html
    assert html.count("The provider never received the refund; the background check sends it again in a moment.") == 2

    # when: the background check runs
    call_command("worker", batch=True)

    # then: every refund was carried out once, each sent twice in all
    for operation in unknown:
        operation.refresh_from_db()
        assert operation.status == OperationStatus.SUCCEEDED
    at_provider = sandbox.payment(provider="simpleps", reference=payment.reference)
    assert sorted(op["amount"] for op in at_provider["operations"]) == [1_000, 2_000, 3_000]
    assert [r["endpoint"] for r in sandbox.requests("simpleps")].count("refund") == 3
    call_command("check_ledger")
