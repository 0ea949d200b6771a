"""Small helpers shared by the grid tests."""

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

API = "/api/v1/grid"


def api_client(user=None) -> APIClient:
    """An API client logged in as `user` (a real session: grants load per request, as in production)."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def result_ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None, "the whole list must fit on one page"
    return {row["id"] for row in body["results"]}


def admin_url(model_name: str, view: str, *args) -> str:
    return reverse(f"admin:grid_{model_name}_{view}", args=args)


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str)
    return error
