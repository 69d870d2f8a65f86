"""order_search: what an agent's search finds, through the indexes."""

import pytest
from django.db import connection

from payments.models import Order
from payments.selectors import Cursor, Unsettled, built_once, order_search, recent_orders, refund_requests_of
from payments.services.audit import Actor
from payments.services.orders import NewPayment, order_create

pytestmark = pytest.mark.django_db


def order(number, *, references=("ref",), providers=None, email="kari@example.com"):
    providers = providers or ["bambora"] * len(references)
    created, _ = order_create(
        number=number, customer_name="Kari Nordmann", customer_email=email, currency="EUR",
        total=1_000 * len(references),
        payments=[
            NewPayment(provider=provider, reference=reference, amount=1_000, captured=1_000)
            for provider, reference in zip(providers, references, strict=True)
        ],
        actor=Actor.system("tests"),
    )
    return created


def listed(result):
    assert result.exact_order_id is None
    return [found.order.number for found in result.page.items]


def test_an_order_number_typed_in_lower_case_opens_the_order():
    wanted = order("DEMO-1006", references=["bam-1006"])

    assert order_search(query="demo-1006").exact_order_id == wanted.pk
    assert order_search(query="DEMO-1006").exact_order_id == wanted.pk


def test_the_beginning_of_an_order_number_in_lower_case_lists_the_orders():
    order("DEMO-1006", references=["a-1"])
    order("DEMO-1007", references=["a-2"])
    order("SHOP-1", references=["a-3"])

    assert sorted(listed(order_search(query="demo-10"))) == ["DEMO-1006", "DEMO-1007"]


def test_a_reference_two_providers_share_lists_both_orders_beside_numbers_starting_with_it():
    # References are unique per provider: the same text may name payments at two of them.
    order("1001", references=["77"], providers=["bambora"])
    order("1002", references=["77"], providers=["simpleps"])
    order("7788", references=["x-1"])
    order("9999", references=["x-2"])

    assert sorted(listed(order_search(query="77"))) == ["1001", "1002", "7788"]


def test_a_search_for_nothing_known_lists_nothing():
    order("1001")

    assert listed(order_search(query="nothing-like-it")) == []


@pytest.fixture(params=["row values", "without row values"])
def tuple_comparison(request, monkeypatch):
    """Both ways a page is found from its cursor: PostgreSQL compares (created_at, id) with the
    cursor's row as a subquery; a database without row comparisons (SQLite, which the demo
    runs on) is given the row's values, which Django writes out as ORs (run here on
    PostgreSQL, which reads that SQL as well)."""
    if request.param == "without row values":
        monkeypatch.setattr(connection.features, "supports_tuple_lookups", False)


@pytest.mark.usefixtures("tuple_comparison")
def test_pages_of_the_order_list_follow_each_other_without_gaps_or_repeats():
    # Orders placed at the same moment are ordered by id, on every page alike.
    for number in range(23):
        order(f"{number:04d}", references=[f"p-{number}"])
    Order.objects.update(created_at=Order.objects.first().created_at)
    newest_first = list(Order.objects.order_by("-created_at", "-pk").values_list("number", flat=True))

    pages = [recent_orders(per_page=5)]
    while pages[-1].has_next:
        pages.append(recent_orders(cursor=Cursor(after=pages[-1].last_key), per_page=5))
    # And back again, from the last page.
    back = [pages[-1]]
    while back[-1].has_previous:
        back.append(recent_orders(cursor=Cursor(before=back[-1].first_key), per_page=5))

    assert [found.order.number for page in pages for found in page.items] == newest_first
    assert [page.has_next for page in pages] == [True, True, True, True, False]
    assert [page.has_previous for page in pages] == [False, True, True, True, True]
    assert [[found.order.number for found in page.items] for page in reversed(back)] == [
        [found.order.number for found in page.items] for page in pages
    ]
    assert back[-1].has_previous is False and all(page.has_next for page in back[1:])


