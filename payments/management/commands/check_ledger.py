from django.core.management.base import BaseCommand, CommandError

from payments.money import format_money
from payments.selectors import ledger_mismatches


class Command(BaseCommand):
    help = (
        "Check that every payment's aggregate (captured, cancelled, refunded) equals the sum of "
        "its settled operations. Exits non-zero, naming the payments, when one does not."
    )

    def handle(self, *args, **options):
        mismatches = 0
        for payment in ledger_mismatches().iterator():
            mismatches += 1
            differences = [
                f"{name} {format_money(getattr(payment, name), payment.currency)} in the "
                f"aggregate, {format_money(getattr(payment, f'ledger_{name}'), payment.currency)} "
                "in the ledger"
                for name in ("captured", "cancelled", "refunded")
                if getattr(payment, name) != getattr(payment, f"ledger_{name}")
            ]
            self.stderr.write(
                f"Payment {payment.pk} (order {payment.order.number}, {payment.provider} "
                f"{payment.reference[:60]}): " + "; ".join(differences)
            )
        if mismatches:
            raise CommandError(f"{mismatches} payment(s) disagree with their ledger.")
        self.stdout.write("Every payment's aggregate equals its ledger.")
