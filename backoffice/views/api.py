"""The order intake API: POST /api/v1/orders (README, "Sending orders"), and its OpenAPI 3
schema, kept beside this code in backoffice/openapi.json."""

import json
from functools import cache
from pathlib import Path

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from backoffice.intake import IntakeInvalid, parse_intake
from backoffice.untrusted import UnreadableJson, load_json
from payments.services.api_tokens import api_token_authenticate
from payments.services.audit import Actor
from payments.services.orders import PaymentTaken, PaymentTakenMeanwhile, order_receive

SCHEMA = Path(__file__).resolve().parent.parent / "openapi.json"


@cache
def _schema():
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


@login_not_required
@require_GET
def openapi(request):
    """The intake API's OpenAPI 3 schema, for the shops and their tools."""
    return JsonResponse(_schema(), json_dumps_params={"ensure_ascii": False, "indent": 2})


def _unauthorized(message):
    response = JsonResponse({"error": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="orders"'
    return response


def _answer(request, order, *, status):
    return JsonResponse(
        {
            "order_number": order.number,
            "url": request.build_absolute_uri(reverse("order", args=[order.pk])),
            "payments": [
                {
                    "provider": payment.provider,
                    "reference": payment.reference,
                    "synced": payment.synced_at is not None,
                }
                for payment in order.payments.order_by("pk")
            ],
        },
        status=status,
    )


@csrf_exempt  # a machine's bearer token, not a browser's cookie, authenticates this
@login_not_required
@require_POST
def orders(request):
    """Take an order from the shop. 201 with the order's URL; 200 when the order number is
    known already (nothing is duplicated); 400 with errors per field, storing nothing; 409
    when a concurrent request stored one of its payments with another order first."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    api_token = api_token_authenticate(token=token.strip()) if scheme.lower() == "bearer" else None
    if api_token is None:
        return _unauthorized("Send a valid token: Authorization: Bearer <token>.")
    if request.content_type != "application/json":
        return JsonResponse({"errors": {"": ["Send JSON (Content-Type: application/json)."]}}, status=400)
    try:
        data = load_json(request.body)
    except UnreadableJson as unreadable:
        return JsonResponse({"errors": {"": [str(unreadable)]}}, status=400)
    try:
        intake = parse_intake(data)
    except IntakeInvalid as invalid:
        return JsonResponse({"errors": invalid.errors}, status=400)
    try:
        order, created = order_receive(
            number=intake.number,
            customer_name=intake.customer_name,
            customer_email=intake.customer_email,
            currency=intake.currency,
            total=intake.total,
            payments=intake.payments,
            lines=intake.lines,
            shipping=intake.shipping,
            actor=Actor.system(f"api: {api_token.name}"),
        )
    except PaymentTakenMeanwhile as taken:
        return JsonResponse({"errors": {"payments": [taken.message]}}, status=409)
    except PaymentTaken as taken:
        errors = {f"payments[{index}].reference": [taken.message] for index in taken.indexes}
        return JsonResponse({"errors": errors}, status=400)
    return _answer(request, order, status=201 if created else 200)
