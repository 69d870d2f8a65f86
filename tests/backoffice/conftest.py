import pytest
from django.core.management import call_command


@pytest.fixture
def ledger_is_consistent():
    """After the test: `check_ledger` finds every aggregate equal to its ledger (as the
    fixture of the same name in tests/guarantees)."""
    yield
    call_command("check_ledger")
