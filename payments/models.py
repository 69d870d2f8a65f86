"""Orders, their payments, the ledger of operations on them, and the audit log.

Amounts are integer minor units of the payment's currency (see payments.money). A payment's
aggregate (`captured`, `cancelled`, `refunded`) always equals the sum of its settled operations
of each kind; only payments.services.ledger changes it, in the transaction that settles the
operation. The database holds the invariants too (CHECK constraints, an append-only trigger on
the audit table).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import MD5, Upper
from django.utils import timezone

from payments.balances import money_state
from payments.statuses import NEEDING_PERSON_STATUSES, OperationStatus


class Provider(models.TextChoices):
    BAMBORA = "bambora", "Bambora"
    OPTTY = "optty", "Optty"
    SIMPLEPS = "simpleps", "SimplePS"
    VIPPS = "vipps", "Vipps MobilePay"


class Order(models.Model):
    # Unique by a constraint in Meta rather than unique=True: Django would add a second
    # pattern index beside order_number_prefix_idx.
    number = models.CharField("order number", max_length=64)
    customer_name = models.CharField(max_length=200)
    # For search (payments.customer_names.folded_name): set when the order is stored. On
    # PostgreSQL a trigram index serves its LIKE (migration 0014).
    customer_name_folded = models.TextField(blank=True, editable=False)
    customer_email = models.EmailField(max_length=254)
    currency = models.CharField(max_length=3)
    total = models.BigIntegerField(help_text="Minor units of the currency.")
    # Sent with lines (and maybe shipping): refunds can be made by line. Saves looking for
    # lines that orders without them do not have.
    # Defaults in the database too: bulk loads (seed_bench's COPY) name only the older columns.
    itemized = models.BooleanField(default=False, db_default=False)
    shipping = models.BigIntegerField(default=0, db_default=0, help_text="Minor units of the currency.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The order list, newest first; with the id in it, a deep page is skipped to
            # through the index alone.
            models.Index(fields=["created_at", "id"], name="order_created_idx"),
            # Prefix search ("LIKE 'abc%'") needs the pattern operator class whatever the
            # collation; other backends ignore opclasses.
            models.Index(
                fields=["number"], name="order_number_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
            # Searches by email (`iexact`, `istartswith`) go through order_email_prefix_idx, on
            # UPPER(email), made on PostgreSQL by migration 0014.
            # The admin's currency filter lists the currencies in use by walking this index.
            models.Index(fields=["currency"], name="order_currency_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="order_number_uniq"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(condition=Q(shipping__gte=0), name="order_shipping_not_negative"),
        ]

    def __str__(self):
        return self.number


class SearchTermKind(models.TextChoices):
    NAME = "n", "name"
    EMAIL = "e", "email"


class OrderSearchTerm(models.Model):
    """A way into an order for search, in the order list's order (payments.search_terms): one
    row per head of the customer's folded name (the beginning of a word, "kar", or of two,
    "kar nor") and of the email. The newest orders whose name has words beginning "kari" and
    "nord" are then read from the index on (kind, head, created_at, order) as far as a page
    needs, whatever the number of orders, rather than every match sorted.

    Written by PostgreSQL when the order is stored (a trigger, payments.search_terms) and never
    changed, as the order's name, email and created_at are not."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=1, choices=SearchTermKind.choices)
    head = models.CharField(max_length=7)
    # The order's folded name (kind "n": each of the query's words is checked in it) or its
    # email in capitals (kind "e"); in the index, so that no order row is read.
    text = models.TextField()
    created_at = models.DateTimeField()  # the order's

    class Meta:
        indexes = [
            models.Index(
                fields=["kind", "head", "-created_at", "-order"], include=["text"], name="search_term_stream_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.head}"


class OrderLine(models.Model):
    """One line of an order as the shop sent it: so many units at a unit price, plus the
    line's tax. Never changed: what has been refunded of it is in its RefundLines."""

    # Found through order_line_position_uniq, which begins with the order.
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="Where the shop listed it, from 0.")
    sku = models.CharField("SKU", max_length=64, blank=True)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price = models.BigIntegerField(help_text="Minor units of the order's currency.")
    tax = models.BigIntegerField(default=0, help_text="The whole line's tax, in minor units.")

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_line_position_uniq"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0, tax__gte=0), name="order_line_amounts_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.name}"

    @property
    def total(self):
        return self.quantity * self.unit_price + self.tax


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # Bambora allows references of up to 2,000 characters; the unique index is on its MD5 so
    # that it stays under PostgreSQL's btree row limit.
    reference = models.CharField("provider reference", max_length=2000)
    currency = models.CharField(max_length=3)
    authorized = models.BigIntegerField(default=0)
    captured = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)
    provider_state = models.CharField(
        max_length=40, blank=True, help_text="The payment's state as the provider last named it."
    )
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the aggregate was last compared with the provider."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        permissions = [("export_payments", "Can export orders and payments to CSV")]
        indexes = [
            models.Index(fields=["currency"], name="payment_currency_idx"),
            # Search finds a reference in any case; MD5 for the same reason as the unique index.
            models.Index(MD5(Upper("reference")), name="payment_reference_upper_idx"),
        ]
        constraints = [
            models.UniqueConstraint(MD5("reference"), F("provider"), name="payment_reference_uniq"),
            models.CheckConstraint(
                condition=Q(authorized__gte=0, captured__gte=0, cancelled__gte=0, refunded__gte=0),
                name="payment_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded__lte=F("captured")), name="payment_refunded_within_captured"
            ),
            models.CheckConstraint(
                condition=Q(captured__lte=F("authorized") - F("cancelled")),
                name="payment_captured_cancelled_within_authorized",
            ),
        ]

    def __str__(self):
        return f"{self.get_provider_display()} {self.reference[:40]}"

    @property
    def status(self):
        """A short word for where the money stands, from the aggregate alone."""
        return money_state(self)


