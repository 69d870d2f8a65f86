"""Django admin for auditing: everything readable, nothing that records money changeable, by
anybody, superusers included. Changes to money go through the services, never through here.

The lists stay fast over millions of rows: they never count a large result exactly, their
filters offer values without reading whole tables, their search goes through indexes, and they
sort only by indexed columns."""

import json
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, ClassVar

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from payments.exports import AUDIT_HEADER, PAYMENT_HEADER, audit_rows, payment_rows
from payments.models import (
    ApiToken,
    AuditEvent,
    Export,
    ExportKind,
    Operation,
    Order,
    Payment,
    ProviderNotification,
)
from payments.money import format_money
from payments.roles import may
from payments.selectors import order_number_forms, payments_by_reference, payments_for_export
from payments.services.api_tokens import api_token_revoke
from payments.services.audit import Actor
from payments.services.exports import export_request


class EstimatingPaginator(Paginator):
    """Counts a list exactly up to EXACT_UP_TO rows; beyond that it takes PostgreSQL's
    estimate (`.estimated` is then true, and the list says "about"). An exact count of millions
    of rows reads them all, on every page view."""

    EXACT_UP_TO = 10_000
    estimated = False

    @cached_property
    def count(self):
        rows = self.object_list.order_by()
        counted = rows[: self.EXACT_UP_TO + 1].count()
        if counted <= self.EXACT_UP_TO or connection.vendor != "postgresql":
            return counted if counted <= self.EXACT_UP_TO else rows.count()
        self.estimated = True
        # The rows' ids only: the estimate is the same, and planning the list's joins for it
        # cost more than the count.
        plan = json.loads(rows.values("pk").explain(format="json"))
        return max(int(plan[0]["Plan"]["Plan Rows"]), counted)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing added, changed or deleted. `detail_fields` lists what a record's page shows,
    amounts formatted in their currency (the fields hold minor units)."""

    paginator = EstimatingPaginator
    detail_fields: ClassVar[Sequence[str | Callable[[Any], str]] | None] = None
    # Counting every row of a table of millions on each page view is the slow part of the
    # admin, and so are the per-filter counts ("facets").
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return self.detail_fields or super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.detail_fields or super().get_readonly_fields(request, obj)


class CurrencyFilter(admin.SimpleListFilter):
    """The currencies in use, found by walking the currency index one value at a time (a
    loose index scan) instead of reading every row for SELECT DISTINCT."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        table = model_admin.model._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"""
                    WITH RECURSIVE used (currency) AS (
                        (SELECT currency FROM {table} ORDER BY currency LIMIT 1)
                        UNION ALL
                        SELECT (SELECT currency FROM {table} WHERE currency > used.currency
                                ORDER BY currency LIMIT 1)
                        FROM used WHERE used.currency IS NOT NULL
                    )
                    SELECT currency FROM used WHERE currency IS NOT NULL
                    """
                )
            else:
                cursor.execute(f"SELECT DISTINCT currency FROM {table} ORDER BY currency")
            return [(currency, currency) for (currency,) in cursor.fetchall()]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


def _amount(field: str, label: str) -> Callable[[Any], str]:
    """A column or detail field showing the amount `field` in its currency: "1,250.00 NOK"."""

    @admin.display(description=label, ordering=field)
    def display(obj: Any) -> str:
        value = getattr(obj, field)
        currency = obj.currency if hasattr(obj, "currency") else obj.payment.currency
        return "" if value is None else format_money(value, currency)

    return display


def _moment(field: str, label: str) -> Callable[[Any], str]:
    """A list column showing the time in `field` as the desk and the records' titles do, in the
    desk's zone ("2026-11-24 10:00"): Django's localized date format cost more than the rest of
    a row. Sorts by the field; put the column in `sortable_by` too. Its CSS class is the field's.

    django-stubs types `sortable_by` as names only, where Django looks up the items of
    `list_display` in it, these columns included: hence their lines' type: ignore."""

    @admin.display(description=label, ordering=field)
    def display(obj: Any) -> str:
        value = getattr(obj, field)
        return "" if value is None else f"{timezone.localtime(value):%Y-%m-%d %H:%M}"

    display.__name__ = field
    return display


# Every list's creation time: one column serves them all (Django finds it in each list's
# `sortable_by` by identity).
CREATED_AT = _moment("created_at", "Created at")


def _person(field: str, label: str) -> Callable[[Any], str]:
    """A detail field naming the person in `field` without linking to their user record: only
    superusers may open those, and auditors following the link got a 403 page."""

    @admin.display(description=label)
    def display(obj: Any) -> str:
        user = getattr(obj, field)
        return "" if user is None else user.get_username()

    return display


