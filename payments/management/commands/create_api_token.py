from django.core.management.base import BaseCommand, CommandError

from payments.models import ApiToken
from payments.services.api_tokens import api_token_create


class Command(BaseCommand):
    help = (
        "Make a token for a shop to send orders to POST /api/v1/orders. The token is printed "
        "once and stored only as a hash; revoke it in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Whose token it is, e.g. 'webshop'.")

    def handle(self, *args, name, **options):
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} exists already; choose another name.")
        api_token, token = api_token_create(name=name)
        self.stdout.write(f"Token for {api_token.name} (shown once, keep it secret):")
        self.stdout.write(token)
