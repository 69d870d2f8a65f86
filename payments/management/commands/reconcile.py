from django.core.management.base import BaseCommand, CommandError

from payments.services.audit import Actor
from payments.services.reconcile import reconcile_all
from payments.services.refunds import refunds_expire


class Command(BaseCommand):
    help = (
        "Resolve operations whose outcome is unknown or pending (and those still in flight after "
        "their call's deadline) by reading each provider, mark what no check can prove as needing "
        "a person, and expire refund requests that waited too long for approval. Safe to run at "
        "any time, e.g. every few minutes from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--in-flight-margin",
            type=float,
            default=None,
            help="Seconds after its call's deadline during which the provider may still carry a "
            "call out: before then an operation still in flight is not taken for abandoned, nor "
            "one of unknown outcome sent again (default: RECONCILE_IN_FLIGHT_MARGIN).",
        )

    def handle(self, *args, in_flight_margin, **options):
        if in_flight_margin is not None and in_flight_margin < 0:
            raise CommandError("--in-flight-margin cannot be negative: a call may run until its deadline.")
        actor = Actor.system("reconcile")
        expired = refunds_expire(actor=actor)
        if expired:
            self.stdout.write(f"{expired} refund request(s) expired.")
        findings = reconcile_all(actor=actor, margin=in_flight_margin)
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
