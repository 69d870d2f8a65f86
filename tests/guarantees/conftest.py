"""Fixtures of the guarantees' tests."""

import pytest

from tests.guarantees.helpers import Person


@pytest.fixture
def person(live_server):
    return lambda user: Person(live_server, user)
