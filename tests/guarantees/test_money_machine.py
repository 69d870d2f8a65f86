"""Money is never moved twice and never lost, whatever sequence of refunds, cancels, approvals,
checks with the provider and provider faults happens, at any of the four providers.

A hypothesis state machine drives the real services against the real sandbox over HTTP. Its
rules open payments (of each provider, with the variations its spec allows: Bambora's GET
without refunds, Optty's intermediate refund statuses, Vipps's expired periods), ask for refunds
(some beyond the approval limit, now and then beyond what is refundable), send a form again,
cancel, approve, reject and withdraw requests, check with the provider, let a manager resolve
what needs a person, and make providers misbehave: lost, late and dripping answers, dropped
connections, 5xx, 409, 423, 429 and HTML pages with and without the call carried out first,
unreadable bodies, refusals, expired tokens, Optty deciding its pending refunds. A fault is
aimed at the step's own calls or left waiting for later ones.

After every step it checks, from our ledger and from the sandbox's own record of what each
provider received and carried out:

- our aggregate equals our ledger; never is more refunded than captured, nor more cancelled
  than could be, counting what is held back for operations under way; the same at the provider;
- for refunds and for cancels, the provider's total lies between our succeeded total and that
  plus the operations whose outcome we do not know yet (one unresolved here may or may not have
  happened there); with none unresolved, the two are equal;
- every refund and cancel a provider received in the step was sent for one of our operations
  that the audit log says was sent in that step (the very operation its key names, at Vipps and
  Optty);
- every execution at a provider belongs to one of our operations: by its idempotency key at
  Vipps, elsewhere by kind and amount among the operations sent in that very step; none is
  carried out twice; every succeeded operation has its execution, and none booked as failed has
  one.

At the end of each run the faults stop, Optty decides what it left pending, the payments are
checked with their providers until what cannot be proved needs a person, and a manager resolves
that as the provider's record shows it (as a person reading its portal would): then nothing is
unresolved, the provider and the ledger agree exactly, and every exchange of the run follows the
providers' specs.

`make test` runs a small, derandomized budget; `make soak` runs fresh random runs for long
(SOAK_EXAMPLES, SOAK_STEPS) and prints a one-line summary.
"""

import functools
import itertools
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import AuditAction, AuditEvent, Operation, OperationKind, Payment
from payments.providers.tokens import tokens
from payments.selectors import (
    annotated_balances,
    ledger_mismatches,
    needs_person,
    payment_balances,
    with_reserved_sums,
)
from payments.services.attention import operation_resolve
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewPayment, order_create
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_approve, refund_reject, refund_request, refund_withdraw
from payments.statuses import RESERVING_STATUSES, UNRESOLVED_STATUSES, OperationStatus
from tests.specs.conformance import assert_exchanges_follow_specs

pytestmark = pytest.mark.django_db

CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}
# Refunds beyond 100.00 on a payment (all currencies alike) wait for a manager.
APPROVAL_LIMIT_MAJOR = "100"
# The sandbox's names of each provider's calls, for aiming faults ("*": any call).
ENDPOINTS = {
    "bambora": ["refund", "cancel", "fetch", "*"],
    "optty": ["refund", "void", "fetch", "details", "token", "*"],
    "simpleps": ["refund", "void", "fetch", "token", "*"],
    "vipps": ["refund", "cancel", "fetch", "events", "token", "*"],
}
# The sandbox's names of the calls that move money, by the kind of operation they carry out.
MODIFICATION_ENDPOINTS = {"refund": OperationKind.REFUND, "cancel": OperationKind.CANCEL, "void": OperationKind.CANCEL}
# What a provider (or what stands in front of it) may do with a call. Timeouts are left out:
# the lost, late and dripping answers reach the same states in less time.
FAULTS = [
    {"mode": "lost_answer"},
    {"mode": "drop"},
    {"mode": "garbage"},
    {"mode": "error", "status": 500},
    {"mode": "error", "status": 503, "carried_out": True},
    {"mode": "status", "status": 409},
    {"mode": "status", "status": 409, "carried_out": True},
    {"mode": "status", "status": 423},
    {"mode": "status", "status": 429, "retry_after": 0},
    {"mode": "status", "status": 429, "retry_after": 0, "carried_out": True},
    {"mode": "status", "status": 401},
    {"mode": "status", "status": 400},
    {"mode": "html", "status": 403},
    {"mode": "html", "status": 502, "carried_out": True},
    {"mode": "late_answer"},
    {"mode": "slow", "delay": 0.05},
    {"mode": "drip", "interval": 0.002},
]
# A fault for the step's own calls, or none.
FAULT = st.one_of(st.none(), st.sampled_from(FAULTS))
OPTTY_REFUND_STATUSES = ["SUCCESSFUL"] * 4 + ["INITIATED", "PROCESSING", "REQUESTED", "PENDING", "FAILED", "DECLINED", "ERROR"]
# Vipps refuses cancels 180 days after the reservation, refunds after 365.
VIPPS_DAYS_AGO = [0, 0, 0, 200, 400]
# A payment of any provider, authorized for 10.00 to 300.00, captured in whole, in part or not
# at all, with the variations its provider's spec allows.
NEW_PAYMENT = {
    "provider": st.sampled_from(sorted(CURRENCY)),
    "amount": st.integers(10, 300).map(lambda n: n * 100),
    "capture": st.sampled_from(["all", "part", "none"]),
    "refunds_in_get": st.booleans(),
    "refund_status": st.sampled_from(OPTTY_REFUND_STATUSES),
    "days_ago": st.sampled_from(VIPPS_DAYS_AGO),
}
# A run's payments at most: more would only slow the checks after each step.
MAX_PAYMENTS = 3
# Rules act on a payment where they can do something; now and then (True) on any payment, to
# see the refusals.
ANYWHERE = st.sampled_from([False] * 5 + [True])
KINDS = (OperationKind.REFUND, OperationKind.CANCEL)
PEOPLE = {"agent": "Support agents", "agent2": "Support agents", "manager": "Managers", "manager2": "Managers"}
SYSTEM = Actor.system("reconcile")

SOAK_EXAMPLES = int(os.environ.get("SOAK_EXAMPLES") or 0)
SOAK_STEPS = int(os.environ.get("SOAK_STEPS") or 40)
if SOAK_EXAMPLES:
    BUDGET = hypothesis_settings(
        max_examples=SOAK_EXAMPLES,
        stateful_step_count=SOAK_STEPS,
        deadline=None,
        database=None,
        print_blob=True,
        # SOAK_VERBOSITY=debug prints every run's steps.
        verbosity=Verbosity[os.environ.get("SOAK_VERBOSITY", "normal")],
        suppress_health_check=list(HealthCheck),
    )
else:
    # The same runs every time (CI repeats what it saw), small enough for the suite; no
    # shrinking, which through HTTP would outlast the suite's timeout: the failing run is
    # printed step by step as it happened.
    BUDGET = hypothesis_settings(
        max_examples=20,
        stateful_step_count=20,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

_numbers = itertools.count(1)


def has_refundable(balances):
    return balances.refundable


def has_cancellable(balances):
    return balances.cancellable


@dataclass
class Stats:
    """What the runs did, for make soak's summary line."""

    runs: int = 0
    steps: int = 0
    operations: int = 0
    faults: int = 0
    outcomes: Counter = field(default_factory=Counter)

    def line(self, failures):
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()))
        return (
            f"soak: {self.runs} runs, {self.steps} steps, {self.operations} operations, "
            f"{self.faults} faults; outcomes: {outcomes or 'none'}; failures: {failures}"
        )


@dataclass
class Tracked:
    """A payment of the run, here and at the sandbox, and what the checks know of it."""

    pk: int
    provider: str
    reference: str
    # The provider's executions (kind, amount, key) as last seen.
    executions: Counter = field(default_factory=Counter)

    def __repr__(self):
        return f"<{self.provider} payment {self.reference}>"


