"""Demo data: people in every role, and orders of all four providers in every state, set up at
the provider sandbox too so that every action in the demo really calls it."""

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from payments.models import Order, RefundReason
from payments.money import parse_amount
from payments.order_lines import RefundItems
from payments.sandbox.client import SandboxClient
from payments.selectors import order_refund_offer
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewLine, NewPayment, order_create
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_approve, refund_reject, refund_request

PEOPLE = [
    # username, password, group, staff, superuser, email
    ("agent", "agent-demo", "Support agents", False, False, "agent@example.com"),
    ("agent2", "agent2-demo", "Support agents", False, False, "agent2@example.com"),
    ("manager", "manager-demo", "Managers", False, False, "manager@example.com"),
    ("manager2", "manager2-demo", "Managers", False, False, "manager2@example.com"),
    ("auditor", "auditor-demo", "Auditors", True, False, "auditor@example.com"),
    ("admin", "admin-demo", None, True, True, "admin@example.com"),
]

# number, customer, email, provider, currency, amount, captured, then what happens next:
# ("refund", amount) / ("cancel",) / ("unknown refund", amount) / ("request", amount) /
# ("rejected request", amount) / ("approved request", amount): the agent asks, the manager decides /
# ("unprovable refund", amount)
ORDERS = [
    ("DEMO-1001", "Kari Nordmann", "kari@example.com", "vipps", "NOK", "1250.00", "0", []),
    ("DEMO-1002", "Ola Nordmann", "ola@example.com", "vipps", "NOK", "899.00", "899.00", []),
    ("DEMO-1003", "Ingrid Hansen", "ingrid@example.com", "vipps", "NOK", "3490.00", "3490.00",
     [("refund", "490.00")]),
    ("DEMO-1004", "Lars Jensen", "lars@example.dk", "vipps", "DKK", "650.00", "400.00", []),
    ("DEMO-1005", "Mette Larsen", "mette@example.dk", "vipps", "DKK", "1200.00", "0", [("cancel",)]),
    ("DEMO-1006", "Anna Schmidt", "anna@example.de", "bambora", "EUR", "149.90", "149.90", []),
    ("DEMO-1007", "Erik Svensson", "erik@example.se", "bambora", "SEK", "2499.00", "2499.00",
     [("refund", "2499.00")]),
    ("DEMO-1008", "Yuki Tanaka", "yuki@example.jp", "bambora", "JPY", "15800", "0", []),
    ("DEMO-1009", "Sofia Rossi", "sofia@example.it", "bambora", "EUR", "320.00", "320.00",
     [("unknown refund", "20.00")]),
    ("DEMO-1010", "Jack Wilson", "jack@example.com.au", "optty", "AUD", "249.95", "249.95", []),
    ("DEMO-1011", "Olivia Brown", "olivia@example.com.au", "optty", "AUD", "1899.00", "1899.00",
     [("refund", "100.00")]),
    ("DEMO-1012", "Liam Smith", "liam@example.com", "optty", "USD", "79.00", "0", []),
    ("DEMO-1013", "Emma Johnson", "emma@example.com", "simpleps", "USD", "1200.00", "1200.00",
     [("request", "800.00")]),
    ("DEMO-1014", "Noah Davis", "noah@example.com", "simpleps", "USD", "45.50", "45.50",
     [("refund", "45.50")]),
    ("DEMO-1015", "Astrid Lund", "astrid@example.se", "simpleps", "SEK", "799.00", "0", [("cancel",)]),
    ("DEMO-1016", "Freja Nielsen", "freja@example.dk", "vipps", "EUR", "560.00", "560.00",
     [("refund", "60.00"), ("refund", "100.00")]),
    ("DEMO-1019", "Åse Ødegård", "ase.odegard@example.no", "vipps", "NOK", "8990.00", "8990.00",
     [("rejected request", "6000.00")]),
    ("DEMO-1020", "Jürgen Müller", "juergen@example.de", "bambora", "EUR", "1480.00", "1480.00",
     [("approved request", "900.00")]),
    ("DEMO-1021", "Hanna Lindqvist", "hanna@example.se", "bambora", "EUR", "410.00", "410.00",
     [("unprovable refund", "60.00")]),
]
# How the sandbox holds some of them: DEMO-1021's Bambora reads the payment as the published
# swagger does, without its refunds, so that nothing can prove what became of its refund.
SANDBOX_OPTIONS = {"DEMO-1021": {"refunds_in_get": False}}

# Orders sent with lines, to refund by line: number, customer, email, provider, currency,
# lines (sku, name, quantity, unit price, the line's tax), shipping, then refunds by line
# already made ({sku: units}, with the shipping or not). All captured.
ITEMIZED = [
    ("DEMO-1017", "Nora Berg", "nora@example.no", "vipps", "NOK",
     [("TENT-2P", "Tent, 2 persons", 1, "2499.00", "0"),
      ("BAG-SYN", "Sleeping bag", 2, "899.00", "0"),
      ("PEG-10", "Tent pegs, 10", 3, "49.00", "0")],
     "99.00", []),
    ("DEMO-1018", "Jonas Weber", "jonas@example.de", "bambora", "EUR",
     [("JACKET-M", "Rain jacket, M", 1, "189.00", "0"),
      ("SOCKS-3", "Wool socks, 3 pairs", 2, "24.90", "0"),
      ("LAMP-200", "Headlamp", 1, "32.00", "8.00")],
     "5.90", [({"SOCKS-3": 1}, False)]),
]

