"""The adapters by provider code, built from settings.PROVIDERS at the moment of use. They are
cheap: each provider's HTTP session (and its kept connections) lives once per process
(payments.providers.http.session_for)."""

from typing import cast

from django.conf import settings

from payments.metrics import MeteredProvider
from payments.providers.bambora import Bambora
from payments.providers.base import PaymentProvider
from payments.providers.http import ProviderHttp
from payments.providers.optty import Optty
from payments.providers.simpleps import SimplePS
from payments.providers.vipps import Vipps

PROVIDER_CLASSES: dict[str, type[PaymentProvider]] = {cls.code: cls for cls in (Bambora, Optty, SimplePS, Vipps)}


def provider_for(code: str) -> PaymentProvider:
    """The adapter for provider `code`, configured from the current settings; its calls are
    timed and counted for the metrics."""
    cls = PROVIDER_CLASSES[code]
    config = settings.PROVIDERS[code]
    http = ProviderHttp(
        provider=code,
        timeout=settings.PROVIDER_TIMEOUT,
        secrets=[config[name] for name in cls.secret_settings],
    )
    # The metered adapter answers to the adapter's interface: it hands every attribute on.
    return cast(PaymentProvider, MeteredProvider(cls(config=config, http=http)))
