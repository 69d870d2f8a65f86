"""A payment's history as the order page writes it (backoffice/templatetags/timeline.py): every
part of an event, and text from people and providers escaped."""

import re

import pytest
from django.urls import reverse

from payments.models import AuditAction, AuditEvent
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

HOSTILE = "<b>Box</b> & \"lid\" 'gone'"


def events_of(html):
    return re.findall(r'<li class="event[^"]*">.*?</li>', html, re.S)


def test_each_event_says_when_who_what_how_much_and_why_with_outside_text_escaped(
    client, make_user, make_payment, settings
):
    settings.REFUND_APPROVAL_LIMITS = {}
    agent = make_user("<i>agent</i>", group="Support agents")
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    request = refund_request(
        payment_id=payment.pk,
        amount=60_000,
        reason="other",
        note=HOSTILE,
        actor=Actor.of_user(agent),
        idempotency_key=new_idempotency_key(),
    )
    AuditEvent.objects.create(
        action=AuditAction.PROVIDER_ANSWERED,
        actor_label="Vipps <api>",
        order=payment.order,
        payment=payment,
        operation=request,
        message="It's <done>",
        after={"status": "succeeded"},
    )
    client.force_login(agent)

    html = client.get(reverse("order", args=[payment.order_id])).content.decode()

    [requested] = [event for event in events_of(html) if "event-refundrequested" in event]
    assert '<span class="actor"><bdi>&lt;i&gt;agent&lt;/i&gt;</bdi></span>' in requested
    assert "600.00\xa0NOK" in requested
    assert "Reason: Other: “&lt;b&gt;Box&lt;/b&gt; &amp; &quot;lid&quot; &#x27;gone&#x27;”" in requested
    assert re.search(r'<time datetime="[^"]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time>', requested)
    [answered] = [event for event in events_of(html) if "Vipps &lt;api&gt;" in event]
    assert '<span class="badge badge-succeeded">Succeeded</span>' in answered
    assert '<span class="message"><bdi>It’s &lt;done&gt;</bdi></span>' in answered
    assert "<b>" not in html.split('class="timeline"', 1)[1] and "<api>" not in html and "<done>" not in html
