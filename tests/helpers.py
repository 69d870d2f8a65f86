"""Helpers shared by test modules of several folders (fixtures live in the conftest files)."""

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

# A currency each provider takes.
CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}
# What tests/settings.py configures as secrets, and what the bad-credentials tests put instead.
SECRET_SETTINGS = {
    "bambora": ("merchant_token", "merchant_secret"),
    "optty": ("client_secret",),
    "simpleps": ("secret_id",),
    "vipps": ("client_secret", "subscription_key"),
}
WRONG_SECRET = "wrong-secret-4711"


def break_credentials(settings, provider):
    for name in SECRET_SETTINGS[provider]:
        settings.PROVIDERS[provider][name] = WRONG_SECRET


def refund(payment, amount=2_500):
    """A refund the system asks for, with a fresh key."""
    return refund_request(
        payment_id=payment.pk, amount=amount, reason="customer_request",
        actor=Actor.system("tests"), idempotency_key=new_idempotency_key(),
    )


def bambora_read_without_refunds(payment):
    """Bambora's published GET of a payment (PaymentResponse): no `refunds` list."""
    return {
        "payment": payment.reference, "state": "Captured", "currency": payment.currency,
        "amount": payment.authorized, "captures": [{"amount": payment.captured}],
    }
