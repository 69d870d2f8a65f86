"""Vipps MobilePay simulator: being written (see issue 3)."""

from payments.sandbox.base import Simulator
from payments.sandbox.server import SandboxResponse


class VippsSimulator(Simulator):
    code = "vipps"

    def reset(self):
        self.payments = {}

    def endpoint_name(self, request):
        return "other"

    def handle(self, request):
        return self.error_response(501, "not simulated yet")

    def error_response(self, status, message):
        return SandboxResponse(status, {"message": message})

    def create_payment(
        self, *, reference, currency, amount, captured=0, refunded=0, cancelled=0, **options
    ):
        self.payments[reference] = {"currency": currency, "amount": amount, "captured": captured}
        return self.payment_view(reference)

    def portal(self, *, reference, kind, amount):
        raise NotImplementedError

    def payment_view(self, reference):
        return self.payments.get(reference)

    def snapshot(self):
        return dict(self.payments)

    def restore(self, data):
        self.payments = dict(data)