REJECTION_NOTE = "Ask the customer to send the goods back first."


class Command(BaseCommand):
    help = (
        "Create the demo's people and orders, here and at the provider sandbox "
        "(settings.SANDBOX_URL). Does nothing when the demo orders exist already."
    )

    def handle(self, *args, **options):
        sandbox_url = getattr(settings, "SANDBOX_URL", "")
        if not sandbox_url:
            raise CommandError("SANDBOX_URL is not set: seed_demo needs the provider sandbox.")
        sandbox = SandboxClient(sandbox_url)
        people = self._people()
        if Order.objects.filter(number__startswith="DEMO-").exists():
            self.stdout.write("Demo orders exist already; nothing to do.")
            return
        for number, name, email, provider, currency, amount, captured, then in ORDERS:
            authorized = parse_amount(amount, currency)
            captured_minor = parse_amount(captured, currency) if captured != "0" else 0
            reference = f"{number.lower()}-{provider}-1"
            sandbox.create_payment(
                provider=provider,
                reference=reference,
                currency=currency,
                amount=authorized,
                captured=captured_minor,
                **SANDBOX_OPTIONS.get(number, {}),
            )
            order, _ = order_create(
                number=number,
                customer_name=name,
                customer_email=email,
                currency=currency,
                total=authorized,
                payments=[
                    NewPayment(
                        provider=provider, reference=reference, amount=authorized, captured=captured_minor
                    )
                ],
                actor=Actor.system("shop"),
            )
            payment = order.payments.get()
            for step in then:
                self._play(step, payment=payment, sandbox=sandbox, people=people)
        for spec in ITEMIZED:
            self._itemized(*spec, sandbox=sandbox, people=people)
        self.stdout.write(f"{len(ORDERS) + len(ITEMIZED)} demo orders created.")

    def _itemized(self, number, name, email, provider, currency, lines, shipping, refunds, *, sandbox, people):
        lines = [
            NewLine(sku=sku, name=line_name, quantity=quantity, unit_price=parse_amount(unit_price, currency),
                    tax=parse_amount(tax, currency, allow_zero=True))
            for sku, line_name, quantity, unit_price, tax in lines
        ]
        shipping = parse_amount(shipping, currency)
        total = sum(line.total for line in lines) + shipping
        reference = f"{number.lower()}-{provider}-1"
        sandbox.create_payment(
            provider=provider, reference=reference, currency=currency, amount=total, captured=total
        )
        order, _ = order_create(
            number=number,
            customer_name=name,
            customer_email=email,
            currency=currency,
            total=total,
            lines=lines,
            shipping=shipping,
            payments=[NewPayment(provider=provider, reference=reference, amount=total, captured=total)],
            actor=Actor.system("shop"),
        )
        payment = order.payments.get()
        by_sku = {line.sku: line for line in order.lines.all()}
        for units, with_shipping in refunds:
            items = RefundItems(
                quantities={by_sku[sku].pk: count for sku, count in units.items()}, shipping=with_shipping
            )
            refund_request(
                payment_id=payment.pk,
                amount=order_refund_offer(order=order).amount_for(items),
                reason=RefundReason.RETURNED_GOODS,
                actor=Actor.of_user(people["agent"]),
                idempotency_key=new_idempotency_key(),
                items=items,
            )

    def _people(self):
        people = {}
        for username, password, group, staff, superuser, email in PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": staff, "is_superuser": superuser, "email": email},
            )
            if created:
                user.set_password(password)
                user.save()
                if group:
                    user.groups.add(Group.objects.get(name=group))
            people[username] = user
        return people

    def _play(self, step, *, payment, sandbox, people):
        agent = Actor.of_user(people["agent"])
        match step:
            case (
                "refund" | "request" | "unknown refund" | "rejected request" | "approved request"
                | "unprovable refund",
                amount,
            ):
                if step[0] in ("unknown refund", "unprovable refund"):
                    # The refund reaches the provider, its answer does not: the demo's
                    # "Check with provider" then finds it carried out, or, where the provider's
                    # reads show no refunds, never can.
                    sandbox.inject_fault(
                        provider=payment.provider, endpoint="refund", mode="lost_answer"
                    )
                operation = refund_request(
                    payment_id=payment.pk,
                    amount=parse_amount(amount, payment.currency),
                    reason=RefundReason.RETURNED_GOODS,
                    actor=agent,
                    idempotency_key=new_idempotency_key(),
                )
                # The decisions wait on the agent's "My requests", and are shown at their first page.
                manager = Actor.of_user(people["manager"])
                if step[0] == "rejected request":
                    refund_reject(operation_id=operation.pk, actor=manager, note=REJECTION_NOTE)
                elif step[0] == "approved request":
                    refund_approve(operation_id=operation.pk, actor=manager)
                elif step[0] == "unprovable refund":
                    # As many checks as it takes for it to need a person ("Needs attention").
                    for _ in range(settings.NEEDS_PERSON_AFTER_CHECKS):
                        payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
            case ("cancel",):
                payment_cancel(
                    payment_id=payment.pk,
                    expected_amount=payment.authorized - payment.captured,
                    actor=agent,
                    idempotency_key=new_idempotency_key(),
                )