@pytest.mark.usefixtures("tuple_comparison")
def test_a_page_after_a_row_that_does_not_exist_is_empty():
    order("0001", references=["p-1"])

    page = recent_orders(cursor=Cursor(after=10**12), per_page=5)

    assert page.items == [] and not page.has_next


def customer(number, name, *, email=None, reference=None):
    created, _ = order_create(
        number=number, customer_name=name, customer_email=email or f"{number.lower()}@example.com",
        currency="EUR", total=1_000,
        payments=[NewPayment(provider="bambora", reference=reference or f"ref-{number}", amount=1_000)],
        actor=Actor.system("tests"),
    )
    return created


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kari", ["A-1", "A-2"]),
        ("KARI", ["A-1", "A-2"]),
        ("Kåri", ["A-1", "A-2"]),
        ("nordm", ["A-1", "A-3"]),
        ("kari nord", ["A-1"]),
        ("nord kari", ["A-1"]),
        ("  kari   NORDMANN  ", ["A-1"]),
        ("kari hansen", []),
        ("ber", ["A-2"]),
        # Inside words only ("Kari", "Makarian"): not at a word's beginning.
        ("ari", []),
        # Words too short for a trigram of their own, alone and beside a longer one.
        ("ka", ["A-1", "A-2"]),
        ("ka nordm", ["A-1"]),
    ],
)
def test_a_name_is_found_by_the_beginnings_of_its_words_in_any_case_and_accents(query, expected):
    customer("A-1", "Kari Nordmann")
    customer("A-2", "Kari Berg")
    customer("A-3", "Ola Nordmann")
    customer("A-4", "Nikolai Makarian")  # "kari" inside a word, not at its start

    result = order_search(query=query)

    if len(expected) == 1:
        assert result.exact_order_id == Order.objects.get(number=expected[0]).pk
    else:
        assert sorted(listed(result)) == expected


@pytest.mark.parametrize("query", ["ase odegard", "ÅSE ØDEGÅRD", "Ase Ødeg", "Åse-Ødegård"])
def test_accented_and_nordic_letters_are_found_as_plain_ones(query):
    wanted = customer("B-1", "Åse Ødegård")
    customer("B-2", "Åse Hansen")

    assert order_search(query=query).exact_order_id == wanted.pk


def test_a_reference_is_found_in_any_case():
    wanted = customer("C-1", "Someone", reference="Vipps-ABC-123")
    customer("C-2", "Someone Else", reference="vipps-abc-1234")

    assert order_search(query="vipps-abc-123").exact_order_id == wanted.pk
    assert order_search(query="VIPPS-ABC-123").exact_order_id == wanted.pk


def test_the_beginning_of_an_email_lists_its_orders_in_any_case():
    customer("D-1", "One", email="Kari.Nordmann@Example.com")
    customer("D-2", "Two", email="kari.nordmann@example.com")
    customer("D-3", "Three", email="kari.hansen@example.com")

    assert sorted(listed(order_search(query="KARI.NORD"))) == ["D-1", "D-2"]
    assert sorted(listed(order_search(query="kari.nordmann@EXAMPLE.COM"))) == ["D-1", "D-2"]
    assert order_search(query="kari.h").exact_order_id == Order.objects.get(number="D-3").pk


def test_a_single_match_of_any_kind_opens_the_order():
    wanted = customer("E-1", "Ingrid Berg", email="ib@example.com")
    customer("E-2", "Lars Dahl", email="ld@example.com")

    for query in ["E-1", "ingrid", "berg", "ib@", "ib@example.com", "ref-e-1"]:
        assert order_search(query=query).exact_order_id == wanted.pk, query


def test_a_match_on_a_later_page_does_not_open_the_order():
    for number in range(3):
        customer(f"F-{number}", "Same Name")

    first = order_search(query="same", per_page=2)
    result = order_search(query="same", cursor=Cursor(after=first.page.last_key), per_page=2)

    assert [found.order.number for found in result.page.items] == ["F-0"]


