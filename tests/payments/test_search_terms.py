"""Search terms: the streams a search reads newest first find what the conditions on the orders
themselves find, in the same order, on every page, however long the streams are."""

import itertools

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payments.customer_names import folded_name
from payments.models import Order, OrderSearchTerm
from payments.search_terms import search_terms
from payments.selectors import Cursor, order_search, orders_matching
from payments.services.audit import Actor
from payments.services.orders import order_create

pytestmark = pytest.mark.django_db


def customer(number, name, email):
    order, _ = order_create(number=number, customer_name=name, customer_email=email, currency="EUR", total=0,
                            payments=[], actor=Actor.system("tests"))
    return order


def terms_by_order():
    return sorted(OrderSearchTerm.objects.values_list("order__number", "kind", "head", "text", "created_at"))


def test_an_order_has_a_term_per_head_of_its_names_words_long_head_and_pair_and_two_for_its_email():
    customer("T-1", "Kari Karlsen-Ås Li Nordmann", "Kari.K@Example.COM")
    customer("T-2", "Ola", "ol@x.no")

    assert [row[:4] for row in terms_by_order()] == [
        # "Kari" and "Karlsen" share a head, written once; "as" and "li" are shorter than a head.
        ("T-1", "e", "kar", "kari.k@example.com"),
        ("T-1", "e", "kari.k", "kari.k@example.com"),
        ("T-1", "n", "kar", " kari karlsen as li nordmann"),
        ("T-1", "n", "kar nor", " kari karlsen as li nordmann"),
        ("T-1", "n", "karlse", " kari karlsen as li nordmann"),
        ("T-1", "n", "nor", " kari karlsen as li nordmann"),
        ("T-1", "n", "nordma", " kari karlsen as li nordmann"),
        ("T-2", "e", "ol@", "ol@x.no"),
        ("T-2", "e", "ol@x.n", "ol@x.no"),
        ("T-2", "n", "ola", " ola"),
    ]


PEOPLE = [
    ("Kari Karlsen-Ås Li", "Kari.K@Example.COM"),
    ("Åse Ødegård Zeta Alpha Ødegård", "ASE@ØDEGÅRD.NO"),
    ("ℌans Œrsted", "HANS@EXAMPLE.COM"),
    ("Jo Li", "jo@ex.no"),
    ("Li", "l@x.n"),
    ("Ærlig Øst Ødin Ñandú Zoë", "zoe@example.com"),
    ("Nikolai Makarian Nikolaisen", "n.m@example.com"),
]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_for_stored_orders_the_terms_order_create_makes():
    # given: orders stored before 0024
    executor = MigrationExecutor(connection)
    executor.migrate([("payments", "0023_refold_decomposed_capitals")])
    old_apps = executor.loader.project_state([("payments", "0023_refold_decomposed_capitals")]).apps
    for number, (name, email) in enumerate(PEOPLE):
        old_apps.get_model("payments", "Order").objects.create(
            number=f"M-{number}", customer_name=name, customer_name_folded=folded_name(name), customer_email=email,
            currency="NOK", total=1,
        )

    # when
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    # then
    assert terms_by_order() == sorted(
        (order.number, kind, head, text, order.created_at)
        for order in Order.objects.all()
        for kind, head, text in search_terms(order.customer_name_folded, order.customer_email)
    )
    assert OrderSearchTerm.objects.filter(kind="e", head="ase@ød").exists()


NAMES = ["Kari Nordmann", "Karin Nordby", "Ola Nordmann", "Kari Berg", "Nora Karlsen", "Karl Nord"]
QUERIES = ["kari nord", "nord", "kar", "nordm", "kari", "ola nordmann", "karl", "nora", "berg kar", "k nord",
           "kari.nord", "kari@", "nora.", "ka", "nobody", "t-", "nordmann", "karoline", "nordmannx", "kari karlsen",
           "karin.nordmann"]


@pytest.fixture
def crowd():
    # Names and emails whose heads are shared by many orders that a query does not find: the
    # page's orders are spread over each stream, and some queries find a few orders only.
    emails = ["kari.nordmann", "kari.n", "karin", "nora.k", "kari.berg", "karl"]
    for number, (name, email) in enumerate(itertools.islice(itertools.cycle(zip(NAMES, emails, strict=True)), 47)):
        customer(f"T-{number}", name if number % 11 else "Karoline Nordheim", f"{email}{number % 3}@example.com")


def walked(query, per_page):
    """The numbers of every page of a search, forwards; then the same read back from the last
    page."""
    forwards, cursor = [], Cursor()
    while True:
        result = order_search(query=query, cursor=cursor, per_page=per_page)
        if result.page is None:  # one order found: the desk opens it
            return [Order.objects.get(pk=result.exact_order_id).number], None
        forwards += [listed.order.number for listed in result.page.items]
        if not result.page.has_next:
            break
        cursor = Cursor(after=result.page.last_key)
    page = result.page
    backwards = [listed.order.number for listed in page.items]
    while page.has_previous:
        page = order_search(query=query, cursor=Cursor(before=page.first_key), per_page=per_page).page
        backwards = [listed.order.number for listed in page.items] + backwards
    return forwards, backwards


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize("window", [3, 10, 5000])
def test_streams_find_what_the_conditions_find_on_every_page(settings, window):
    settings.SEARCH_STREAM_WINDOW = window
    for query in QUERIES:
        expected = list(orders_matching(query).values_list("number", flat=True))
        forwards, backwards = walked(query, per_page=4)

        assert forwards == expected, query
        assert backwards in (None, forwards), query
