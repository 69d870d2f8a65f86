"""Vipps MobilePay adapter: being written (see issue 3)."""

from payments.providers.base import PaymentProvider


class Vipps(PaymentProvider):
    code = "vipps"
    name = "Vipps MobilePay"
    cancels_after_capture = True
    secret_settings = ("client_secret", "subscription_key",)

    def refund(self, modification):
        raise NotImplementedError

    def cancel(self, modification):
        raise NotImplementedError

    def fetch(self, reference):
        raise NotImplementedError