class OperationKind(models.TextChoices):
    CAPTURE = "capture", "Capture"
    CANCEL = "cancel", "Cancel"
    REFUND = "refund", "Refund"


class OperationSource(models.TextChoices):
    BACKOFFICE = "backoffice", "Back office"
    SHOP = "shop", "Shop (order intake)"
    PROVIDER = "provider", "Found at the provider"


class RefundReason(models.TextChoices):
    CUSTOMER_REQUEST = "customer_request", "Customer request"
    RETURNED_GOODS = "returned_goods", "Returned goods"
    DAMAGED = "damaged", "Damaged"
    DUPLICATE_PAYMENT = "duplicate_payment", "Duplicate payment"
    GOODWILL = "goodwill", "Goodwill"
    OTHER = "other", "Other"


class Operation(models.Model):
    """One capture, cancel or refund: the ledger row. Never deleted."""

    # Found through operation_payment_status_idx, which begins with the payment.
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="operations", db_index=False)
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    source = models.CharField(
        max_length=16, choices=OperationSource.choices, default=OperationSource.BACKOFFICE
    )
    amount = models.BigIntegerField(help_text="Requested, in minor units.")
    settled_amount = models.BigIntegerField(
        null=True, blank=True, help_text="What the provider confirmed, once succeeded."
    )
    reason = models.CharField(max_length=32, choices=RefundReason.choices, blank=True)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=OperationStatus.choices)
    # Unique per operation (a constraint in Meta, without the pattern index unique=True adds);
    # also the provider-side reference (Vipps Idempotency-Key, Optty refundReference/
    # voidReference), so a retry can never become a second operation.
    idempotency_key = models.CharField(max_length=50)
    # Indexed in Meta where set: most operations (the shop's captures) have nobody.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requested_operations",
        db_index=False,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decided_operations",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    # Filed for a manager's approval: a refund request, listed on its requester's "My requests".
    approval_required = models.BooleanField(default=False)
    provider_reference = models.CharField(max_length=200, blank=True)
    provider_response = models.JSONField(
        null=True, blank=True, help_text="The provider's last answer; credentials never stored."
    )
    provider_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    # When the call to the provider ends at the latest (its one total deadline, set when the
    # operation goes in flight): until then and a margin after, the call may still be running.
    deadline = models.DateTimeField(null=True, blank=True)
    # The provider asked us to wait until then before sending it again (Retry-After).
    retry_not_before = models.DateTimeField(null=True, blank=True)
    # Checks with the provider that could not prove the outcome, and what the last one found.
    checks = models.PositiveIntegerField(default=0, db_default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check = models.TextField(
        blank=True, default="", db_default="", help_text="What the provider last said, in words."
    )
    # Since when no machine can prove the outcome: a manager resolves it (payments.services.
    # attention). It stays set once resolved, as a record.
    needs_person_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["payment", "status"], name="operation_payment_status_idx"),
            # The operations still to be decided, sent or settled, by age (approvals, reconcile,
            # metrics). Settled ones, nearly all of them, are left out: lists of those read the
            # created index below.
            models.Index(
                fields=["status", "created_at"],
                condition=~Q(status__in=[OperationStatus.SUCCEEDED, OperationStatus.FAILED]),
                name="operation_unsettled_idx",
            ),
            models.Index(
                fields=["requested_by"], condition=Q(requested_by__isnull=False), name="operation_requester_idx"
            ),
            models.Index(fields=["decided_by"], condition=Q(decided_by__isnull=False), name="operation_decider_idx"),
            # The admin's list, newest first.
            models.Index(fields=["created_at", "id"], name="operation_created_idx"),
            # A requester's "My requests", newest first.
            models.Index(
                fields=["requested_by", "created_at", "id"],
                condition=Q(approval_required=True),
                name="operation_requests_idx",
            ),
            # The "Needs attention" list: the operations a person has to resolve, longest
            # waiting first. Its condition is the list's own, so that PostgreSQL reads a page in
            # the index's order: with only `needs_person_since` in it, it mis-estimated the
            # rows both conditions leave and read and sorted every one (80 ms at ten million
            # orders, and growing with them).
            models.Index(
                fields=["needs_person_since", "id"],
                condition=Q(needs_person_since__isnull=False, status__in=sorted(NEEDING_PERSON_STATUSES)),
                name="operation_needs_person_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="operation_idempotency_key_uniq"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="operation_amount_positive"),
            # isnull=False spelled out: a CHECK passes when it evaluates to NULL, which
            # "settled_amount > 0" does for a NULL amount.
            models.CheckConstraint(
                condition=Q(
                    status=OperationStatus.SUCCEEDED, settled_amount__isnull=False, settled_amount__gt=0
                )
                | (~Q(status=OperationStatus.SUCCEEDED) & Q(settled_amount__isnull=True)),
                name="operation_settled_amount_iff_succeeded",
            ),
        ]
        permissions = [
            ("request_refund", "Can request refunds"),
            ("cancel_payment", "Can cancel payments"),
            ("approve_refund", "Can approve or reject refund requests of others"),
            ("resolve_operation", "Can resolve operations of others that need a person"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.idempotency_key}"


class RefundLine(models.Model):
    """What a refund by line gives back: units of one order line, or (`order_line` empty) the
    order's shipping. The units are the line's for as long as the refund may still move money
    or has moved it; a refund that failed or was never sent gives them back (see
    selectors.order_refund_offer)."""

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="refund_lines")
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, null=True, blank=True, related_name="refund_lines"
    )
    quantity = models.PositiveIntegerField()
    amount = models.BigIntegerField(help_text="What these units come to, in minor units.")

    class Meta:
        ordering = ["operation", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="refund_line_quantity_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_line_amount_not_negative"),
            # Shipping is one unit.
            models.CheckConstraint(
                condition=Q(order_line__isnull=False) | Q(quantity=1), name="refund_line_shipping_once"
            ),
            models.UniqueConstraint(fields=["operation", "order_line"], name="refund_line_uniq"),
            models.UniqueConstraint(
                fields=["operation"], condition=Q(order_line__isnull=True), name="refund_line_shipping_uniq"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.order_line.name if self.order_line else 'shipping'}"