class FindBySearchMixin(admin.ModelAdmin):
    """Admin search that uses the indexes: order number by prefix, customer email exactly
    (any case), provider reference exactly. A substring search over millions of rows would
    read them all. `order_prefix` leads from the listed model to its order;
    `reference_match` says which rows belong to the payments a reference names."""

    order_prefix = ""

    def reference_match(self, payment_ids, order_ids):
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            return queryset.filter(**{f"{self.order_prefix}customer_email__iexact": term}), False
        by_number = Q(**{f"{self.order_prefix}number__startswith": term})
        named = list(payments_by_reference(term).values_list("pk", "order_id"))
        if not named:
            return queryset.filter(by_number), False
        # A UNION of the two, each through its own index: ORed across the join to orders,
        # PostgreSQL would read the whole table.
        payment_ids, order_ids = zip(*named, strict=True)
        rows = self.model.objects.order_by()
        matches = rows.filter(by_number).values("pk").union(
            rows.filter(self.reference_match(payment_ids, order_ids)).values("pk")
        )
        return queryset.filter(pk__in=matches), False


class CsvExportMixin(admin.ModelAdmin):
    """An "Export CSV" button on the list, for people with the export permission (auditors):
    it queues an export of everything the list's filters and search select, which the task
    worker makes (payments.services.exports) and the person's Exports page offers."""

    change_list_template = "admin/change_list_with_export.html"
    export_kind = ""
    export_header: ClassVar[Sequence[str]] = ()

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = require_POST(self.admin_site.admin_view(self.export_csv))
        return [path("export/", view, name="%s_%s_export" % info), *super().get_urls()]

    def export_queryset(self, queryset):
        """What the export reads for the list's `queryset`, in the export's order."""
        raise NotImplementedError

    def export_rows(self, queryset):
        raise NotImplementedError

    def selected(self, request):
        """The list's own filters and search, without its pagination."""
        return self.get_changelist_instance(request).get_queryset(request)

    def export_csv(self, request):
        if not (self.has_view_permission(request) and request.user.has_perm("payments.export_payments")):
            raise PermissionDenied
        querystring = request.GET.urlencode()
        try:
            self.selected(request)
        except IncorrectLookupParameters:
            self.message_user(request, "These filters select nothing to export.", messages.ERROR)
            return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        export_request(
            actor=Actor.of_request(request),
            kind=self.export_kind,
            selection={"admin": self.opts.label_lower, "querystring": querystring},
            description=f"admin list of {self.opts.verbose_name_plural}, {querystring or 'everything'}",
        )
        self.message_user(
            request,
            "The export is queued: the Exports page shows its progress and offers the file when it is made.",
        )
        return redirect("exports")


def admin_export_source(*, model_label, user, querystring):
    """(header, queryset, row function) of the export of an admin list (the model's label,
    e.g. "payments.payment") as `user` saw it with `querystring`; for the task worker."""
    model_admin = admin.site.get_model_admin(apps.get_model(model_label))
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(querystring)
    request.user = user
    queryset = model_admin.export_queryset(model_admin.selected(request))
    return model_admin.export_header, queryset, model_admin.export_rows


_PAYMENT_COLUMNS: list[str | Callable[[Any], str]] = [
    "provider", "reference", _amount("authorized", "Authorized"), _amount("captured", "Captured"),
    _amount("cancelled", "Cancelled"), _amount("refunded", "Refunded"),
]  # fmt: skip


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    show_change_link = True
    # django-stubs types `fields` and `readonly_fields` as names only; Django takes callables
    # there too, as in list_display.
    fields = _PAYMENT_COLUMNS  # type: ignore[assignment]
    readonly_fields = _PAYMENT_COLUMNS  # type: ignore[assignment]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(FindBySearchMixin, ReadOnlyAdmin):
    def reference_match(self, payment_ids, order_ids):
        return Q(pk__in=order_ids)

    list_display = ["number", "customer_name", "customer_email", _amount("total", "Total"), CREATED_AT]
    list_filter = [CurrencyFilter, "created_at"]
    sortable_by = ["number", CREATED_AT]  # type: ignore[list-item]  # see _moment
    search_fields = ["number"]
    search_help_text = "Order number (or its beginning), or customer email."
    inlines = [PaymentInline]
    detail_fields = ["number", "customer_name", "customer_email", _amount("total", "Total"), "created_at"]


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, FindBySearchMixin, ReadOnlyAdmin):
    export_kind = ExportKind.PAYMENTS
    export_header = PAYMENT_HEADER

    def export_queryset(self, queryset):
        return payments_for_export().filter(pk__in=queryset.order_by().values("pk"))

    def export_rows(self, queryset):
        return payment_rows(queryset)

    list_display = [
        "id",
        "order",
        "provider",
        "short_reference",
        "currency",
        _amount("authorized", "Authorized"),
        _amount("captured", "Captured"),
        _amount("cancelled", "Cancelled"),
        _amount("refunded", "Refunded"),
        "provider_state",
        CREATED_AT,
    ]
    list_select_related = ["order"]
    list_filter = ["provider", CurrencyFilter, "created_at"]
    sortable_by = ["id"]
    search_fields = ["reference"]
    search_help_text = "Order number (or its beginning), customer email, or provider reference."
    order_prefix = "order__"

    detail_fields = [
        "order", "provider", "reference", "currency", _amount("authorized", "Authorized"),
        _amount("captured", "Captured"), _amount("cancelled", "Cancelled"), _amount("refunded", "Refunded"),
        "provider_state", "synced_at", "created_at",
    ]  # fmt: skip

    def reference_match(self, payment_ids, order_ids):
        return Q(pk__in=payment_ids)

    @admin.display(description="Reference")
    def short_reference(self, payment):
        return payment.reference if len(payment.reference) <= 40 else payment.reference[:39] + "…"


