"""/healthz: the database decides the status; cache and Celery are reported alongside."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_healthz_ok_reports_every_check(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "celery"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    assert "no-cache" in response["Cache-Control"]


def test_healthz_503_when_database_is_down(client):
    # Fail where a dead server fails: when the cursor is opened. The view's own handling runs as is.
    with mock.patch("civic.health.connection.cursor", side_effect=OperationalError("connection refused")):
        response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "connection refused"}
    # The other checks are still reported.
    assert body["checks"]["cache"]["ok"] is True
    assert "celery" in body["checks"]


def test_healthz_503_when_query_fails(client):
    cursor = mock.MagicMock()
    cursor.__enter__.return_value.execute.side_effect = OperationalError("server closed the connection")
    with mock.patch("civic.health.connection.cursor", return_value=cursor):
        response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_healthz_rejects_post(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_celery_eager_mode(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    celery = client.get(reverse("healthz")).json()["checks"]["celery"]

    assert celery == {"ok": True, "mode": "eager", "workers": 0}


@pytest.mark.services
def test_celery_without_workers_does_not_fail_health(client, settings, redis_url):
    # A real broker (REDIS_URL) with no worker consuming from it: reported, yet the site still serves.
    settings.CELERY_TASK_ALWAYS_EAGER = False

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json()["checks"]["celery"] == {"ok": False, "mode": "broker", "workers": 0}