class AuditAction(models.TextChoices):
    REFUND_REQUESTED = "refund.requested", "Refund requested"
    REFUND_APPROVED = "refund.approved", "Refund approved"
    REFUND_REJECTED = "refund.rejected", "Refund rejected"
    REFUND_WITHDRAWN = "refund.withdrawn", "Refund request withdrawn"
    REFUND_EXPIRED = "refund.expired", "Refund request expired"
    CANCEL_REQUESTED = "cancel.requested", "Cancel requested"
    PROVIDER_CALLED = "provider.called", "Provider called"
    PROVIDER_ANSWERED = "provider.answered", "Provider answered"
    OPERATION_SETTLED = "operation.settled", "Operation settled"
    OPERATION_RECONCILED = "operation.reconciled", "Operation reconciled"
    OPERATION_NEEDS_PERSON = "operation.needs_person", "Needs a person"
    OPERATION_RESOLVED = "operation.resolved", "Resolved by a person"
    EXTERNAL_RECORDED = "external.recorded", "Operation outside the back office recorded"
    PAYMENT_SYNCED = "payment.synced", "Payment synced"
    NOTIFICATION_RECEIVED = "notification.received", "Provider notification received"
    ORDER_RECEIVED = "order.received", "Order received"
    ACTION_REFUSED = "action.refused", "Action refused"
    LOGIN_SUCCEEDED = "login.succeeded", "Login succeeded"
    LOGIN_FAILED = "login.failed", "Login failed"
    LOGIN_LOCKED_OUT = "login.locked_out", "Login locked out"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    DATA_EXPORTED = "data.exported", "Data exported"
    EXPORT_REQUESTED = "export.requested", "Export requested"
    EXPORT_COMPLETED = "export.completed", "Export completed"
    EXPORT_FAILED = "export.failed", "Export failed"
    EXPORT_DOWNLOADED = "export.downloaded", "Export downloaded"
    # People and their rights (payments.services.account_audit): `account` names the person.
    USER_CREATED = "user.created", "User created"
    USER_CHANGED = "user.changed", "User changed"
    USER_ACTIVATED = "user.activated", "User activated"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_PASSWORD_SET = "user.password_set", "User's password set"
    USER_GROUPS_CHANGED = "user.groups_changed", "User's groups changed"
    USER_PERMISSIONS_CHANGED = "user.permissions_changed", "User's permissions changed"
    USER_MADE_APPROVER = "user.made_approver", "User may approve refunds"
    USER_DELETED = "user.deleted", "User deleted"
    GROUP_CREATED = "group.created", "Group created"
    GROUP_CHANGED = "group.changed", "Group renamed"
    GROUP_PERMISSIONS_CHANGED = "group.permissions_changed", "Group's permissions changed"
    GROUP_DELETED = "group.deleted", "Group deleted"


