"""Where the providers send their notifications (README, "Registering the webhooks").

Each notification is verified as its provider documents (Vipps: an HMAC signature over the
body's hash, the date and the host; SimplePS: a credential we gave them; Optty: a secret in
the URL), kept whether verified or not, and acted on only when verified.
"""

import base64
import hashlib
import hmac
from datetime import timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from backoffice.untrusted import UnreadableJson, identifier_problem, load_json
from payments.services.audit import client_ip
from payments.services.provider_notifications import notification_receive, notification_refuse

# Vipps's notifications carry their time: older or newer than this is refused (replays).
MAX_CLOCK_SKEW = timedelta(minutes=5)
# The providers' notifications are a few hundred bytes. A longer body is refused with 413
# before it is read; its record keeps the headers and the declared size, not the body.
MAX_BODY_BYTES = 64 * 1024


def _json(body):
    try:
        data = load_json(body)
    except UnreadableJson:
        return {}  # a signed body is kept all the same
    return data if isinstance(data, dict) else {}


def _declared_length(request):
    # Django reads no more of the body than Content-Length says (none when it is missing or
    # unreadable), so the declared length bounds what request.body can hold.
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _refuse(request, provider, *, refusal, status):
    """Keep what tells the refused notification apart (not its body: notification_refuse)
    and answer. A body too long to read is not read for its hash either."""
    length = _declared_length(request)
    body = None if length > MAX_BODY_BYTES else request.body
    notification_refuse(
        provider=provider,
        headers=dict(request.headers),
        body=body,
        size=length if body is None else len(body),
        source_ip=client_ip(request),
        refusal=refusal,
    )
    return HttpResponse(refusal, status=status, content_type="text/plain")


def _too_long(request, provider):
    """A 413 answer when the body is over MAX_BODY_BYTES, else None."""
    length = _declared_length(request)
    if length <= MAX_BODY_BYTES:
        return None
    refusal = f"The body ({length:,} bytes) is over the limit of {MAX_BODY_BYTES:,} bytes; not read."
    return _refuse(request, provider, refusal=refusal, status=413)


def _receive(request, provider, *, authenticate=None, reference_keys):
    """Keep the notification and act on it: 413 when its body is over MAX_BODY_BYTES (checked
    before anything reads it), 401 when `authenticate(request)` says why it is not authentic."""
    if too_long := _too_long(request, provider):
        return too_long
    refusal = authenticate(request) if authenticate else ""
    if refusal:
        return _refuse(request, provider, refusal=refusal, status=401)
    data = _json(request.body)
    reference = next((data[key] for key in reference_keys if isinstance(data.get(key), str)), "")
    notification_receive(
        provider=provider,
        headers=dict(request.headers),
        body=request.body,
        reference=reference,
        # No payment's reference holds a NUL or a line break (intake refuses them), and the
        # database could not even look one up: kept, and not acted on.
        reference_problem=identifier_problem(reference),
        source_ip=client_ip(request),
    )
    return HttpResponse(status=200)


def vipps_refusal(request):
    """Why a Vipps notification is not authentic, or "" when it is (providers.md, "Webhooks")."""
    secret = settings.VIPPS_WEBHOOK_SECRET
    if not secret:
        return "Vipps notifications are not configured (VIPPS_WEBHOOK_SECRET)."
    content_hash = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
    if not hmac.compare_digest(request.headers.get("x-ms-content-sha256", ""), content_hash):
        return "The body does not match its hash."
    date = request.headers.get("x-ms-date", "")
    try:
        sent_at = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return "The date is missing or unreadable."
    if sent_at.tzinfo is None or abs(timezone.now() - sent_at) > MAX_CLOCK_SKEW:
        return "The notification's date is more than five minutes off."
    signed = f"POST\n{request.get_full_path()}\n{date};{request.get_host()};{content_hash}"
    expected = base64.b64encode(
        hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    ).decode()
    authorization = request.headers.get("authorization", "")
    prefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
    if not authorization.startswith(prefix):
        return "The signature is missing."
    if not hmac.compare_digest(authorization[len(prefix):], expected):
        return "The signature is wrong."
    return ""


@csrf_exempt
@login_not_required
@require_POST
def vipps(request):
    return _receive(request, "vipps", authenticate=vipps_refusal, reference_keys=["reference"])


def simpleps_refusal(request):
    """SimplePS sends the credential we registered with it, as Bearer or as Basic password."""
    secret = settings.SIMPLEPS_WEBHOOK_SECRET
    if not secret:
        return "SimplePS notifications are not configured (SIMPLEPS_WEBHOOK_SECRET)."
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            credential = base64.b64decode(credential, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            credential = ""
    elif scheme.lower() != "bearer":
        credential = ""
    if not credential or not hmac.compare_digest(credential.encode(), secret.encode()):
        return "The credential is missing or wrong."
    return ""


@csrf_exempt
@login_not_required
@require_POST
def simpleps(request):
    return _receive(
        request,
        "simpleps",
        authenticate=simpleps_refusal,
        reference_keys=["externalPaymentId", "externalId"],
    )


@csrf_exempt
@login_not_required
@require_POST
def optty(request, secret):
    """Optty calls a URL we give it; the secret in that URL is the credential."""
    expected = settings.OPTTY_WEBHOOK_SECRET
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        # Kept like any other notification, but answered as if the address did not exist:
        # a wrong or unset secret is 404, not 401, so that guessing learns nothing.
        _refuse(request, "optty", refusal="Wrong secret in the URL.", status=404)
        raise Http404
    return _receive(request, "optty", reference_keys=["orderReference", "merchantReference"])
