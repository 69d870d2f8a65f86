from django.core.management.base import BaseCommand

from payments.services.audit import Actor
from payments.services.reconcile import reconcile_all
from payments.services.refunds import refunds_expire


class Command(BaseCommand):
    help = (
        "Resolve operations whose outcome is unknown or pending (and those in flight for longer "
        "than a call can take) by reading each provider, and expire refund requests that waited "
        "too long for approval. Safe to run at any time, e.g. every few minutes from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            help="Seconds after which an operation still in flight counts as abandoned "
            "(default: three provider timeouts, at least a minute).",
        )

    def handle(self, *args, stale_after, **options):
        actor = Actor.system("reconcile")
        expired = refunds_expire(actor=actor)
        if expired:
            self.stdout.write(f"{expired} refund request(s) expired.")
        findings = reconcile_all(actor=actor, stale_after=stale_after)
        for finding in findings:
            operation = finding.operation
            self.stdout.write(
                f"{'resolved' if finding.resolved else 'open'}: operation {operation.pk} "
                f"({operation.kind}, payment {operation.payment_id}): {finding.message}"
            )
        open_count = sum(not finding.resolved for finding in findings)
        self.stdout.write(
            f"{len(findings) - open_count} operation(s) resolved, {open_count} still open."
        )