class AuditEvent(models.Model):
    """Who did what, to what, when. Append-only: the database refuses UPDATE and DELETE."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Found through audit_actor_created_idx, which begins with the actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,
    )
    # The actor's name when the event was written ("system: reconcile" for the machine), so
    # the record reads the same after a user is renamed.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True)
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, null=True, blank=True)
    # The person an event about people and their rights is about (created, activated, put
    # into a group ...); the four-eyes rule reads it (payments.selectors.approval_conflict).
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events_about",
    )
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["actor", "created_at"], name="audit_actor_created_idx"),
            models.Index(fields=["action", "created_at"], name="audit_action_created_idx"),
            # The admin's search by the actor's name in any case (`iexact` compares UPPER()s).
            models.Index(Upper("actor_label"), name="audit_actor_label_upper_idx"),
        ]

    def __str__(self):
        # In the desk's time zone, as the admin shows the event's fields.
        return f"{timezone.localtime(self.created_at):%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class DecisionNotice(models.Model):
    """A decision on a refund request (approved, rejected, expired) that the desk has yet to show
    its requester: shown once, at their next page, then deleted."""

    operation = models.OneToOneField(Operation, on_delete=models.CASCADE, related_name="decision_notice")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Decision on {self.operation} for {self.requester}"


class ApiToken(models.Model):
    """A shop's credential for the order intake API. Only the token's SHA-256 is stored: the
    token itself is shown once, when made (`manage.py create_api_token NAME`)."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The token's first characters, so that people can tell tokens apart.
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self):
        return self.revoked_at is not None