def step(function):
    """A rule of the machine: counted for the summary, and marked unfinished while it runs, so
    that a run a failure ended is not settled and checked once more in teardown."""

    @functools.wraps(function)
    def wrapper(machine, *args, **kwargs):
        machine.interrupted = True
        machine.stats.steps += 1
        result = function(machine, *args, **kwargs)
        machine.interrupted = False
        return result

    return wrapper


class MoneyMachine(RuleBasedStateMachine):
    payments = Bundle("payments")
    requests = Bundle("requests")

    def __init__(self, *, sandbox, sandbox_server, people, stats):
        super().__init__()
        sandbox.reset()
        tokens.clear()
        self.sandbox = sandbox
        self.sandbox_server = sandbox_server
        self.people = people
        self.stats = stats
        stats.runs += 1
        self.tracked = {}
        # Submitted forms, to send again: (kind, payment pk, key, amount, person).
        self.forms = []
        # Executions attributed to each of our operations, in the whole run; and the operations
        # whose execution stands (Optty may fail a refund it had accepted): what a person reading
        # the provider's portal finds carried out.
        self.executed = Counter()
        self.carried_out = set()
        # How much of the sandbox's journal of requests the checks have read.
        self.journal_seen = 0
        self.last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        # Payments of which Optty was just told to fail its pending refunds: their executions
        # may disappear from its record (it lists only refunds that are or may be made).
        self.failed_at_provider = set()
        self.interrupted = False

    # Rules ---------------------------------------------------------------------------------

    @initialize(target=payments, **NEW_PAYMENT)
    def first_payment(self, **options):
        return self.open_payment(**options)

    @precondition(lambda self: len(self.tracked) < MAX_PAYMENTS)
    @rule(target=payments, **NEW_PAYMENT)
    @step
    def open_payment(self, provider, amount, capture, refunds_in_get, refund_status, days_ago):
        captured = {"all": amount, "part": amount // 2, "none": 0}[capture]
        number = f"pbt-{next(_numbers):06d}"
        reference = f"{number}-{provider}"
        order, _ = order_create(
            number=number,
            customer_name="Kari Nordmann",
            customer_email="kari@example.com",
            currency=CURRENCY[provider],
            total=amount,
            payments=[NewPayment(provider=provider, reference=reference, amount=amount, captured=captured)],
            actor=Actor.system("shop"),
        )
        options = {
            "bambora": {"refunds_in_get": refunds_in_get},
            "optty": {"refund_status": refund_status},
            "simpleps": {},
            "vipps": {"authorized_days_ago": days_ago, "modifications_per_minute": 10_000},
        }[provider]
        self.sandbox.create_payment(
            provider=provider, reference=reference, currency=CURRENCY[provider], amount=amount,
            captured=captured, **options,
        )
        tracked = Tracked(pk=order.payments.get().pk, provider=provider, reference=reference)
        self.tracked[tracked.pk] = tracked
        return tracked

    @precondition(lambda self: self.having(has_refundable))
    @rule(
        target=requests,
        data=st.data(),
        anywhere=ANYWHERE,
        share=st.one_of(st.just(100), st.integers(1, 100)),
        beyond=ANYWHERE,
        person=st.sampled_from(sorted(PEOPLE)),
        fault=FAULT,
    )
    @step
    def request_refund(self, data, anywhere, share, beyond, person, fault):
        """Refund all that is refundable or a share of it (in per cent) of a payment that has
        something to refund; now and then of any payment, or one unit more than there is."""
        payment = self.draw_payment(data, has_refundable, anywhere=anywhere)
        self.inject(data, payment, fault)
        refundable = payment_balances(payment=Payment.objects.get(pk=payment.pk)).refundable
        amount = refundable + 1 if beyond else max(refundable * share // 100, 1)
        key = new_idempotency_key()
        before = Operation.objects.count()
        try:
            operation = refund_request(
                payment_id=payment.pk, amount=amount, reason="customer_request",
                actor=self.actor(person), idempotency_key=key,
            )
        except ActionRefused:
            self.stats.outcomes["refund refused"] += 1
            assert amount > refundable, f"{amount} refused with {refundable} refundable"
            assert Operation.objects.count() == before
            return multiple()
        assert amount <= refundable, f"{amount} accepted with only {refundable} refundable"
        self.opened(operation)
        self.forms.append((OperationKind.REFUND, payment.pk, key, amount, person))
        if operation.status == OperationStatus.AWAITING_APPROVAL:
            return operation.pk
        return multiple()

    @precondition(lambda self: self.having(has_cancellable))
    @rule(data=st.data(), anywhere=ANYWHERE, person=st.sampled_from(sorted(PEOPLE)), stale=ANYWHERE, fault=FAULT)
    @step
    def cancel(self, data, anywhere, person, stale, fault):
        """Cancel what is left uncaptured of a payment that has some (or of any, now and then),
        confirming the amount shown (or, now and then, one that has changed since)."""
        payment = self.draw_payment(data, has_cancellable, anywhere=anywhere)
        self.inject(data, payment, fault)
        cancellable = payment_balances(payment=Payment.objects.get(pk=payment.pk)).cancellable
        key = new_idempotency_key()
        before = Operation.objects.count()
        try:
            operation = payment_cancel(
                payment_id=payment.pk, expected_amount=cancellable + stale, actor=self.actor(person),
                idempotency_key=key,
            )
        except ActionRefused:
            self.stats.outcomes["cancel refused"] += 1
            assert stale or cancellable == 0
            assert Operation.objects.count() == before
            return
        assert not stale and cancellable > 0
        self.opened(operation)
        self.forms.append((OperationKind.CANCEL, payment.pk, key, cancellable, person))

    @precondition(lambda self: self.forms)
    @rule(data=st.data())
    @step
    def send_form_again(self, data):
        """A double click, the back button: the same form makes no second operation."""
        kind, payment_id, key, amount, person = data.draw(st.sampled_from(self.forms))
        first = Operation.objects.get(idempotency_key=key)
        before = Operation.objects.count()
        if kind == OperationKind.REFUND:
            again = refund_request(
                payment_id=payment_id, amount=amount, reason="customer_request",
                actor=self.actor(person), idempotency_key=key,
            )
        else:
            again = payment_cancel(
                payment_id=payment_id, expected_amount=amount, actor=self.actor(person), idempotency_key=key
            )
        assert again.pk == first.pk
        assert Operation.objects.count() == before

    @rule(
        request=consumes(requests),
        decision=st.sampled_from(["approve"] * 4 + ["reject", "withdraw", "approve own"]),
        second=st.booleans(),
        data=st.data(),
        fault=FAULT,
    )
    @step
    def decide(self, request, decision, second, data, fault):
        """A manager approves or rejects the request, its requester withdraws it, or tries to
        approve it themselves (refused: it goes on waiting)."""
        operation = Operation.objects.get(pk=request)
        if decision == "approve":
            self.inject(data, self.tracked[operation.payment_id], fault)
        manager = self.actor(self.manager_for(operation, second))
        requester = Actor.of_user(operation.requested_by)
        if decision == "approve own":
            with pytest.raises(ActionForbidden):
                refund_approve(operation_id=request, actor=requester)
            self.stats.outcomes["forbidden"] += 1
            operation.refresh_from_db()
            assert operation.status == OperationStatus.AWAITING_APPROVAL
            return
        if decision == "reject":
            decided = refund_reject(operation_id=request, actor=manager, note="Not due.")
            assert decided.status == OperationStatus.REJECTED
        elif decision == "withdraw":
            decided = refund_withdraw(operation_id=request, actor=requester)
            assert decided.status == OperationStatus.WITHDRAWN
        else:
            try:
                decided = refund_approve(operation_id=request, actor=manager)
            except ActionRefused:
                # The payment can no longer refund this much: something else took the money.
                self.stats.outcomes["approval refused"] += 1
                operation.refresh_from_db()
                assert operation.status == OperationStatus.AWAITING_APPROVAL
                return
        self.stats.outcomes[decided.status] += 1

    @rule(data=st.data(), fault=FAULT)
    @step
    def check_with_provider(self, data, fault):
        """"Check with provider" on a payment with operations of unknown outcome, if any."""
        unresolved = set(
            Operation.objects.filter(payment_id__in=self.tracked, status__in=UNRESOLVED_STATUSES)
            .values_list("payment_id", flat=True)
        )
        payments = [p for pk, p in self.tracked.items() if pk in unresolved] or list(self.tracked.values())
        payment = self.pick(data, payments)
        self.inject(data, payment, fault)
        for finding in payment_reconcile(payment_id=payment.pk, actor=SYSTEM):
            self.stats.outcomes[f"checked: {finding.operation.status}"] += 1

    @rule(payment=payments, data=st.data(), fault=st.sampled_from(FAULTS), times=st.integers(1, 2))
    @step
    def inject_fault(self, payment, data, fault, times):
        """The next calls to one of the payment's provider's endpoints, whenever they come, go
        wrong."""
        self.inject(data, payment, fault, times=times)

    @precondition(lambda self: self.needing_person())
    @rule(data=st.data(), second=st.booleans())
    @step
    def person_resolves(self, data, second):
        """A manager resolves an operation that needs a person, as the provider's portal shows
        it."""
        operations = {operation.pk: operation for operation in self.needing_person()}
        self.resolve(operations[data.draw(st.sampled_from(sorted(operations)), label="operation")], second=second)

    @rule(
        event=st.sampled_from(["tokens expire", "held answers go", "optty refunds succeed", "optty refunds fail"]),
        data=st.data(),
    )
    @step
    def provider_moves(self, event, data):
        """Something happens at a provider by itself: the tokens it issued expire, the answers
        it held back go out, Optty's BNPL provider decides the refunds it left pending."""
        if event == "held answers go":
            self.sandbox.release()
            return
        payments = list(self.tracked.values())
        if event != "tokens expire":
            payments = [payment for payment in payments if payment.provider == "optty"] or payments
        payment = self.pick(data, payments)
        if event == "tokens expire" or payment.provider != "optty":
            self.sandbox.expire_tokens(payment.provider)
            return
        succeeds = event == "optty refunds succeed"
        self.sandbox.advance(
            provider="optty", reference=payment.reference, outcome="succeeded" if succeeds else "failed"
        )
        if not succeeds:
            self.failed_at_provider.add(payment.pk)

    # Checks --------------------------------------------------------------------------------

    @invariant()
    def money_adds_up(self):
        self.interrupted = True
        self.check_money()
        self.interrupted = False

    def check_money(self):
        events = AuditEvent.objects.filter(pk__gt=self.last_event)
        self.last_event = max(events.values_list("pk", flat=True), default=self.last_event)
        sent = set(
            events.filter(action=AuditAction.PROVIDER_CALLED).values_list("operation_id", flat=True)
        )
        journal = self.sandbox.requests()
        self.check_requests(journal[self.journal_seen :], sent=sent)
        self.journal_seen = len(journal)
        mismatched = list(ledger_mismatches().filter(pk__in=self.tracked).values_list("pk", flat=True))
        assert not mismatched, f"aggregates differ from the ledger: payments {mismatched}"
        for tracked in self.tracked.values():
            self.check_payment(tracked, sent=sent)
        self.failed_at_provider.clear()

    def check_requests(self, entries, *, sent):
        """Every refund and cancel the providers received in this step was sent for an
        operation of ours that the audit log says was sent in this step: for Vipps and Optty the
        operation its key (Idempotency-Key, refundReference, voidReference) names."""
        operations = list(Operation.objects.filter(pk__in=sent).select_related("payment"))
        for entry in entries:
            kind = MODIFICATION_ENDPOINTS.get(entry["endpoint"])
            if kind is None:
                continue
            reference = [segment for segment in entry["path"].split("/") if segment][-2]
            if entry["provider"] == "vipps":
                key = entry["headers"].get("idempotency-key")
            elif entry["provider"] == "optty":
                key = (entry["json"] or {}).get("refundReference" if kind == OperationKind.REFUND else "voidReference")
            else:
                key = None
            assert any(
                operation.payment.reference == reference
                and operation.kind == kind
                and (key is None or operation.idempotency_key == key)
                for operation in operations
            ), (
                f"{entry['provider']} received a {kind} of {reference} (key {key}) in this step, "
                "which no operation sent in this step accounts for"
            )

    def check_payment(self, tracked, *, sent):
        payment = Payment.objects.get(pk=tracked.pk)
        operations = list(payment.operations.filter(kind__in=KINDS).order_by("pk"))
        seen = self.sandbox.payment(provider=tracked.provider, reference=tracked.reference)
        name = f"{tracked!r}"

        # Our side: what is held back fits the payment.
        held = Counter()
        for operation in operations:
            if operation.status in RESERVING_STATUSES:
                held[operation.kind] += operation.amount
        assert payment.refunded + held[OperationKind.REFUND] <= payment.captured, f"{name}: refunds beyond captured"
        assert payment.captured + payment.cancelled + held[OperationKind.CANCEL] <= payment.authorized, (
            f"{name}: cancelled beyond what could be"
        )

        # The provider's side.
        pending_refunds = seen.get("pending_refunds", 0)
        assert seen["refunded"] + pending_refunds <= seen["captured"], f"{name}: the provider refunded beyond captured"
        assert seen["captured"] + seen["cancelled"] <= seen["amount"], f"{name}: the provider cancelled beyond authorized"
        assert seen["captured"] == payment.captured

        # Executions: each belongs to one operation of ours, and none was carried out twice.
        executions = Counter(
            (item["kind"], item["amount"], item.get("idempotency_key")) for item in seen["operations"]
        )
        new, gone = executions - tracked.executions, tracked.executions - executions
        assert not gone or tracked.pk in self.failed_at_provider, f"{name}: executions vanished: {gone}"
        for kind, amount, _ in gone.elements():
            # Optty failed a refund it had left pending: one of ours not yet settled.
            failed = [
                operation
                for operation in operations
                if operation.pk in self.carried_out and operation.kind == kind and operation.amount == amount
            ]
            failed.sort(key=lambda operation: operation.status not in UNRESOLVED_STATUSES)
            self.carried_out.discard(failed[0].pk)
        tracked.executions = executions
        by_key = {operation.idempotency_key: operation for operation in operations}
        for (kind, amount, key), count in sorted(new.items(), key=str):
            for _ in range(count):
                if key is not None:
                    owner = by_key.get(key)
                    assert owner is not None and owner.kind == kind and owner.amount == amount, (
                        f"{name}: the provider carried out a {kind} of {amount} under key {key}, "
                        "which is no such operation of ours"
                    )
                    candidates = [owner] if self.executed[owner.pk] == 0 else []
                else:
                    candidates = [
                        operation
                        for operation in operations
                        if operation.pk in sent
                        and operation.kind == kind
                        and operation.amount == amount
                        and self.executed[operation.pk] == 0
                    ]
                assert candidates, (
                    f"{name}: the provider carried out a {kind} of {amount} that no operation sent "
                    f"in this step accounts for: carried out twice? ({self.history(payment)})"
                )
                self.executed[candidates[0].pk] += 1
                self.carried_out.add(candidates[0].pk)

        # Totals: the provider's lie between our succeeded ones and those plus what is unresolved.
        unresolved = Counter()
        for operation in operations:
            if operation.status in UNRESOLVED_STATUSES:
                unresolved[operation.kind] += operation.amount
        at_provider = {
            OperationKind.REFUND: (seen["refunded"], seen["refunded"] + pending_refunds),
            OperationKind.CANCEL: (seen["cancelled"], seen["cancelled"]),
        }
        for kind, booked in ((OperationKind.REFUND, payment.refunded), (OperationKind.CANCEL, payment.cancelled)):
            made, made_or_under_way = at_provider[kind]
            assert booked <= made, f"{name}: {kind}s of {booked} booked, the provider made {made}"
            assert made_or_under_way <= booked + unresolved[kind], (
                f"{name}: the provider made or is making {kind}s of {made_or_under_way}; we booked "
                f"{booked} and have {unresolved[kind]} unresolved"
            )
        self.check_executions_match(name, operations, executions)

    def check_executions_match(self, name, operations, executions):
        """Every succeeded operation has its execution at the provider; every other execution
        is of an operation whose outcome is still unresolved: none of one booked as failed."""
        made = Counter()
        for (kind, amount, _), count in executions.items():
            made[kind, amount] += count
        for operation in operations:
            if operation.status == OperationStatus.SUCCEEDED:
                assert made[operation.kind, operation.settled_amount] > 0, (
                    f"{name}: operation {operation.pk} ({operation.kind} of "
                    f"{operation.settled_amount}) succeeded here, not at the provider"
                )
                made[operation.kind, operation.settled_amount] -= 1
        for operation in operations:
            if operation.status in UNRESOLVED_STATUSES and made[operation.kind, operation.amount] > 0:
                made[operation.kind, operation.amount] -= 1
        left = +made
        assert not left, (
            f"{name}: the provider carried out {dict(left)} that the ledger neither booked nor "
            f"holds unresolved ({self.history_of(operations)})"
        )

    # The end of a run ----------------------------------------------------------------------

    def teardown(self):
        try:
            if not self.interrupted:
                self.settle_everything()
        finally:
            self.sandbox.reset()
            tokens.clear()

    def settle_everything(self):
        """Let the faults stop and the provider finish; check with it until nothing more can be
        proved; then a manager resolves the rest as the provider's portal shows it. Nothing may
        stay unresolved, and the provider and the ledger agree exactly."""
        self.sandbox.clear_faults()
        self.sandbox.release()
        # A check may send again what never happened, which Optty may leave pending once more:
        # rounds until nothing is unresolved (the checks mark what they cannot prove first).
        for _ in range(settings.NEEDS_PERSON_AFTER_CHECKS + 2):
            for payment in self.tracked.values():
                if payment.provider == "optty":
                    self.sandbox.advance(provider="optty", reference=payment.reference)
            self.money_adds_up()
            for payment in self.tracked.values():
                payment_reconcile(payment_id=payment.pk, actor=SYSTEM)
            self.money_adds_up()
            for operation in self.needing_person():
                self.resolve(operation)
            self.money_adds_up()
            if not Operation.objects.filter(payment_id__in=self.tracked, status__in=UNRESOLVED_STATUSES).exists():
                break
        for payment in self.tracked.values():
            name = f"{payment!r}"
            operations = list(Operation.objects.filter(payment_id=payment.pk, kind__in=KINDS).order_by("pk"))
            for operation in operations:
                self.stats.outcomes[f"final: {operation.status}"] += 1
            stuck = [op for op in operations if op.status in UNRESOLVED_STATUSES]
            assert not stuck, f"{name}: still unresolved at the end: {self.history_of(stuck)}"
            seen = self.sandbox.payment(provider=payment.provider, reference=payment.reference)
            stored = Payment.objects.get(pk=payment.pk)
            for total in ("captured", "cancelled", "refunded"):
                assert seen[total] == getattr(stored, total), (
                    f"{name}: {total} {seen[total]} at the provider, {getattr(stored, total)} here"
                )
        assert_exchanges_follow_specs(self.sandbox_server.sandbox.take_exchanges())

    # Helpers -------------------------------------------------------------------------------

    def inject(self, data, payment, fault, *, times=1):
        """Make the next `times` calls to one of the payment's provider's endpoints go as
        `fault` says (nothing when it is None)."""
        if fault is None:
            return
        self.stats.faults += times
        endpoint = data.draw(st.sampled_from(ENDPOINTS[payment.provider]), label="endpoint")
        self.sandbox.inject_fault(provider=payment.provider, endpoint=endpoint, times=times, **fault)

    def having(self, available):
        """The run's payments of which `available(balances)` is more than nothing."""
        payments = with_reserved_sums(Payment.objects.filter(pk__in=self.tracked).order_by("pk"))
        return [self.tracked[payment.pk] for payment in payments if available(annotated_balances(payment))]

    def draw_payment(self, data, available, *, anywhere):
        """A payment of the run of which `available(balances)` is more than nothing, or, when
        `anywhere`, any payment."""
        return self.pick(data, list(self.tracked.values()) if anywhere else self.having(available))

    @staticmethod
    def pick(data, payments):
        """One of `payments`, drawn by its reference (which the printed steps then show)."""
        reference = data.draw(st.sampled_from([payment.reference for payment in payments]), label="payment")
        return next(payment for payment in payments if payment.reference == reference)

    def needing_person(self):
        """The run's operations that need a person and that a person can resolve now, oldest
        first: not while the provider lists refunds of the payment as still in progress (Optty),
        which a manager reading its portal comes back to later."""
        operations = Operation.objects.filter(payment_id__in=self.tracked, status__in=UNRESOLVED_STATUSES)
        operations = [operation for operation in operations.order_by("pk") if needs_person(operation)]
        in_progress = {
            payment.pk
            for payment in map(self.tracked.get, {operation.payment_id for operation in operations})
            if self.sandbox.payment(provider=payment.provider, reference=payment.reference).get("pending_refunds")
        }
        return [operation for operation in operations if operation.payment_id not in in_progress]

    def resolve(self, operation, *, second=False):
        """A manager who did not ask for it resolves `operation` as the provider's record shows
        it: carried out when an execution there stands for it."""
        carried_out = operation.pk in self.carried_out
        resolved = operation_resolve(
            operation_id=operation.pk,
            actor=self.actor(self.manager_for(operation, second)),
            carried_out=carried_out,
            note="Seen in the provider's portal." if carried_out else "Not in the provider's portal.",
        )
        assert resolved.status == (OperationStatus.SUCCEEDED if carried_out else OperationStatus.FAILED)
        self.stats.outcomes[f"resolved by a person: {resolved.status}"] += 1

    def actor(self, person):
        return Actor.of_user(self.people[person])

    def manager_for(self, operation, second):
        """A manager who did not ask for the refund."""
        managers = [name for name in ("manager", "manager2") if self.people[name].pk != operation.requested_by_id]
        return managers[second % len(managers)]

    def opened(self, operation):
        self.stats.operations += 1
        self.stats.outcomes[operation.status] += 1

    def history(self, payment):
        return self.history_of(payment.operations.filter(kind__in=KINDS).order_by("pk"))

    @staticmethod
    def history_of(operations):
        return "; ".join(
            f"#{op.pk} {op.kind} {op.amount} {op.status}"
            + (f" ({op.failure_message[:120]})" if op.failure_message else "")
            for op in operations
        )


@pytest.fixture
def people(make_user):
    return {name: make_user(name, group=group) for name, group in PEOPLE.items()}


def test_money_is_never_moved_twice_nor_lost(sandbox, sandbox_server, people, settings, capsys):
    settings.PROVIDER_TIMEOUT = 1
    # An operation no check can prove needs a person after two checks, not six: runs are short.
    settings.NEEDS_PERSON_AFTER_CHECKS = 2
    settings.REFUND_APPROVAL_LIMITS = {currency: APPROVAL_LIMIT_MAJOR for currency in CURRENCY.values()}
    stats = Stats()
    failures = 0
    try:
        run_state_machine_as_test(
            lambda: MoneyMachine(sandbox=sandbox, sandbox_server=sandbox_server, people=people, stats=stats),
            settings=BUDGET,
        )
    except BaseException:
        failures = 1
        raise
    finally:
        if SOAK_EXAMPLES:
            with capsys.disabled():
                print("\n" + stats.line(failures))
