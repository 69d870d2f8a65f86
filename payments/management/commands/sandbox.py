from django.conf import settings
from django.core.management.base import BaseCommand

from payments.sandbox.server import Sandbox, SandboxServer


class Command(BaseCommand):
    help = (
        "Serve the provider sandbox: a local simulator of Bambora, Optty, SimplePS and Vipps. "
        "It accepts the credentials configured in the settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--state", default="", help="Keep the simulated payments in this JSON file."
        )

    def handle(self, *args, host, port, state, **options):
        sandbox = Sandbox(providers_config=settings.PROVIDERS, state_file=state or None)
        server = SandboxServer((host, port), sandbox=sandbox)
        self.stdout.write(f"Provider sandbox at {server.base_url} (Ctrl-C stops it)")
        for code in sandbox.simulators:
            self.stdout.write(f"  {code}: {server.base_url}/{code}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
