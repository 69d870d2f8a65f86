"""Who may open what: every URL against every role, with the status each one gets."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor
from payments.services.exports import export_run, payments_export_request
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "agent", "manager", "auditor", "superuser"]
LOGIN = "login"  # redirected to the desk's login
ADMIN_LOGIN = "admin login"  # redirected to the admin's login


@pytest.fixture
def world(make_user, make_payment):
    """A payment with money to refund and to cancel, and a refund request by somebody else."""
    requester = make_user("requester", group="Managers")
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=500_000, at_provider=False)
    request = refund_request(
        payment_id=payment.pk,
        amount=400_000,
        reason="goodwill",
        actor=Actor.of_user(requester),
        idempotency_key=new_idempotency_key(),
    )
    export = payments_export_request(actor=Actor.of_user(requester))
    export_run(export_id=export.pk)
    return {
        "payment": payment.pk, "order": payment.order_id, "request": request.pk, "secret": "wrong",
        "export": export.pk,
    }  # fmt: skip


# (name, method, url name, argument) -> expected per role, in the order of ROLES. A superuser
# reads the desk but takes none of its actions: those come with the groups only.
MATRIX = [
    ("home", "get", "home", None, [LOGIN, 200, 200, 200, 200]),
    ("order", "get", "order", "order", [LOGIN, 200, 200, 200, 200]),
    ("order items", "get", "order_items", "order", [LOGIN, 200, 200, 200, 200]),
    ("payment card", "get", "payment_card", "payment", [LOGIN, 200, 200, 200, 200]),
    ("refund (empty form)", "post", "refund", "payment", [LOGIN, 422, 422, 403, 403]),
    ("cancel confirmation", "get", "cancel", "payment", [LOGIN, 200, 200, 403, 403]),
    ("cancel (empty form)", "post", "cancel", "payment", [LOGIN, 422, 422, 403, 403]),
    ("check with provider", "post", "check", "payment", [LOGIN, 302, 302, 403, 403]),
    ("approvals", "get", "approvals", None, [LOGIN, 403, 200, 403, 403]),
    ("approvals count", "get", "approvals_count", None, [LOGIN, 403, 200, 403, 403]),
    ("approve another's request", "post", "approve", "request", [LOGIN, 403, 302, 403, 403]),
    ("reject without note", "post", "reject", "request", [LOGIN, 403, 302, 403, 403]),
    ("withdraw another's request", "post", "withdraw", "request", [LOGIN, 403, 403, 403, 403]),
    ("my requests", "get", "my_requests", None, [LOGIN, 200, 200, 403, 403]),
    ("decisions on my requests (none)", "get", "decision_notices", None, [LOGIN, 204, 204, 403, 403]),
    ("needs attention", "get", "needs_attention", None, [LOGIN, 403, 200, 403, 403]),
    ("resolve without a decision", "post", "resolve", "request", [LOGIN, 403, 302, 403, 403]),
    ("admin", "get", "admin:index", None, [ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin orders", "get", "admin:payments_order_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin payments", "get", "admin:payments_payment_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin operations", "get", "admin:payments_operation_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin audit", "get", "admin:payments_auditevent_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin audit export", "post", "admin:payments_auditevent_export", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 302, 302]),
    ("admin payments export", "post", "admin:payments_payment_export", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 302, 302]),
    ("admin exports", "get", "admin:payments_export_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin notifications", "get", "admin:payments_providernotification_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin API tokens", "get", "admin:payments_apitoken_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200]),
    ("admin users", "get", "admin:auth_user_changelist", None, [LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403, 200]),
    ("login page", "get", "login", None, [200, 200, 200, 200, 200]),
    ("health check", "get", "healthz", None, [200, 200, 200, 200, 200]),
    ("readiness (no task worker)", "get", "readyz", None, [503, 503, 503, 503, 503]),
    ("metrics (off by default)", "get", "metrics", None, [404, 404, 404, 404, 404]),
    ("log out", "post", "logout", None, [LOGIN, 302, 302, 302, 302]),
    ("export payments", "post", "export_payments", None, [LOGIN, 403, 302, 302, 302]),
    ("exports", "get", "exports", None, [LOGIN, 403, 200, 200, 200]),
    # Auditors take everybody's exports; superuser status alone does not make an auditor.
    ("another's export", "get", "export_download", "export", [LOGIN, 403, 403, 200, 403]),
    ("settings", "get", "preferences", None, [LOGIN, 200, 200, 200, 200]),
    ("save settings", "post", "preferences", None, [LOGIN, 302, 302, 302, 302]),
    # Machines, not people: a token or a signature, whoever is logged in.
    ("intake API without token", "post", "api_orders", None, [401, 401, 401, 401, 401]),
    ("intake API's schema", "get", "api_openapi", None, [200, 200, 200, 200, 200]),
    ("Vipps webhook unsigned", "post", "webhook_vipps", None, [401, 401, 401, 401, 401]),
    ("SimplePS webhook without credential", "post", "webhook_simpleps", None, [401, 401, 401, 401, 401]),
    ("Optty webhook, wrong secret", "post", "webhook_optty", "secret", [404, 404, 404, 404, 404]),
]


def _cases():
    for name, method, url_name, argument, expected in MATRIX:
        for role, status in zip(ROLES, expected, strict=True):
            yield pytest.param(method, url_name, argument, role, status, id=f"{name}-{role}")


@pytest.mark.parametrize(("method", "url_name", "argument", "role", "expected"), list(_cases()))
def test_permission_matrix(client, world, request, method, url_name, argument, role, expected):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    url = reverse(url_name, args=[world[argument]] if argument else [])

    response = getattr(client, method)(url)

    if expected == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))
    else:
        assert response.status_code == expected


def test_every_url_is_in_the_matrix():
    from django.urls import get_resolver

    desk_names = {
        name
        for name in get_resolver().reverse_dict
        if isinstance(name, str)
    }
    covered = {url_name for _, _, url_name, _, _ in MATRIX}
    assert desk_names <= covered, f"not in the permission matrix: {desk_names - covered}"


def test_a_forged_approval_of_ones_own_request_is_403_and_audited(client, make_user, make_payment):
    manager = make_user("boss", group="Managers")
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000, at_provider=False)
    own = refund_request(
        payment_id=payment.pk, amount=600_000, reason="goodwill",
        actor=Actor.of_user(manager), idempotency_key=new_idempotency_key(),
    )
    client.force_login(manager)

    page = client.get(reverse("approvals"))
    response = client.post(reverse("approve", args=[own.pk]))

    assert f'action="{reverse("approve", args=[own.pk])}"' not in page.content.decode()
    assert response.status_code == 403
    assert "You cannot approve your own refund request." in response.content.decode()
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED, operation=own)
    assert refused.actor == manager


def test_logins_are_audited(client, agent):
    client.post(reverse("login"), {"username": "agent", "password": "nope"})
    client.post(reverse("login"), {"username": "agent", "password": "correct horse battery"})

    events = list(
        AuditEvent.objects.filter(action__startswith="login.")
        .order_by("pk")
        .values_list("action", "actor_label", "actor")
    )
    assert events == [
        (AuditAction.LOGIN_FAILED, "anonymous (agent)", None),
        (AuditAction.LOGIN_SUCCEEDED, "agent", agent.pk),
    ]


@pytest.mark.parametrize(
    ("role", "refusal"),
    [
        ("manager", "You cannot reject your own refund request."),
        # Superuser status grants no desk action at all.
        ("superuser", "Only managers can reject refunds."),
    ],
)
def test_a_forged_rejection_of_ones_own_request_is_403_and_audited(client, request, make_payment, role, refusal):
    # given: their own request, and a forged rejection without the note the form asks for
    user = request.getfixturevalue(role)
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000, at_provider=False)
    own = refund_request(
        payment_id=payment.pk, amount=600_000, reason="goodwill",
        actor=Actor.of_user(user), idempotency_key=new_idempotency_key(),
    )
    client.force_login(user)

    # when
    response = client.post(reverse("reject", args=[own.pk]), headers={"HX-Request": "true"})

    # then
    assert response.status_code == 403
    assert refusal in response.content.decode()
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED, operation=own)
    assert refused.actor == user
    own.refresh_from_db()
    assert own.status == OperationStatus.AWAITING_APPROVAL


@pytest.fixture
def waiting(make_user, make_payment):
    """A refund request by an agent, waiting for a manager's approval."""
    requester = make_user("requesting-agent", group="Support agents")
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000, at_provider=False)
    operation = refund_request(
        payment_id=payment.pk, amount=600_000, reason="goodwill",
        actor=Actor.of_user(requester), idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.AWAITING_APPROVAL
    return {"payment": payment.pk, "request": operation.pk}


def test_withdrawing_somebody_elses_request_is_403_and_audited(client, waiting, manager):
    client.force_login(manager)

    response = client.post(reverse("withdraw", args=[waiting["request"]]), headers={"HX-Request": "true"})

    assert response.status_code == 403
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED)
    assert (refused.actor, refused.operation_id) == (manager, waiting["request"])
    assert Operation.objects.get(pk=waiting["request"]).status == OperationStatus.AWAITING_APPROVAL


