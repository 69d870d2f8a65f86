import getpass

from django.core.management.base import BaseCommand, CommandError

from payments.exceptions import ActionRefused
from payments.services.api_tokens import api_token_create
from payments.services.audit import Actor


def _system_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (a container, say)
        return "unknown"


class Command(BaseCommand):
    help = (
        "Make a token for a shop to send orders to POST /api/v1/orders. The token is printed "
        "once and stored only as a hash; revoke it in the admin. Both are audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Whose token it is, e.g. 'webshop'.")

    def handle(self, *args, name, **options):
        # Nobody signs in to run a command: the audit log names the command and the system
        # account that ran it.
        actor = Actor.system(f"create_api_token (run by {_system_user()})")
        try:
            api_token, token = api_token_create(name=name, actor=actor)
        except ActionRefused as refusal:
            raise CommandError(refusal.message) from refusal
        self.stdout.write(f"Token for {api_token.name} (shown once, keep it secret):")
        self.stdout.write(token)
