from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments ledger"

    def ready(self) -> None:
        from payments import checks  # noqa: F401  (registers the checks)
        from payments.services import account_audit

        account_audit.connect()
