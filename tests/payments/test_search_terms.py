"""Search terms: the streams a search reads newest first find what the conditions on the orders
themselves find, in the same order, on every page, however long the streams are."""

import itertools

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from payments.customer_names import folded_name
from payments.models import Order, OrderSearchTerm
from payments.selectors import Cursor, order_search, orders_matching, page_of
from payments.services.audit import Actor
from payments.services.orders import order_create

pytestmark = pytest.mark.django_db


def customer(number, name, email):
    order, _ = order_create(number=number, customer_name=name, customer_email=email, currency="EUR", total=0,
                            payments=[], actor=Actor.system("tests"))
    return order


def terms_by_order():
    return sorted(OrderSearchTerm.objects.values_list("order__number", "kind", "head", "text", "created_at"))


def test_an_order_is_stored_with_a_term_per_head_of_its_names_words_long_head_and_pair_and_for_its_email():
    customer("T-1", "Kari Karlsen-Ås Li Nordmann", "Kari.K@Example.COM")
    customer("T-2", "Ola", "ol@x.no")

    assert [row[:4] for row in terms_by_order()] == [
        # The email in capitals, as `istartswith` compares it.
        ("T-1", "e", "KAR", "KARI.K@EXAMPLE.COM"),
        ("T-1", "e", "KARI.K", "KARI.K@EXAMPLE.COM"),
        # "Kari" and "Karlsen" share a head, written once; "as" and "li" are shorter than a head.
        ("T-1", "n", "kar", " kari karlsen as li nordmann"),
        ("T-1", "n", "kar nor", " kari karlsen as li nordmann"),
        ("T-1", "n", "karlse", " kari karlsen as li nordmann"),
        ("T-1", "n", "nor", " kari karlsen as li nordmann"),
        ("T-1", "n", "nordma", " kari karlsen as li nordmann"),
        ("T-2", "e", "OL@", "OL@X.NO"),
        ("T-2", "e", "OL@X.N", "OL@X.NO"),
        ("T-2", "n", "ola", " ola"),
    ]


def test_a_name_of_many_words_has_a_term_for_its_heads_not_for_every_pair_of_them():
    # given: a name of the most words an order's name holds (200 characters), each its own head
    words = [f"{a}{b}x" for a, b in itertools.product("abcdefghij", repeat=2)][:50]
    many = customer("W-1", " ".join(words)[:200], "w@example.com")
    eight = customer("W-2", "Aaa Bbb Ccc Ddd Eee Fff Ggg Hhh", "v@example.com")

    # then
    assert OrderSearchTerm.objects.filter(order=many, head="*").count() == 1
    assert OrderSearchTerm.objects.filter(order=many).count() == 50 + 1 + 2
    assert OrderSearchTerm.objects.filter(order=eight, kind="n").count() == 8 + 28
    assert not OrderSearchTerm.objects.filter(order=eight, head="*").exists()


PEOPLE = [
    ("Kari Karlsen-Ås Li", "Kari.K@Example.COM"),
    ("Åse Ødegård Zeta Alpha Ødegård", "ASE@ØDEGÅRD.NO"),
    ("ℌans Œrsted", "HANS@EXAMPLE.COM"),
    ("Jo Li", "jo@ex.no"),
    ("Li", "l@x.n"),
    ("Ærlig Øst Ødin Ñandú Zoë", "zoe@example.com"),
    ("Nikolai Makarian Nikolaisen", "\u212aari@example.com"),
    ("A B C Dan Eva Fia Gro Hal Ida Jon Kai Liv", "many@example.com"),
]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_stored_orders_the_terms_new_orders_get():
    # given: orders stored before 0024
    executor = MigrationExecutor(connection)
    executor.migrate([("payments", "0023_refold_decomposed_capitals")])
    old_apps = executor.loader.project_state([("payments", "0023_refold_decomposed_capitals")]).apps
    for number, (name, email) in enumerate(PEOPLE):
        old_apps.get_model("payments", "Order").objects.create(
            number=f"OLD-{number}", customer_name=name, customer_name_folded=folded_name(name), customer_email=email,
            currency="NOK", total=1,
        )

    # when
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    for number, (name, email) in enumerate(PEOPLE):
        customer(f"NEW-{number}", name, email)

    # then: the same terms, once each
    def terms(prefix):
        return sorted((number.removeprefix(prefix), kind, head, text) for number, kind, head, text, _ in terms_by_order()
                      if number.startswith(prefix))

    assert terms("OLD-") == terms("NEW-")
    assert len(terms("OLD-")) > 6 * len(PEOPLE)


NAMES = ["Kari Nordmann", "Karin Nordby", "Ola Nordmann", "Kari Berg", "Nora Karlsen", "Karl Nord"]
QUERIES = ["kari nord", "nord", "kar", "nordm", "kari", "ola nordmann", "karl", "nora", "berg kar", "k nord",
           "kari.nord", "kari@", "nora.", "ka", "nobody", "t-", "nordmann", "karoline", "nordmannx", "kari karlsen",
           "karin.nordmann", "\u212aari.n", "kari.n", "sam.k", "\u017fam", "kari anne", "nordby karin", "kari\\",
           "kari%", "kar_n.n"]


@pytest.fixture
def crowd():
    # Names and emails whose heads are shared by many orders that a query does not find: the
    # page's orders are spread over each stream, and some queries find a few orders only.
    emails = ["kari.nordmann", "kari.n", "karin", "nora.k", "kari.berg", "karl"]
    for number, (name, email) in enumerate(itertools.islice(itertools.cycle(zip(NAMES, emails, strict=True)), 47)):
        customer(f"T-{number}", name if number % 11 else "Karoline Nordheim", f"{email}{number % 3}@example.com")
    # Names too long to have every pair of heads, emails whose capitals are not plain letters'.
    customer("T-47", "Kari Anne Berit Cecilie Dorte Eva Frida Gro Hilde Nordmann", "\u212aari.n@example.com")
    customer("T-48", "Karin Ida Jon Kai Liv Mia Nils Ola Per Nordby", "\u017fam.kari@example.com")
    # Orders stored at the same moment, told apart by their ids.
    moment = timezone.now()
    for number in range(49, 55):
        Order.objects.create(number=f"T-{number}", customer_name="Kari Nordmann", customer_name_folded=" kari nordmann",
                             customer_email="kari.nordmann@example.com", currency="EUR", total=0, created_at=moment)


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


@pytest.mark.usefixtures("crowd")
def test_a_page_from_any_order_is_the_page_the_conditions_give(settings):
    # Cursors naming an order the search finds, one it does not find, and one that is not there.
    settings.SEARCH_STREAM_WINDOW = 3
    found = Order.objects.get(number="T-50").pk
    other = Order.objects.get(number="T-3").pk  # Kari Berg
    for query in ["kari nord", "kari.nordmann", "nordmann"]:
        for cursor in [Cursor(after=found), Cursor(before=found), Cursor(after=other), Cursor(before=other),
                       Cursor(after=10**9), Cursor(before=10**9)]:
            expected = page_of(orders_matching(query), cursor=cursor, per_page=4)
            page = order_search(query=query, cursor=cursor, per_page=4).page

            assert [listed.order.pk for listed in page.items] == [order.pk for order in expected.items], (query, cursor)
            assert (page.has_previous, page.has_next) == (expected.has_previous, expected.has_next), (query, cursor)
