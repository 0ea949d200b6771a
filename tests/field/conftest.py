"""The field app's tests: one city per module (tests/support/city.py), fresh instances of it per
test, and a client signed in as one of its staff."""

import pytest

from tests.factories import CityBuilder
from tests.issues.conftest import categories  # noqa: F401
from tests.support.city import built_once, restore


@pytest.fixture(scope="module")
def _city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, CityBuilder().build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, _city):
    return restore(_city)


@pytest.fixture
def as_user(client, city):
    """``as_user("worker")``: the test client, signed in as that user of the city."""

    def login(username: str):
        client.force_login(city.users[username])
        return client

    return login
