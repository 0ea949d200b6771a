"""GET /api/v1/auth/me/: who is signed in, by token or session, and nothing for anyone else."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.grid.utils import api_client, assert_error_shape

ME = "/api/v1/auth/me/"


@pytest.fixture
def officer(db):
    return UserFactory(username="officer", first_name="明", last_name="李", language="en")


def test_me_by_token_is_the_token_holder(officer, query_budget):
    UserFactory(username="someone_else", first_name="红", last_name="王")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=officer).key}")
    with query_budget("civic.auth.me"):
        response = client.get(ME)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": officer.pk, "username": "officer", "name": "李明", "language": "en",
                               "is_staff": True}


def test_me_by_session(db):
    citizen = UserFactory(username="resident", is_staff=False)
    body = api_client(citizen).get(ME).json()
    assert (body["id"], body["username"], body["name"], body["language"], body["is_staff"]) == (
        citizen.pk, "resident", "", "zh-hans", False)


def test_me_is_read_only(officer):
    response = api_client(officer).patch(ME, {"is_staff": False}, format="json")
    assert_error_shape(response, 405)
    officer.refresh_from_db()
    assert officer.is_staff


@pytest.mark.parametrize("authorization", [None, "Token not-a-token"])
def test_me_refuses_anonymous_and_bad_tokens(db, authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get(ME)
    assert assert_error_shape(response, 401)["code"] in ("not_authenticated", "authentication_failed")


def test_schema_documents_me(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][ME]["get"]
    assert operation["operationId"] == "auth_me"
    assert set(operation["responses"]) >= {"200", "401"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert set(properties) == {"id", "username", "name", "language", "is_staff"}
