"""The field app's tests: one city per module (tests.factories.CityBuilder, built once and rolled
back at the end), fresh instances of it per test, and a client signed in as one of its staff."""

import pytest

from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import FAST_HASHERS, fresh_city, shared_city


@pytest.fixture(scope="module")
def _city_pks(django_db_setup, django_db_blocker):
    with shared_city(django_db_blocker) as pks:
        yield pks


@pytest.fixture
def city(db, _city_pks):
    return fresh_city(_city_pks)


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS  # the city's users were built with these


@pytest.fixture
def as_user(client, city):
    """``as_user("worker")``: the test client, signed in as that user of the city."""

    def login(username: str):
        client.force_login(city.users[username])
        return client

    return login
