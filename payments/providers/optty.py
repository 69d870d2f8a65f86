"""Optty adapter: being written (see issue 3)."""

from payments.providers.base import PaymentProvider


class Optty(PaymentProvider):
    code = "optty"
    name = "Optty"
    cancels_after_capture = True
    secret_settings = ("client_secret",)

    def refund(self, modification):
        raise NotImplementedError

    def cancel(self, modification):
        raise NotImplementedError

    def fetch(self, reference):
        raise NotImplementedError