class ProviderNotification(models.Model):
    """A notification a provider sent us (webhook), kept as received, verified or not."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    verified = models.BooleanField()
    # Headers as received, less the ones that carry credentials; of a refused notification,
    # only a few (payments.services.provider_notifications.REFUSED_HEADERS).
    headers = models.JSONField()
    # A verified notification's body as received; a refused one's is not kept (its size and
    # hash are), so that anybody's POSTs cannot fill the database.
    body = models.TextField()
    body_size = models.PositiveIntegerField(null=True, blank=True, help_text="Bytes, as received or declared.")
    body_sha256 = models.CharField("body SHA-256", max_length=64, blank=True)
    source_ip = models.GenericIPAddressField("sent from", null=True, blank=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # How many refused notifications a source sent lately (the storage's rate limit).
            models.Index(
                fields=["source_ip", "received_at"],
                name="notification_refused_src_idx",
                condition=Q(verified=False),
            ),
        ]

    def __str__(self):
        state = "verified" if self.verified else "refused"
        received = timezone.localtime(self.received_at)
        return f"{self.get_provider_display()} notification {received:%Y-%m-%d %H:%M} ({state})"


class ExportKind(models.TextChoices):
    PAYMENTS = "payments", "Payments"
    AUDIT_LOG = "audit_log", "Audit log"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class Export(models.Model):
    """A CSV export asked for by a person and made by the task worker (payments.services.exports):
    its progress while it runs, then its file in the "exports" storage until it expires."""

    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports"
    )
    # What to export, as the services read it back: a desk search and dates, or the admin
    # list's query string.
    selection = models.JSONField()
    # The same in words, for the person and the audit log.
    description = models.CharField(max_length=2500)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.BigIntegerField(
        null=True, blank=True, help_text="Rows selected when the export began (rows written, once done)."
    )
    rows_done = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=300, blank=True, help_text="In the exports storage.")
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes.")
    failure_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on by the run at least every few seconds: a run not heard of for longer has died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The run that owns the export: each run takes the next number, and only the run holding
    # the latest one moves its progress, stores its file or finishes it (a run that stalled
    # and was taken over stops, and leaves the file alone).
    attempt = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requested_by", "created_at"], name="export_requester_created_idx"),
            models.Index(fields=["status", "expires_at"], name="export_status_expires_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} export {self.pk} ({self.get_status_display().lower()})"

    @property
    def download_name(self):
        return f"{self.kind.replace('_', '-')}-{self.pk}-{self.created_at:%Y%m%d-%H%M}.csv"


class OutgoingEmail(models.Model):
    """An email the tasks send at most once: its key ("approval-request:12") is claimed, in a
    committed row, before the mail server is called, so that a task run again (its worker
    killed mid-send) finds it claimed and sends nothing."""

    key = models.CharField(max_length=100, unique=True)
    subject = models.CharField(max_length=300)
    recipients = models.JSONField()
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failure_message = models.TextField(blank=True)

    def __str__(self):
        return self.key


class TaskWorker(models.Model):
    """A task worker process (`manage.py worker`), as last heard of."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.hostname}:{self.pid}"
