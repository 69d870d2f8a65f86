"""What each provider's simulator provides to the sandbox server."""

import base64
import secrets
import time
from abc import ABC, abstractmethod
from typing import ClassVar


class Simulator(ABC):
    """One provider's API: its payments, its rules, its answers and its error format.

    Amounts given to and returned by the control methods (create_payment, portal,
    payment_view) are integer minor units, whatever the provider's own API uses. Every method
    runs under the sandbox's lock.
    """

    code: ClassVar[str]

    def __init__(self, *, config):
        self.config = config
        self.reset()

    @abstractmethod
    def reset(self):
        """Forget every payment and token."""

    @abstractmethod
    def endpoint_name(self, request) -> str:
        """A short name for the call, used to aim faults: "refund", "cancel", "fetch", ..."""

    @abstractmethod
    def handle(self, request):
        """Answer one request to the provider's API with a SandboxResponse."""

    @abstractmethod
    def error_response(self, status, message, code=None):
        """An error answer in the provider's own format; `message` None for the provider's
        usual text for that status, `code` None for the provider's usual code for it (its
        error `type`, `error` or `responseCode`)."""

    @abstractmethod
    def create_payment(
        self, *, reference, currency, amount, captured=0, refunded=0, cancelled=0, **options
    ):
        """Set up a payment as if a customer had paid; returns payment_view(). `options` are
        the simulator's own (such as Optty's `refund_status`); unknown ones are an error."""

    @abstractmethod
    def portal(self, *, reference, kind, amount):
        """Carry out `kind` ("capture", "cancel", "refund") as the provider's own merchant
        portal would: outside our API, so nothing of ours knows. Returns payment_view()."""

    @abstractmethod
    def payment_view(self, reference):
        """The payment as the simulator holds it, or None: `reference`, `currency`, `amount`,
        `captured`, `cancelled`, `refunded` (minor units) and `operations` (the list of
        modifications carried out, oldest first, each with `kind` and `amount`)."""

    @abstractmethod
    def snapshot(self):
        """Everything the simulator holds, as JSON-ready data."""

    @abstractmethod
    def restore(self, data):
        """Take back what snapshot() gave."""

    def advance(self, *, reference, outcome="succeeded"):
        """Let the provider finish what it left under way on the payment (Optty's refunds
        answered with another status than SUCCESSFUL or a failure), with `outcome` "succeeded"
        or "failed". Returns payment_view()."""
        return self.payment_view(reference)

    def expire_tokens(self):
        """Make every token issued so far invalid (providers without tokens: nothing)."""

    def concurrency_key(self, request):
        """What makes requests the same operation (such as Vipps's Idempotency-Key), or None:
        such a request arriving while another is being processed (carried out, not yet
        answered) gets busy_response() and does nothing."""
        return None

    def busy_response(self, request):
        """The answer to a request whose operation is still being processed (see
        concurrency_key)."""
        raise NotImplementedError


class IssuedTokens:
    """Bearer tokens a simulator has handed out, each valid until it expires. `standard_base64`:
    tokens of base64's standard alphabet (a spec's `format: byte`) rather than URL-safe ones."""

    def __init__(self, *, standard_base64=False):
        self.standard_base64 = standard_base64
        self.expiry_by_token = {}

    def issue(self, lifetime_seconds):
        if self.standard_base64:
            token = base64.b64encode(secrets.token_bytes(48)).decode()
        else:
            token = secrets.token_urlsafe(24)
        self.expiry_by_token[token] = time.time() + lifetime_seconds
        return token

    def valid(self, authorization_header):
        """Whether `Authorization: Bearer <token>` names a live token."""
        scheme, _, token = (authorization_header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        expiry = self.expiry_by_token.get(token)
        return expiry is not None and time.time() < expiry

    def expire_all(self):
        self.expiry_by_token.clear()