def test_characters_special_to_like_are_searched_as_themselves():
    customer("G-1", "Percy", email="a_b%c@example.com")
    customer("G-2", "Percival", email="axbyc@example.com")

    assert order_search(query="a_b%").exact_order_id == Order.objects.get(number="G-1").pk
    assert listed(order_search(query="%")) == []


def test_lists_say_per_payment_what_is_unsettled_with_its_amount(make_user, settings):
    # given: one payment with a request waiting for approval, one with nothing under way
    from payments.services.ledger import new_idempotency_key
    from payments.services.refunds import refund_request

    settings.REFUND_APPROVAL_LIMITS = {}
    busy = order("H-1", references=["h-1", "h-2"])
    calm = order("H-2", references=["h-3"])
    agent = make_user(group="Support agents")
    first, _ = busy.payments.order_by("pk")
    refund_request(payment_id=first.pk, amount=400, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())

    # when
    page = order_search(query="H-").page

    # then
    by_number = {listed.order.number: listed for listed in page.items}
    assert [p.unsettled for p in by_number["H-1"].payments] == [(Unsettled("waiting for approval", 400),), ()]
    assert [p.unsettled for p in by_number["H-2"].payments] == [()]
    assert [p.payment.pk for p in by_number["H-2"].payments] == [calm.payments.get().pk]


def test_lists_say_per_payment_what_needs_a_person_with_its_amount(needing_person, make_user):
    # given: a refund of 25.00 that no check could prove, now needing a person
    operation = needing_person(make_user(group="Support agents"))

    # when
    [listed] = [listed for listed in recent_orders().items if listed.order.pk == operation.payment.order_id]

    # then: shown as needing a person, and not also as of unknown outcome
    assert [p.unsettled for p in listed.payments] == [(Unsettled("needs a person", 2_500),)]


def test_a_persons_requests_are_those_that_needed_approval_newest_first_with_their_state(
    make_user, make_payment, sandbox, settings
):
    from payments.services.ledger import new_idempotency_key
    from payments.services.refunds import refund_approve, refund_reject, refund_request, refund_withdraw

    # given: EUR refunds above 500.00 need approval
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "500"}
    kari, other, boss = make_user(group="Support agents"), make_user(group="Support agents"), make_user(
        "boss", group="Managers")
    payment = make_payment("bambora", currency="EUR", amount=1_000_000, captured=1_000_000)

    def ask(amount, user=kari):
        return refund_request(payment_id=payment.pk, amount=amount, reason="goodwill", actor=Actor.of_user(user),
                              idempotency_key=new_idempotency_key())

    small = ask(1_000)  # under the limit: no request
    approved = ask(60_000)
    refund_approve(operation_id=approved.pk, actor=Actor.of_user(boss))
    rejected = ask(70_000)
    refund_reject(operation_id=rejected.pk, actor=Actor.of_user(boss), note="Too much")
    withdrawn = ask(80_000)
    refund_withdraw(operation_id=withdrawn.pk, actor=Actor.of_user(kari))
    waiting = ask(90_000)
    ask(95_000, user=other)

    # when
    page = refund_requests_of(user=kari)

    # then
    assert [(r.operation.pk, r.state.label, r.state.waiting) for r in page.items] == [
        (waiting.pk, "Waiting for approval", True),
        (withdrawn.pk, "Withdrawn", False),
        (rejected.pk, "Rejected", False),
        (approved.pk, "Approved and refunded", False),
    ]
    assert page.items[2].state.detail == "boss wrote: “Too much”"
    assert small.pk not in [r.operation.pk for r in page.items]


def test_a_queryset_built_once_is_handed_out_as_a_clone_whose_rows_stay_its_own():
    building = []

    @built_once
    def orders():
        building.append(1)
        return Order.objects.order_by("pk")

    customer("C-1", "Kari Nordmann")
    first = orders()
    assert [order.number for order in first] == ["C-1"]
    customer("C-2", "Ola Nordmann")

    # A second request reads the table anew, not the rows the first one read.
    assert [order.number for order in orders()] == ["C-1", "C-2"]
    assert orders() is not first
    assert building == [1]
