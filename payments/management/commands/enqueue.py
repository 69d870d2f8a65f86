from django.core.management.base import BaseCommand

from payments.tasks import PERIODIC


class Command(BaseCommand):
    help = (
        "Queue periodic tasks for the task worker: `reconcile` (settle operations whose outcome "
        "is unknown), `expire` (refund requests and exports past their time), `sync_payments` "
        "(compare recent payments with their providers). Run it from a timer (README, "
        "'Background work')."
    )

    def add_arguments(self, parser):
        parser.add_argument("tasks", nargs="+", choices=sorted(PERIODIC), metavar="TASK",
                            help=f"one or more of: {', '.join(sorted(PERIODIC))}")

    def handle(self, *args, tasks, **options):
        for name in tasks:
            result = PERIODIC[name].enqueue()
            self.stdout.write(f"{name} queued ({result.id}).")
