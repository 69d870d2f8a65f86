"""Fixtures of the back office's tests."""

import pytest

from payments.services.api_tokens import api_token_create
from payments.services.audit import Actor


@pytest.fixture
def token():
    """The bearer token of a shop that sends orders to the intake API."""
    return api_token_create(name="webshop", actor=Actor.system("tests"))[1]
