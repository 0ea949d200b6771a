"""The dashboard in the admin (/admin/centre/): scoped numbers, a bounded number of queries whatever
the scope, bad input 400, nodes out of scope 404, each widget's table as CSV and XLSX."""

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from centre.tables import WIDGETS
from civic.audit_models import AuditEvent
from tests.centre.conftest import more_cases
from tests.grid.utils import admin_client

DASHBOARD = "/admin/centre/"


def test_the_admin_home_links_the_centre(city):
    response = admin_client(city.users["street"]).get("/admin/")
    assert response.status_code == 200
    assert b'href="/admin/centre/"' in response.content
    assert b'href="/admin/centre/"' not in admin_client(city.users["citizen"]).get("/admin/").content


def test_the_centre_is_for_staff_with_a_post(city, spread):
    assert Client().get(DASHBOARD).status_code == 302  # to the admin's login
    city.users["citizen"].is_staff = True  # even let into the admin, a citizen holds no post
    city.users["citizen"].save()
    assert admin_client(city.users["citizen"]).get(DASHBOARD).status_code == 403


def test_every_widget_renders_with_its_table(city, spread):
    response = admin_client(city.users["district"]).get(DASHBOARD)
    assert response.status_code == 200, response.content[:500]
    assert [table.name for table in response.context["tables"]] == list(WIDGETS)
    html = response.content.decode()
    for name in WIDGETS:
        assert f'id="table-{name}"' in html
    assert html.count("<canvas") == sum(1 for t in response.context["tables"] if t.chart)


def test_street_officer_and_district_commander_see_different_numbers(city, spread):
    district = admin_client(city.users["district"]).get(DASHBOARD).context["board"].counts
    street = admin_client(city.users["street"]).get(DASHBOARD).context["board"].counts
    assert district.total == len(spread)
    assert 0 < street.total < district.total


def test_drill_down_and_scope(city, spread):
    client = admin_client(city.users["street"])
    inside = client.get(DASHBOARD, {"node": city.nodes["A1"].pk})
    assert inside.status_code == 200
    assert inside.context["node"] == city.nodes["A1"]
    # The breadcrumb shows what the street officer may see: their street office, then the community.
    assert [n.pk for n in inside.context["trail"]] == [city.nodes["A"].pk, city.nodes["A1"].pk]
    areas = next(t for t in inside.context["tables"] if t.name == "areas")
    assert [row[0] for row in areas.rows] == [city.nodes["A1g1"].name, city.nodes["A1g2"].name]
    assert client.get(DASHBOARD, {"node": city.nodes["B1"].pk}).status_code == 404
    assert client.get(DASHBOARD, {"node": city.nodes["district"].pk}).status_code == 404


@pytest.mark.parametrize("params", [{"from": "2026-03-31", "to": "2026-03-01"}, {"from": "soon"},
                                    {"interval": "hour"}, {"node": "x"}])
def test_bad_input_is_400(city, spread, params):
    response = admin_client(city.users["district"]).get(DASHBOARD, params)
    assert response.status_code == 400
    assert "tables" not in response.context


def _queries(client, query_budget, **params) -> int:
    with query_budget("centre.dashboard") as queries:
        response = client.get(DASHBOARD, params)
        assert response.status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_the_scope(city, spread, query_budget):
    """The whole dashboard in a fixed number of queries (its budget), for a grid worker as for the superuser,
    and the same number with more cases in scope."""
    counts = {name: _queries(admin_client(city.users[name]), query_budget)
              for name in ("worker", "street", "district", "admin")}
    more_cases(city, 30)
    assert _queries(admin_client(city.users["district"]), query_budget) == counts["district"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_widget_table_downloads_with_the_same_numbers(city, spread, fmt):
    client = admin_client(city.users["district"])
    status = next(t for t in client.get(DASHBOARD).context["tables"] if t.name == "status")
    response = client.get(f"/admin/centre/tables/status.{fmt}")
    assert response.status_code == 200
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        rows = [[str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == status.columns
    assert rows[1:] == [[str(v) for v in row] for row in status.rows]
    assert AuditEvent.objects.filter(action="export.table", actor=city.users["district"]).count() == 1


def test_unknown_widget_or_format_is_404(city, spread):
    client = admin_client(city.users["district"])
    assert client.get("/admin/centre/tables/happiness.csv").status_code == 404
    assert client.get("/admin/centre/tables/status.pdf").status_code == 404