# Actions posted by people whose role does not allow them: (role, url name, what the URL names)
FORGED_ACTIONS = [
    ("agent", "approve", "request"),
    ("agent", "reject", "request"),
    ("auditor", "refund", "payment"),
    ("auditor", "cancel", "payment"),
    ("auditor", "check", "payment"),
    ("auditor", "approve", "request"),
    ("auditor", "reject", "request"),
    ("auditor", "withdraw", "request"),
    ("agent", "resolve", "request"),
    ("auditor", "resolve", "request"),
]


@pytest.mark.parametrize(("role", "url_name", "target"), FORGED_ACTIONS)
def test_an_action_refused_by_role_is_403_and_audited(client, waiting, request, role, url_name, target):
    user = request.getfixturevalue(role)
    client.force_login(user)
    url = reverse(url_name, args=[waiting[target]])

    response = client.post(url, {f"reject-{waiting['request']}-note": "Looks wrong"})

    assert response.status_code == 403
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED)
    assert refused.actor == user
    assert refused.payment_id == waiting["payment"]
    assert refused.operation_id == (waiting["request"] if target == "request" else None)
    assert url in refused.message
    assert Operation.objects.get(pk=waiting["request"]).status == OperationStatus.AWAITING_APPROVAL


def test_reading_without_the_permission_is_403_and_not_an_action(client, world, agent):
    client.force_login(agent)

    assert client.get(reverse("approvals")).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).exists()


def test_an_agent_opening_the_approvals_is_told_why_not(client, agent):
    client.force_login(agent)

    response = client.get(reverse("approvals"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "Only managers see the refund requests waiting for approval." in html
    assert "None" not in html


def test_a_refusal_without_its_own_words_says_so_in_general_ones(client, make_user):
    client.force_login(make_user("nobody"))  # in no group: may not even search

    response = client.get(reverse("home"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "You may not open this page or do this." in html
    assert "None" not in html


@pytest.mark.parametrize(
    ("method", "url_name", "argument"),
    [("post", "refund", "payment"), ("get", "cancel", "payment"), ("get", "payment_card", "payment"),
     ("get", "approvals_count", None), ("post", "approve", "request")],
)
def test_htmx_after_the_session_ended_is_sent_to_the_login_by_hx_redirect(client, world, method, url_name, argument):
    # The page was opened while logged in; the session has ended since.
    order_page = reverse("order", args=[world["order"]])
    url = reverse(url_name, args=[world[argument]] if argument else [])

    response = getattr(client, method)(
        url, headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{order_page}?x=1"}
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={quote(order_page + '?x=1', safe='/')}"
    assert "Location" not in response
    assert response.content == b""
