"""SimplePS adapter: being written (see issue 3)."""

from payments.providers.base import PaymentProvider


class SimplePS(PaymentProvider):
    code = "simpleps"
    name = "SimplePS"
    cancels_after_capture = False
    secret_settings = ("secret_id",)

    def refund(self, modification):
        raise NotImplementedError

    def cancel(self, modification):
        raise NotImplementedError

    def fetch(self, reference):
        raise NotImplementedError
