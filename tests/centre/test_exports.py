"""Exports of cases: the dashboard's and the API's (small at once, large by a worker: 202 then a link),
the admin changelist's action; scoped, logged, one export when asked twice at once."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from openpyxl import load_workbook

from centre import services, tasks
from centre.models import Export
from civic.audit_models import AuditEvent
from issues.models import Case
from tests.grid.utils import admin_client, api_client, assert_error_shape

EXPORTS = "/api/v1/centre/exports/"


@pytest.fixture
def queued(monkeypatch):
    """Celery's queue, in hand: the ids of the exports sent to a worker."""
    sent = []
    monkeypatch.setattr(tasks.build_export, "delay", sent.append)
    return sent


def _rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response["Content-Type"].startswith("text/csv"):
        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return [[("" if v is None else str(v)) for v in row]
            for sheet in load_workbook(io.BytesIO(content)).worksheets for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_small_export_is_built_at_once_and_scoped(city, spread, fmt):
    client = api_client(city.users["street"])
    response = client.post(EXPORTS + "?from=2026-01-01", {"format": fmt}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "done" and body["rows"] == client.get(
        "/api/v1/issues/cases/", {"created_after": "2026-01-01T00:00:00+08:00"}).json()["count"]
    rows = _rows(client.get(body["download"]))
    references = {row[0] for row in rows[1:]}
    assert references == set(Case.objects.filter(grid_path__startswith=city.nodes["A"].path)
                             .values_list("reference", flat=True))
    assert AuditEvent.objects.filter(action="export.cases", actor=city.users["street"]).count() == 1
    # Nobody else downloads it, not even the district commander.
    other = api_client(city.users["district"])
    assert_error_shape(other.get(body["url"]), 404)
    assert other.get(body["download"]).status_code == 404


def test_a_large_export_goes_to_a_worker(city, spread, settings, queued, django_capture_on_commit_callbacks):
    settings.CENTRE_EXPORT_INLINE_ROWS = 3
    client = api_client(city.users["district"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(EXPORTS, {"format": "csv"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["download"] is None and response["Location"] == body["url"]
    assert queued == [body["id"]]
    # Asked again while waiting: the same export, nothing queued twice.
    again = client.post(EXPORTS, {"format": "csv"}, format="json")
    assert again.status_code == 202 and again.json()["id"] == body["id"] and len(queued) == 1
    tasks.build_export(body["id"])
    tasks.build_export(body["id"])  # a redelivered message does nothing
    ready = client.get(body["url"]).json()
    assert ready["status"] == "done" and ready["rows"] == len(spread)
    assert len(_rows(client.get(ready["download"]))) == len(spread) + 1


def test_export_bad_input(city, spread):
    client = api_client(city.users["street"])
    assert "format" in assert_error_shape(client.post(EXPORTS, {"format": "pdf"}, format="json"), 400)["fields"]
    error = assert_error_shape(client.post(EXPORTS + "?from=2026-05-01&to=2026-04-01", {"format": "csv"},
                                           format="json"), 400)
    assert "to" in error["fields"]
    assert_error_shape(client.post(EXPORTS + f"?node={city.nodes['B'].pk}", {"format": "csv"}, format="json"), 404)
    assert Export.objects.count() == 0
    assert_error_shape(api_client(city.users["citizen"]).post(EXPORTS, {"format": "csv"}, format="json"), 403)


def test_an_interrupted_export_does_not_block_a_new_one(city, spread, settings, queued):
    settings.CENTRE_EXPORT_INLINE_ROWS = 0
    first, _ = services.export_request(actor=city.users["district"], source="centre", params={}, format="csv",
                                       rows=100)
    Export.objects.filter(pk=first.pk).update(status=Export.Status.RUNNING,
                                              created_at=timezone.now() - timedelta(hours=1))
    second, created = services.export_request(actor=city.users["district"], source="centre", params={},
                                              format="csv", rows=100)
    assert created and second.pk != first.pk
    assert Export.objects.get(pk=first.pk).status == Export.Status.FAILED


def _changelist_action(client, action: str, data: dict, query: str = ""):
    return client.post(f"/admin/issues/case/{query}", {"action": action, **data})


def test_the_admin_case_list_exports_what_it_shows(city, spread, settings, queued):
    client = admin_client(city.users["street"])
    shown = Case.objects.filter(grid_path__startswith=city.nodes["A"].path, status="accepted")
    # "Select all" over the filtered list: every case the filter shows, not only the page.
    response = _changelist_action(client, "export_cases_csv", {"select_across": "1", "index": "0",
                                  ACTION_CHECKBOX_NAME: [shown.first().pk]}, "?status__exact=accepted")
    assert response.status_code == 302
    export = Export.objects.get(source="admin")
    assert export.status == "done"
    download = client.get(response["Location"])
    assert {row[0] for row in _rows(download)[1:]} == set(shown.values_list("reference", flat=True))
    # Selected rows only.
    one = spread["reported"]
    _changelist_action(client, "export_cases_xlsx", {"index": "0", ACTION_CHECKBOX_NAME: [one.pk]})
    export = Export.objects.filter(source="admin", format="xlsx").get()
    assert [row[0] for row in _rows(client.get(f"/admin/centre/exports/{export.pk}/download/"))[1:]] == [
        one.reference]


def test_the_dashboard_export_button(city, spread, settings, queued, django_capture_on_commit_callbacks):
    client = admin_client(city.users["district"])
    small = client.post("/admin/centre/exports/new/?from=2026-03-01&to=2026-03-31", {"format": "csv"})
    assert small.status_code == 302 and "/download/" in small["Location"]
    assert [row[0] for row in _rows(client.get(small["Location"]))[1:]] == [spread["march"].reference]
    settings.CENTRE_EXPORT_INLINE_ROWS = 0
    with django_capture_on_commit_callbacks(execute=True):
        large = client.post("/admin/centre/exports/new/", {"format": "xlsx"})
    assert large["Location"] == "/admin/centre/exports/" and len(queued) == 1
    page = client.get("/admin/centre/exports/")
    assert page.status_code == 200 and len(page.context["exports"]) == 2
    assert client.post("/admin/centre/exports/new/", {"format": "doc"}).status_code == 400
