"""What each provider can do and takes: a table that selectors, forms and the intake API read
without the adapters and their HTTP client."""

import pytest

from payments.capabilities import CAPABILITIES
from payments.providers.registry import PROVIDER_CLASSES
from tests.code_scan import ROOT, imports_of, reachable_modules

HTTP_LAYER = "payments.providers"


@pytest.mark.parametrize(
    "module",
    ["payments.capabilities", "payments.balances", "payments.selectors", "payments.approval_limits",
     "backoffice.forms", "backoffice.cards"],
)
def test_reads_of_capabilities_import_no_adapter_and_no_http(module):
    reached = reachable_modules(module)

    assert module in reached
    assert sorted(name for name in reached if name.startswith(HTTP_LAYER)) == []


def test_the_intake_api_checks_providers_by_the_table_not_the_adapters():
    # It hands orders to the order service, which reads each new payment at its provider; its
    # own checks (currencies, references) read the table.
    imported = {module for module, _ in imports_of((ROOT / "backoffice/intake.py").read_text())}

    assert "payments.capabilities" in imported
    assert not {module for module in imported if module.startswith(HTTP_LAYER)}


def test_the_scan_follows_imports_to_the_http_layer():
    assert "payments.providers.http" in reachable_modules("payments.services.execution")


def test_every_adapter_is_its_providers_entry_in_the_table():
    assert list(CAPABILITIES) == list(PROVIDER_CLASSES) == ["bambora", "optty", "simpleps", "vipps"]
    for code, adapter in PROVIDER_CLASSES.items():
        assert adapter.capabilities is CAPABILITIES[code]
        assert (adapter.code, adapter.name) == (code, CAPABILITIES[code].name)


@pytest.mark.parametrize(
    ("code", "currency", "problem"),
    [
        ("vipps", "NOK", None),
        ("vipps", "SEK", "Vipps MobilePay takes only DKK, EUR, NOK, not SEK."),
        ("optty", "AUD", None),
        ("optty", "KWD", "Optty takes amounts with at most 2 decimals; KWD has 3."),
        ("bambora", "KWD", None),
    ],
)
def test_currencies_a_provider_takes(code, currency, problem):
    assert CAPABILITIES[code].currency_problem(currency) == problem


@pytest.mark.parametrize(
    ("code", "reference", "problem"),
    [
        ("vipps", "acme-100045-1", None),
        ("vipps", "short", "Vipps takes references of 8 to 50 letters, digits and hyphens."),
        ("vipps", "acme_100045_1", "Vipps takes references of 8 to 50 letters, digits and hyphens."),
        ("simpleps", "x" * 255, None),
        ("simpleps", "x" * 256, "SimplePS takes references of at most 255 characters."),
        ("bambora", "x" * 2000, None),
        ("bambora", " padded", "The reference must not be empty or start or end with spaces."),
        ("optty", "tab\there", "The reference must not contain control characters."),
    ],
)
def test_references_a_provider_takes(code, reference, problem):
    assert CAPABILITIES[code].reference_problem(reference) == problem


def test_cancels_after_a_capture():
    assert {code for code, capabilities in CAPABILITIES.items() if capabilities.cancels_after_capture} == {"vipps"}
