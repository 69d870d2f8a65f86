"""order_search: what an agent's search finds, through the indexes."""

import pytest

from payments.models import Order
from payments.selectors import order_search, recent_orders
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
    return [found.number for found in result.page.items]


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


def test_pages_of_the_order_list_follow_each_other_without_gaps_or_repeats():
    # Orders placed at the same moment are ordered by id, on every page alike.
    for number in range(23):
        order(f"{number:04d}", references=[f"p-{number}"])
    Order.objects.update(created_at=Order.objects.first().created_at)
    newest_first = list(Order.objects.order_by("-created_at", "-pk").values_list("number", flat=True))

    pages = [recent_orders(page=number, per_page=5) for number in range(1, 7)]

    assert [found.number for page in pages for found in page.items] == newest_first
    assert [page.has_next for page in pages] == [True, True, True, True, False, False]
    assert pages[-1].items == []
