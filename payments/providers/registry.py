"""The adapters by provider code, built from settings.PROVIDERS at the moment of use. They are
cheap: each provider's HTTP session (and its kept connections) lives once per process
(payments.providers.http.session_for)."""

from django.conf import settings

from payments.metrics import MeteredProvider
from payments.providers.bambora import Bambora
from payments.providers.http import ProviderHttp
from payments.providers.optty import Optty
from payments.providers.simpleps import SimplePS
from payments.providers.vipps import Vipps

PROVIDER_CLASSES = {cls.code: cls for cls in (Bambora, Optty, SimplePS, Vipps)}


def provider_for(code):
    """The adapter for provider `code`, configured from the current settings; its calls are
    timed and counted for the metrics."""
    cls = PROVIDER_CLASSES[code]
    config = settings.PROVIDERS[code]
    http = ProviderHttp(
        provider=code,
        timeout=settings.PROVIDER_TIMEOUT,
        secrets=[config[name] for name in cls.secret_settings],
    )
    return MeteredProvider(cls(config=config, http=http))
