from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments ledger"

    def ready(self):
        from payments import checks  # noqa: F401  (registers the checks)
