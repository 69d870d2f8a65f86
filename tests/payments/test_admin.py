"""The Django admin is for reading: nobody, not even a superuser, adds, changes or deletes an
order, a payment, an operation or an audit event through it. Auditors read it, support agents
cannot open it, and its lists find rows through the indexes."""

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from payments.admin import EstimatingPaginator, OrderAdmin
from payments.models import AuditEvent, Operation, Order, Payment
from payments.money import format_money
from payments.services.audit import Actor
from payments.services.orders import NewPayment, order_create

pytestmark = pytest.mark.django_db

LONG_REFERENCE = "bambora-" + "7" * 1_992  # 2,000 characters


def place(number, *, email="kari@example.com", currency="NOK", payments=()):
    order, _ = order_create(
        number=number,
        customer_name="Kari Nordmann",
        customer_email=email,
        currency=currency,
        total=sum(p.amount for p in payments),
        payments=list(payments),
        actor=Actor.system("tests"),
    )
    return order


@pytest.fixture
def orders():
    """Three orders, two of them with numbers beginning ABC-10, in NOK and JPY."""
    return {
        "abc1": place(
            "ABC-1001",
            email="Kari@Example.com",
            payments=[NewPayment(provider="vipps", reference="vipps-abc-1001", amount=125_000, captured=100_000)],
        ),
        "abc2": place(
            "ABC-1002",
            email="ola@example.com",
            payments=[NewPayment(provider="bambora", reference=LONG_REFERENCE, amount=50_000, captured=50_000)],
        ),
        "xyz": place(
            "XYZ-1001",
            email="per@example.com",
            currency="JPY",
            payments=[NewPayment(provider="optty", reference="optty-xyz-1001", amount=12_000)],
        ),
    }


def rows():
    """Everything the admin could change, to compare before and after."""
    return (
        list(Order.objects.order_by("pk").values()),
        list(Payment.objects.order_by("pk").values()),
        list(Operation.objects.order_by("pk").values()),
        list(AuditEvent.objects.order_by("pk").values()),
    )


def url(model, view, *args):
    return reverse(f"admin:payments_{model}_{view}", args=args)


def an_object_of(model, orders):
    payment = orders["abc1"].payments.get()
    return {
        "order": orders["abc1"],
        "payment": payment,
        "operation": payment.operations.get(),
        "auditevent": AuditEvent.objects.filter(payment=payment).first(),
    }[model]


