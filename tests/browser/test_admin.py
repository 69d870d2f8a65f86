"""The auditors' admin in a real browser: its lists fit the screens people have."""

import pytest

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_reject, refund_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_operations_list_fits_a_1366_pixel_screen(page, log_in, make_user, auditor, make_payment, settings,
                                                    screenshot):
    # given: operations with long values in every column: a long order number, people with
    # long names, statuses and sources with the longest labels
    settings.REFUND_APPROVAL_LIMITS = {}
    requester = make_user("a.very-long-username.of-an-agent", group="Support agents")
    decider = make_user("a.very-long-username.of-a-manager", group="Managers")
    payment = make_payment("bambora", currency="EUR", amount=1_234_567_89, captured=1_234_567_89,
                           at_provider=False)
    for _ in range(3):
        request = refund_request(payment_id=payment.pk, amount=1_000_000_00, reason="goodwill",
                                 actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
        refund_reject(operation_id=request.pk, actor=Actor.of_user(decider), note="No")
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(auditor)

    # when
    page.goto("/admin/payments/operation/")
    screenshot("admin-operations-1366")

    # then: neither the page nor the list scrolls sideways; every column is in view
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    results = page.locator("#changelist .results")
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth"), results.evaluate(
        "box => [box.scrollWidth, box.clientWidth]"
    )
