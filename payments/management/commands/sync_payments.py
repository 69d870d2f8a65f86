from collections import Counter
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from payments.models import Payment
from payments.services.audit import Actor
from payments.services.sync import SyncOutcome, payment_sync


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
        if payment:
            payments = Payment.objects.filter(pk__in=payment)
        else:
            since = timezone.now() - timedelta(days=days)
            payments = Payment.objects.filter(Q(synced_at__isnull=True) | Q(created_at__gte=since))
        actor = Actor.system("sync_payments")
        counts = Counter()
        for payment_id in payments.order_by("pk").values_list("pk", flat=True).iterator():
            report = payment_sync(payment_id=payment_id, actor=actor)
            counts[report.outcome] += 1
            for note in report.notes:
                self.stdout.write(f"payment {payment_id}: {note}")
        self.stdout.write(
            f"{counts[SyncOutcome.SYNCED]} payment(s) synced, {counts[SyncOutcome.UNREADABLE]} could not be "
            f"read, {counts[SyncOutcome.DISAGREES]} disagree with their provider."
        )