FORGED = {
    "order": {"number": "FORGED-1", "customer_name": "Mallory", "customer_email": "m@example.com",
              "currency": "NOK", "total": "1", "created_at_0": "2024-01-01", "created_at_1": "00:00:00"},
    "payment": {"order": "1", "provider": "vipps", "reference": "forged", "currency": "NOK",
                "authorized": "999999", "captured": "999999", "cancelled": "0", "refunded": "0"},
    "operation": {"payment": "1", "kind": "refund", "amount": "100", "status": "succeeded",
                  "settled_amount": "100", "idempotency_key": "forged-key"},
    "auditevent": {"actor_label": "nobody", "action": "refund.approved", "message": "forged"},
}
MODELS = list(FORGED)


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_cannot_open_the_add_page(client, superuser, model):
    client.force_login(superuser)

    assert client.get(url(model, "add")).status_code == 403


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_cannot_add(client, superuser, orders, model):
    client.force_login(superuser)
    before = rows()

    response = client.post(url(model, "add"), FORGED[model])

    assert response.status_code == 403
    assert rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_sees_the_change_page_read_only_and_cannot_save(client, superuser, orders, model):
    client.force_login(superuser)
    obj = an_object_of(model, orders)
    before = rows()

    page = client.get(url(model, "change", obj.pk))
    response = client.post(url(model, "change", obj.pk), FORGED[model])

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    assert rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_cannot_delete(client, superuser, orders, model):
    client.force_login(superuser)
    obj = an_object_of(model, orders)
    before = rows()

    page = client.get(url(model, "delete", obj.pk))
    response = client.post(url(model, "delete", obj.pk), {"post": "yes"})

    assert page.status_code == 403
    assert response.status_code == 403
    assert rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_the_lists_offer_no_bulk_delete(client, superuser, orders, model):
    client.force_login(superuser)
    obj = an_object_of(model, orders)
    before = rows()

    page = client.get(url(model, "changelist"))
    client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )

    assert "delete_selected" not in page.content.decode()
    assert rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_an_auditor_reads_every_list(client, auditor, orders, model):
    client.force_login(auditor)

    response = client.get(url(model, "changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0


@pytest.mark.parametrize("model", MODELS)
def test_an_auditor_reads_an_object_but_cannot_save_it(client, auditor, orders, model):
    client.force_login(auditor)
    obj = an_object_of(model, orders)
    before = rows()

    assert client.get(url(model, "change", obj.pk)).status_code == 200
    assert client.post(url(model, "change", obj.pk), FORGED[model]).status_code == 403
    assert rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_a_support_agent_cannot_open_the_admin(client, agent, orders, model):
    client.force_login(agent)

    for response in (client.get(url(model, "changelist")), client.get(url(model, "change", an_object_of(model, orders).pk))):
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("group", ["Support agents", "Managers"])
def test_staff_status_alone_does_not_open_the_admin_to_the_desk_roles(client, make_user, orders, group):
    # Desk roles hold view permissions for the desk; the admin is for auditors and superusers.
    client.force_login(make_user(group=group, is_staff=True))

    response = client.get(url("payment", "changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_the_payment_list_shows_the_aggregate(client, auditor, orders):
    client.force_login(auditor)

    page = client.get(url("payment", "changelist")).content.decode()

    for heading in ("Authorized", "Captured", "Cancelled", "Refunded"):
        assert f">{heading}<" in page
    assert format_money(125_000, "NOK") in page  # authorized
    assert format_money(100_000, "NOK") in page  # captured
    assert format_money(12_000, "JPY") in page


def listed(client, model, **params):
    response = client.get(url(model, "changelist"), params)
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ABC-10", {"abc1", "abc2"}),
        ("ABC-1002", {"abc2"}),
        ("XYZ", {"xyz"}),
        ("1001", set()),  # a prefix, not a substring
        ("KARI@EXAMPLE.COM", {"abc1"}),
        ("kari@example.com", {"abc1"}),
        ("example.com", set()),  # the whole address
        (LONG_REFERENCE, {"abc2"}),
        ("optty-xyz-1001", {"xyz"}),
        (LONG_REFERENCE[:-1], set()),  # the exact reference
    ],
    ids=["prefix", "full number", "other prefix", "not a substring", "email upper", "email lower",
         "not part of an email", "2,000-character reference", "reference", "not part of a reference"],
)
def test_searching_orders_payments_and_operations(client, auditor, orders, query, expected):
    client.force_login(auditor)
    expected_orders = {orders[name] for name in expected}
    expected_payments = {p for order in expected_orders for p in order.payments.all()}

    assert listed(client, "order", q=query) == {order.pk for order in expected_orders}
    assert listed(client, "payment", q=query) == {p.pk for p in expected_payments}
    assert listed(client, "operation", q=query) == {
        op.pk for p in expected_payments for op in p.operations.all()
    }


def test_a_reference_finds_only_its_own_payment_of_an_order(client, auditor, orders):
    second = Payment.objects.create(
        order=orders["abc1"], provider="vipps", reference="vipps-abc-1001-second", currency="NOK", authorized=1
    )
    client.force_login(auditor)

    assert listed(client, "payment", q="vipps-abc-1001-second") == {second.pk}
    assert listed(client, "order", q="vipps-abc-1001-second") == {orders["abc1"].pk}


def currency_choices(client, model):
    response = client.get(url(model, "changelist"))
    specs = [s for s in response.context["cl"].filter_specs if getattr(s, "parameter_name", None) == "currency"]
    return [choice for spec in specs for choice in spec.lookup_choices]


def test_the_currency_filter_offers_only_currencies_in_use(client, auditor, orders):
    client.force_login(auditor)

    assert currency_choices(client, "order") == [("JPY", "JPY"), ("NOK", "NOK")]
    assert currency_choices(client, "payment") == [("JPY", "JPY"), ("NOK", "NOK")]
    assert listed(client, "order", currency="JPY") == {orders["xyz"].pk}
    assert listed(client, "payment", currency="NOK") == {
        orders["abc1"].payments.get().pk,
        orders["abc2"].payments.get().pk,
    }


def test_the_currency_filter_offers_nothing_without_orders(client, auditor):
    client.force_login(auditor)

    assert currency_choices(client, "order") == []
    assert currency_choices(client, "payment") == []


# Counting: exact up to a limit, PostgreSQL's estimate beyond it ------------------------------


class FewRowsPaginator(EstimatingPaginator):
    EXACT_UP_TO = 3


def make_orders(count, *, currency="NOK"):
    Order.objects.bulk_create(
        Order(number=f"N-{currency}-{i}", customer_name="K", customer_email="k@example.com",
              currency=currency, total=100)
        for i in range(count)
    )


@pytest.mark.parametrize("count", [0, 1, 3])
def test_up_to_the_limit_the_count_is_exact(count):
    make_orders(count)

    paginator = FewRowsPaginator(Order.objects.order_by("pk"), 2)

    assert paginator.count == count
    assert paginator.estimated is False


def test_over_the_limit_the_count_is_an_estimate_of_at_least_what_was_counted():
    make_orders(6)

    paginator = FewRowsPaginator(Order.objects.order_by("pk"), 2)

    # `.estimated` is known once the count is (the admin's list reads the count first).
    assert paginator.count >= FewRowsPaginator.EXACT_UP_TO + 1
    assert paginator.estimated is True


def test_a_filtered_list_under_the_limit_is_counted_exactly_however_large_the_table():
    make_orders(10, currency="NOK")
    make_orders(2, currency="JPY")

    paginator = FewRowsPaginator(Order.objects.filter(currency="JPY").order_by("pk"), 2)

    assert (paginator.count, paginator.estimated) == (2, False)


def test_the_real_limit_is_ten_thousand():
    assert EstimatingPaginator.EXACT_UP_TO == 10_000


class FewRowsOrderAdmin(OrderAdmin):
    paginator = FewRowsPaginator


def order_list_count_line(superuser):
    """The line under the list that says how many orders there are."""
    request = RequestFactory().get(url("order", "changelist"))
    request.user = superuser
    response = FewRowsOrderAdmin(Order, admin.site).changelist_view(request)
    page = response.render().content.decode()
    [paginator] = re.findall(r'<p class="paginator">(.*?)</p>', page, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", paginator).split())


def test_the_list_says_about_when_it_shows_an_estimate(superuser):
    make_orders(6)

    line = order_list_count_line(superuser)

    estimate = re.search(r"\babout (\d+) orders\b", line)
    assert estimate is not None
    assert int(estimate[1]) >= 4


def test_the_list_gives_the_exact_count_under_the_limit(superuser):
    make_orders(3)

    assert order_list_count_line(superuser) == "3 orders"


def test_every_link_on_a_record_page_opens_for_an_auditor(client, auditor, agent, manager, orders, settings):
    # given: a request by an agent that a manager rejected, so that the operation and its
    # events name people
    settings.REFUND_APPROVAL_LIMITS = {}  # every refund needs approval
    from payments.services.ledger import new_idempotency_key
    from payments.services.refunds import refund_reject, refund_request

    payment = orders["abc1"].payments.get()
    request = refund_request(payment_id=payment.pk, amount=100_000, reason="goodwill",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    refund_reject(operation_id=request.pk, actor=Actor.of_user(manager), note="Not this time")
    client.force_login(auditor)
    pages = [url("operation", "change", request.pk)] + [
        url("auditevent", "change", event.pk) for event in AuditEvent.objects.filter(operation=request)
    ]

    for page in pages:
        html = client.get(page).content.decode()
        # when: every link in the record's fields is followed
        form = html[html.index('<div id="content-main"'):]
        links = set(re.findall(r'<div class="readonly"><a href="([^"]+)"', form))
        assert links, page
        # then: it opens
        for link in links:
            assert client.get(link).status_code == 200, (page, link)
    # and the people are named all the same
    operation_page = client.get(pages[0]).content.decode()
    assert re.search(r'<label>Requested by:</label>\s*<div class="readonly">agent</div>', operation_page)
    assert re.search(r'<label>Decided by:</label>\s*<div class="readonly">manager</div>', operation_page)


def test_audit_events_are_found_by_order_number(client, auditor, orders):
    client.force_login(auditor)

    found = client.get(url("auditevent", "changelist") + "?q=abc-1002").context["cl"].result_list

    assert {event.order_id for event in found} == {orders["abc2"].pk}
    assert len(found) == AuditEvent.objects.filter(order=orders["abc2"]).count() > 0


def test_audit_events_are_still_found_by_actor(client, auditor, orders):
    client.force_login(auditor)

    found = client.get(url("auditevent", "changelist") + "?q=SYSTEM:%20tests").context["cl"].result_list

    assert len(found) == AuditEvent.objects.filter(actor_label="system: tests").count() == 3


def test_an_audit_events_title_gives_the_time_the_fields_give(client, auditor, settings):
    # given: an event written at 23:30 UTC, which is already the next day in Oslo
    from datetime import UTC, datetime

    settings.TIME_ZONE = "Europe/Oslo"
    late = AuditEvent.objects.create(actor_label="late", action="order.received",
                                     created_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC))
    client.force_login(auditor)

    html = client.get(url("auditevent", "change", late.pk)).content.decode()

    assert "<title>2026-02-01 00:30 late order.received" in html
    assert "Feb. 1, 2026, 12:30 a.m." in html


@pytest.mark.parametrize(
    ("model", "query"),
    [("order", ""), ("payment", ""), ("payment", "?provider__exact=vipps&q=ABC"), ("operation", "?o=-2"),
     ("auditevent", ""), ("providernotification", ""), ("export", ""), ("apitoken", "")],
)
def test_the_lists_rows_are_what_djangos_own_code_writes(superuser, orders, model, query):
    # backoffice/templatetags/admin_results.py writes the rows for less; Django's
    # items_for_result() is the reference, links (with the list's filters kept) included.
    from django.apps import apps
    from django.contrib.admin.templatetags.admin_list import items_for_result

    from backoffice.templatetags.admin_results import _rows
    from payments.models import ApiToken, Export, ProviderNotification

    Export.objects.create(kind="payments", requested_by=superuser, selection={}, description="all")
    ApiToken.objects.create(name="shop", token_hash="0" * 64, prefix="abc")
    ProviderNotification.objects.create(provider="vipps", verified=False, headers={}, body="{}")
    request = RequestFactory().get(url(model, "changelist") + query)
    request.user = superuser
    changelist = admin.site.get_model_admin(apps.get_model("payments", model)).get_changelist_instance(request)
    changelist.formset = None

    ours = _rows(changelist)

    assert ours is not None and len(ours) == len(changelist.result_list) > 0
    assert [list(map(str, row)) for row in ours] == [
        list(map(str, items_for_result(changelist, row, None))) for row in changelist.result_list
    ]


def test_the_lists_show_times_in_the_desks_zone(client, auditor, settings):
    from datetime import UTC, datetime

    settings.TIME_ZONE = "Europe/Oslo"
    AuditEvent.objects.create(actor_label="late", action="order.received",
                              created_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC))
    client.force_login(auditor)

    html = client.get(url("auditevent", "changelist")).content.decode()

    assert re.search(r'<th class="field-created_at"><a href="[^"]+">2026-02-01 00:30</a></th>', html)