@admin.register(Operation)
class OperationAdmin(FindBySearchMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        CREATED_AT,
        "order_number",
        "kind",
        "status",
        "source",
        _amount("amount", "Amount"),
        "requested_by",
        "decided_by",
    ]
    list_select_related = ["payment__order", "requested_by", "decided_by"]
    list_filter = ["kind", "status", "source", "payment__provider", "created_at"]
    ordering = ["-created_at", "-id"]
    sortable_by = ["id", CREATED_AT]  # type: ignore[list-item]  # see _moment
    search_fields = ["idempotency_key"]
    search_help_text = "Order number (or its beginning), customer email, or provider reference."
    order_prefix = "payment__order__"

    detail_fields = [
        "payment", "kind", "source", _amount("amount", "Amount"), _amount("settled_amount", "Settled amount"),
        "status", "reason", "note", "idempotency_key", _person("requested_by", "Requested by"),
        _person("decided_by", "Decided by"), "decided_at",
        "decision_note", "provider_reference", "provider_code", "provider_response", "failure_message",
        "created_at", "updated_at", "settled_at",
    ]  # fmt: skip

    def reference_match(self, payment_ids, order_ids):
        return Q(payment_id__in=payment_ids)

    @admin.display(description="Order", ordering="payment__order__number")
    def order_number(self, operation):
        return operation.payment.order.number


@admin.register(AuditEvent)
class AuditEventAdmin(CsvExportMixin, ReadOnlyAdmin):
    export_kind = ExportKind.AUDIT_LOG
    export_header = AUDIT_HEADER

    def export_queryset(self, queryset):
        return queryset.order_by("created_at", "pk")

    def export_rows(self, queryset):
        return audit_rows(queryset)

    list_display = [CREATED_AT, "actor_label", "action", "order", "event_amount", "message"]
    list_select_related = ["order"]
    detail_fields = [
        "created_at", _person("actor", "Actor"), "actor_label", "action", _person("account", "About the person"),
        "order", "payment", "operation", "event_amount",
        "before", "after", "ip", "message",
    ]  # fmt: skip
    # Every user, not only those who acted (RelatedOnlyFieldListFilter would read the whole log
    # to find them); dates by period, not a date hierarchy, which reads the whole log too.
    list_filter = ["action", "actor", "created_at"]
    sortable_by = [CREATED_AT]  # type: ignore[list-item]  # see _moment
    search_fields = ["actor_label"]
    search_help_text = (
        "An order number, or the actor's name (any case) as it was when the event was written."
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # The order's id is looked up first: ORed with a join or a subquery, PostgreSQL would
        # read the whole log; ORed with ids, it combines the two indexes.
        order_ids = list(
            Order.objects.filter(number__in=order_number_forms(term)).values_list("pk", flat=True)
        )
        return queryset.filter(Q(actor_label__iexact=term) | Q(order_id__in=order_ids)), False

    @admin.display(description="Amount")
    def event_amount(self, event):
        if event.amount is None or not event.currency:
            return ""
        return format_money(event.amount, event.currency)


@admin.register(ProviderNotification)
class ProviderNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "verified", "payment", "outcome"]
    list_filter = ["provider", "verified", "received_at"]
    list_select_related = ["payment"]
    sortable_by = ["received_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py create_api_token`; here they can only be revoked."""

    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = api_token_revoke(
            api_token_ids=list(queryset.values_list("pk", flat=True)),
            actor=Actor.of_request(request),
        )
        self.message_user(request, f"{count} token(s) revoked.")


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    """Everybody's exports, for auditors: who took what, and its file while it lasts."""

    list_display = ["id", "created_at", "requested_by", "kind", "status", "rows_total", "download"]
    list_select_related = ["requested_by"]
    list_filter = ["kind", "status", "created_at"]
    sortable_by = ["id", "created_at"]
    detail_fields = [
        "kind", "requested_by", "description", "status", "rows_total", "rows_done", "sha256", "size",
        "failure_message", "created_at", "started_at", "finished_at", "expires_at",
    ]  # fmt: skip

    def get_list_display(self, request):
        # A superuser sees who took what, but takes nobody else's file (payments.roles).
        if may(request.user, "payments.view_export"):
            return self.list_display
        return [column for column in self.list_display if column != "download"]

    @admin.display(description="File")
    def download(self, export):
        if not export.file_name:
            return ""
        return format_html('<a href="{}">Download</a>', reverse("export_download", args=[export.pk]))
