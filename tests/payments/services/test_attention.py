"""A person resolves what no machine can prove: the ledger follows, the decision is audited,
and nobody resolves what they asked for."""

import pytest

from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import AuditAction, AuditEvent, Operation
from payments.selectors import Cursor, needs_attention_queue, needs_person, payment_balances
from payments.services.attention import operation_resolve
from payments.services.audit import Actor
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]


@pytest.fixture
def operation(needing_person, agent):
    return needing_person(agent)


def test_carried_out_at_the_provider_books_the_refund(operation, manager, sandbox):
    resolved = operation_resolve(operation_id=operation.pk, actor=Actor.of_user(manager), carried_out=True,
                                 note="Portal shows the refund on 3 March.")

    payment = resolved.payment
    payment.refresh_from_db()
    assert (resolved.status, resolved.settled_amount) == (OperationStatus.SUCCEEDED, 2_500)
    assert (resolved.decided_by, resolved.decision_note) == (manager, "Portal shows the refund on 3 March.")
    assert payment.refunded == 2_500 == sandbox.payment(provider="bambora", reference=payment.reference)["refunded"]
    assert payment_balances(payment=payment).refundable == 7_500
    assert not needs_person(resolved)
    event = AuditEvent.objects.get(action=AuditAction.OPERATION_RESOLVED)
    assert (event.actor, event.operation_id) == (manager, operation.pk)
    assert event.message == "Carried out at the provider: Portal shows the refund on 3 March."
    assert (event.before["refunded"], event.after["refunded"]) == (0, 2_500)


def test_did_not_happen_releases_its_amount(operation, manager):
    resolved = operation_resolve(operation_id=operation.pk, actor=Actor.of_user(manager), carried_out=False,
                                 note="No such refund in the portal.")

    payment = resolved.payment
    payment.refresh_from_db()
    assert resolved.status == OperationStatus.FAILED
    assert resolved.failure_message == "Did not happen, says manager: No such refund in the portal."
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 10_000
    assert AuditEvent.objects.get(action=AuditAction.OPERATION_RESOLVED).message == (
        "Did not happen: No such refund in the portal."
    )


def test_nobody_resolves_what_they_asked_for(needing_person, manager):
    own = needing_person(manager)

    with pytest.raises(ActionForbidden, match="another manager has to resolve it"):
        operation_resolve(operation_id=own.pk, actor=Actor.of_user(manager), carried_out=True, note="Seen it.")

    own.refresh_from_db()
    assert own.status == OperationStatus.UNKNOWN
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED)
    assert (refused.actor, refused.operation_id) == (manager, own.pk)
    # and the queue says so rather than offering it
    [row] = needs_attention_queue(user=manager).items
    assert row.mine


def test_a_manager_made_too_recently_resolves_nothing(operation, make_user, settings):
    # The four eyes of approvals: "Did not happen" would let the refund be asked for again.
    settings.APPROVAL_COOLING_OFF_HOURS = 24
    newcomer = make_user("newcomer", group="Managers")

    with pytest.raises(ActionForbidden, match="You cannot resolve this operation: your account was"):
        operation_resolve(operation_id=operation.pk, actor=Actor.of_user(newcomer), carried_out=False,
                          note="Nothing there.")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN
    assert AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED).actor == newcomer


def test_only_managers_resolve(operation, make_user):
    other_agent = make_user(group="Support agents")

    with pytest.raises(ActionForbidden, match="Only managers"):
        operation_resolve(operation_id=operation.pk, actor=Actor.of_user(other_agent), carried_out=False,
                          note="Nothing there.")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN
    assert AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED).actor == other_agent


@pytest.mark.parametrize(
    ("carried_out", "note", "refusal"),
    [(True, "  ", "Write a note"), (None, "Seen it.", "Choose")],
)
def test_a_decision_needs_a_choice_and_a_note(operation, manager, carried_out, note, refusal):
    with pytest.raises(ActionRefused, match=refusal):
        operation_resolve(operation_id=operation.pk, actor=Actor.of_user(manager), carried_out=carried_out,
                          note=note)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN


def test_an_operation_a_check_settled_meanwhile_is_not_resolved_again(operation, manager):
    from payments.services.reconcile import payment_reconcile

    # Bambora's reads show the refunds again: the next check proves it.
    payment_reconcile(payment_id=operation.payment_id, actor=Actor.system("reconcile"))

    with pytest.raises(ActionRefused, match="no longer needs a person: it is succeeded"):
        operation_resolve(operation_id=operation.pk, actor=Actor.of_user(manager), carried_out=False,
                          note="Nothing there.")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert not AuditEvent.objects.filter(action=AuditAction.OPERATION_RESOLVED).exists()


def test_an_operation_that_needs_no_person_cannot_be_resolved(make_payment, sandbox, manager, agent):
    from payments.services.ledger import new_idempotency_key
    from payments.services.refunds import refund_request

    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    unknown = refund_request(payment_id=payment.pk, amount=1_000, reason="goodwill",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())

    with pytest.raises(ActionRefused, match="no longer needs a person"):
        operation_resolve(operation_id=unknown.pk, actor=Actor.of_user(manager), carried_out=True, note="Seen.")


def test_the_queue_lists_what_needs_a_person_with_what_the_provider_last_said(operation, manager):
    [row] = needs_attention_queue(user=manager).items

    assert row.operation == operation
    assert not row.mine
    assert row.operation.last_check.startswith("The provider's answer does not show its refunds")


def test_the_system_itself_resolves_nothing(operation):
    # A machine is no manager: only a person who checked the provider's portal decides.
    with pytest.raises(ActionForbidden, match="Only managers"):
        operation_resolve(operation_id=operation.pk, actor=Actor.system("reconcile"), carried_out=True,
                          note="Seen it.")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN
    assert AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED).actor_label == "system: reconcile"


def test_the_list_pages_oldest_first_without_gaps_or_repeats_and_leaves_out_the_resolved(
    needing_person, agent, manager
):
    operations = [needing_person(agent) for _ in range(6)]
    # Two waiting since the same moment are ordered by id.
    Operation.objects.filter(pk=operations[3].pk).update(needs_person_since=operations[2].needs_person_since)
    operation_resolve(operation_id=operations[1].pk, actor=Actor.of_user(manager), carried_out=False,
                      note="Portal shows no refund.")
    waiting = [op.pk for op in operations if op.pk != operations[1].pk]

    pages = [needs_attention_queue(user=manager, per_page=2)]
    while pages[-1].has_next:
        pages.append(needs_attention_queue(user=manager, cursor=Cursor(after=pages[-1].last_key), per_page=2))
    back = [pages[-1]]
    while back[-1].has_previous:
        back.append(needs_attention_queue(user=manager, cursor=Cursor(before=back[-1].first_key), per_page=2))

    def keys(page):
        return [item.operation.pk for item in page.items]

    assert [pk for page in pages for pk in keys(page)] == waiting
    assert [keys(page) for page in reversed(back)] == [keys(page) for page in pages]
    # Each with its payment and order, read with the page.
    assert pages[0].items[0].operation.payment.order.number == operations[0].payment.order.number
