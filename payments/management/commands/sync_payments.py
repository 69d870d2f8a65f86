from django.core.management.base import BaseCommand

from payments.services.audit import Actor
from payments.services.sync import SyncOutcome, payments_sync


class Command(BaseCommand):
    help = (
        "Compare payments with their providers: reconcile what is unresolved, take in what is "
        "not yet synced, and record money moved outside the back office (in a provider's "
        "portal) as external operations."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            help="Sync payments created in the last DAYS days, and every payment never synced "
            "(default 30).",
        )
        parser.add_argument("--payment", type=int, action="append", help="Sync this payment id.")

    def handle(self, *args, days, payment, **options):
        def report(sync_report):
            for note in sync_report.notes:
                self.stdout.write(f"payment {sync_report.payment.pk}: {note}")

        counts = payments_sync(days=days, actor=Actor.system("sync_payments"), payment_ids=payment, report=report)
        busy = counts[SyncOutcome.BUSY]
        self.stdout.write(
            f"{counts[SyncOutcome.SYNCED]} payment(s) synced, {counts[SyncOutcome.UNREADABLE]} could not be "
            f"read, {counts[SyncOutcome.DISAGREES]} disagree with their provider."
            + (f" {busy} were being checked by another process, for the next sync." if busy else "")
        )
