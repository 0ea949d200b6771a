"""Partners need a city (tests.factories.CityBuilder), the case categories of the case tests, and keys
made through the real service."""

import pytest
from rest_framework.test import APIClient

from partners.services import api_key_create, partner_ensure
from tests.issues.conftest import categories  # noqa: F401 - the case tests' categories, as a fixture here


@pytest.fixture
def partner(db):
    return partner_ensure(actor=None, code="utility", name="春华水务")


@pytest.fixture
def make_key(partner):
    """make_key(scopes, node=None, **kwargs) -> (ApiKey, text), for the partner unless one is given."""

    def make(scopes, node=None, *, owner=None, **kwargs):
        return api_key_create(actor=None, partner=owner or partner, scopes=scopes, node=node, **kwargs)

    return make


def key_client(text: str) -> APIClient:
    """A partner's client; it asks for English, so that tests can read the messages."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}", HTTP_ACCEPT_LANGUAGE="en")
    return client
