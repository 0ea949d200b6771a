"""The case list's SQL keeps the shapes its indexes serve (bench/cases.py measures them at a million
cases): no "in my subtrees OR mine" when the user owns nothing outside them, no DISTINCT for a status."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grid.permissions import forget_grants, scope
from issues.models import Case
from tests.grid.utils import api_client
from tests.issues.test_api import API, _report

pytestmark = pytest.mark.django_db


def _where(queryset) -> str:
    return str(queryset.query).split(" WHERE ", 1)[1]


def test_staff_who_report_inside_their_scope_get_no_owner_clause(city, categories):
    director = city.users["director"]
    mine = _report(city, categories, "director", "A1g2")
    cases = scope(Case.objects.all(), director)
    assert "reporter_id" not in _where(cases)
    assert mine in cases


def test_a_case_of_ones_own_outside_the_scope_keeps_the_owner_clause(city, categories):
    worker = city.users["worker"]  # posted at A1g1
    elsewhere = _report(city, categories, "worker", "A1g1")
    # Reported before the worker's post moved, say: it lies outside what the grants cover now.
    Case.objects.filter(pk=elsewhere.pk).update(grid_path=city.nodes["B1g1"].path, grid=city.nodes["B1g1"])
    forget_grants(worker)
    cases = scope(Case.objects.all(), worker)
    assert "reporter_id" in _where(cases)
    assert cases.filter(pk=elsewhere.pk).exists()


def test_a_citizen_sees_only_their_own(city, categories):
    citizen = city.users["citizen"]
    theirs = _report(city, categories, "citizen", "A1g1")
    _report(city, categories, "worker", "A1g1")
    assert list(scope(Case.objects.all(), citizen)) == [theirs]


def test_the_status_filter_reads_one_index_range_without_distinct(city, categories):
    _report(city, categories, "worker", "A1g1")
    client = api_client(city.users["street"])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{API}/cases/", {"status": ["reported", "accepted"]})
    assert response.status_code == 200 and response.json()["count"] == 1
    pages = [q["sql"] for q in queries if 'FROM "issues_case"' in q["sql"] and "ORDER BY" in q["sql"]]
    assert pages and not any("DISTINCT" in sql for sql in pages)


def test_ties_on_the_deadline_break_the_way_the_deadline_runs(city, categories):
    cases = [_report(city, categories, "worker", "A1g1") for _ in range(3)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(due_at=cases[0].created_at)
    client = api_client(city.users["worker"])
    forward = [row["id"] for row in client.get(f"{API}/cases/", {"ordering": "due_at"}).json()["results"]]
    backward = [row["id"] for row in client.get(f"{API}/cases/", {"ordering": "-due_at"}).json()["results"]]
    ours = sorted(c.pk for c in cases)
    assert [pk for pk in forward if pk in ours] == ours
    assert [pk for pk in backward if pk in ours] == ours[::-1]
