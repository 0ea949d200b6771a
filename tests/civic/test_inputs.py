"""NUL characters and deeply nested JSON answer 400 on every input path, never a server error:
PostgreSQL refuses NUL in text and in jsonb (a lookup or a write with one raised), and DRF let the
RecursionError of a deep JSON body through. civic.middleware guards paths, query strings and form
data for every view, civic.api.parsers the API's bodies, civic.inputs the JSON fields' validators."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation
from rest_framework.views import APIView

from civic.api import parsers
from civic.inputs import validate_json_input
from grid.models import GridNode
from issues.models import Case
from tests.grid.utils import admin_client, admin_url, api_client, assert_error_shape
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import report

DEEP = "[" * 5000 + "]" * 5000  # the review's body: json.loads raises RecursionError on it


#
# NUL in the path and the query string
#


@pytest.mark.parametrize("path", ["/cases/%00/", "/cases/%00/reported/", "/cases/public/?area=%00"])
@pytest.mark.parametrize("user", [None, "citizen"])
def test_a_nul_in_a_portal_url_is_400(postgres, client, city, path, user):
    if user:
        client.force_login(city.users[user])
    assert client.get(path).status_code == 400


@pytest.mark.parametrize("path", [
    "/api/v1/issues/cases/%00/", "/api/v1/issues/cases/?q=%00", "/api/v1/issues/cases/?status=%00",
    "/api/v1/grid/nodes/?name=a%00b", "/api/v1/grid/households/%00/", "/api/v1/grid/nodes/?%00=1",
])
def test_a_nul_in_an_api_url_is_400_in_the_api_shape(postgres, city, path):
    response = api_client(city.users["street"]).get(path, HTTP_ACCEPT_LANGUAGE="en")
    error = assert_error_shape(response, 400)
    assert (error["code"], error["message"]) == ("bad_request", "Text may not contain the NUL character.")


def test_a_nul_in_a_transition_url_is_400_and_changes_nothing(postgres, city, categories):  # noqa: F811
    case = report(city, categories["sanitation"])
    client = api_client(city.users["director"])
    response = client.post(f"/api/v1/issues/cases/{case.pk}/accept/?x=%00", {"version": 1}, format="json")
    assert_error_shape(response, 400)
    assert Case.objects.get(pk=case.pk).version == 1


@pytest.mark.parametrize("path", [
    "/admin/issues/case/?status__exact=%00", "/admin/issues/case/?q=%00", "/admin/grid/gridnode/?q=a%00",
    "/admin/grid/household/%00/change/", "/admin/issues/case/%00/change/",
])
def test_a_nul_in_an_admin_url_is_400(postgres, city, path):
    assert admin_client(city.admin).get(path).status_code == 400


def test_pages_without_a_nul_still_answer(postgres, client, city):
    assert client.get("/cases/public/").status_code == 200
    assert admin_client(city.admin).get("/admin/issues/case/?status__exact=reported").status_code == 200
    assert api_client(city.users["street"]).get("/api/v1/issues/cases/?q=垃圾").status_code == 200


#
# NUL in a body
#


def test_a_nul_in_an_admin_form_is_400_and_changes_nothing(postgres, city):
    grid = city.nodes["A1g1"]
    url = admin_url("gridnode", "change", grid.pk)
    data = {"name": "网格\x00一", "centroid_lat": "", "centroid_lon": "", "boundary": json.dumps(grid.boundary),
            "_save": "1"}
    assert admin_client(city.admin).post(url, data).status_code == 400
    assert GridNode.objects.get(pk=grid.pk).name == grid.name


def test_a_boundary_holding_a_nul_is_refused_in_the_admin(postgres, city):
    """The JSON text carries the escape \\u0000 (no NUL byte in the form): the boundary's validator refuses it."""
    grid = city.nodes["A1g1"]
    url = admin_url("gridnode", "change", grid.pk)
    boundary = json.dumps({**grid.boundary, "note": "\u0000"})
    assert "\\u0000" in boundary and "\x00" not in boundary
    data = {"name": grid.name, "centroid_lat": "", "centroid_lon": "", "boundary": boundary, "_save": "1"}
    response = admin_client(city.admin).post(url, data, headers={"accept-language": "en"})
    assert response.status_code == 200  # the form again, with the error next to the field
    assert "Text may not contain the NUL character." in response.content.decode()
    assert GridNode.objects.get(pk=grid.pk).boundary == grid.boundary


@pytest.mark.parametrize("change", [
    {"name": "网格\u0000一"},
    {"boundary": "with a NUL member"},
    {"boundary": "with a NUL key"},
])
def test_a_node_name_or_boundary_with_a_nul_through_the_api_is_400(postgres, city, change):
    grid = city.nodes["A1g1"]
    if change.get("boundary") == "with a NUL member":
        change = {"boundary": {**grid.boundary, "note": "\u0000"}}
    elif change.get("boundary") == "with a NUL key":
        change = {"boundary": {**grid.boundary, "no\u0000te": 1}}
    response = api_client(city.admin).patch(f"/api/v1/grid/nodes/{grid.pk}/", change, format="json")
    assert assert_error_shape(response, 400)["code"] == "parse_error"
    stored = GridNode.objects.get(pk=grid.pk)
    assert (stored.name, stored.boundary) == (grid.name, grid.boundary)


def test_a_boundary_with_a_nul_in_a_multipart_body_is_refused_by_its_validator(postgres, city):
    grid = city.nodes["A1g1"]
    boundary = json.dumps({**grid.boundary, "note": "\u0000"})
    response = api_client(city.admin).patch(f"/api/v1/grid/nodes/{grid.pk}/", {"boundary": boundary},
                                            format="multipart")
    assert "boundary" in assert_error_shape(response, 400)["fields"]
    assert GridNode.objects.get(pk=grid.pk).boundary == grid.boundary


@pytest.mark.parametrize("fmt", ["multipart", "form"])
def test_a_nul_in_an_api_form_body_is_400(postgres, city, categories, fmt):  # noqa: F811
    if fmt == "form":
        response = api_client(city.admin).patch(f"/api/v1/grid/nodes/{city.nodes['A1g1'].pk}/", "name=a%00b",
                                                content_type="application/x-www-form-urlencoded")
    else:
        data = {"category": categories["sanitation"].pk, "description": "垃圾\x00", "lat": 40.82, "lon": 111.61}
        response = api_client(city.users["worker"]).post("/api/v1/issues/cases/", data, format="multipart")
    assert assert_error_shape(response, 400)["code"] == "parse_error"
    assert Case.objects.count() == 0


#
# Deep JSON
#


@pytest.mark.parametrize(("method", "path", "user"), [
    ("post", "/api/v1/issues/cases/", "worker"),
    ("post", "/api/v1/issues/cases/{case}/accept/", "director"),
    ("post", "/api/v1/issues/cases/{case}/comment/", "worker"),
    ("post", "/api/v1/auth/token/", None),
    ("patch", "/api/v1/grid/nodes/{grid}/", "admin"),
    ("post", "/api/v1/grid/visits/", "worker"),
    ("post", "/api/v1/grid/households/", "admin"),
])
def test_deeply_nested_json_is_400_on_any_endpoint(city, categories, method, path, user):  # noqa: F811
    case = report(city, categories["sanitation"])
    client = api_client(city.users[user] if user else None)
    url = path.format(case=case.pk, grid=city.nodes["A1g1"].pk)
    response = getattr(client, method)(url, DEEP, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    error = assert_error_shape(response, 400)
    assert error["code"] == "parse_error" and error["message"] == "JSON nested deeper than 32 levels is not accepted."
    assert Case.objects.get(pk=case.pk).version == 1


def test_json_up_to_the_depth_limit_is_read(settings, city, categories):  # noqa: F811
    settings.JSON_MAX_DEPTH = 6  # a request body holding a GeoJSON MultiPolygon
    grid = city.nodes["A1g1"]
    ring = grid.boundary["coordinates"][0]
    client = api_client(city.admin)
    response = client.patch(f"/api/v1/grid/nodes/{grid.pk}/",
                            {"boundary": {"type": "MultiPolygon", "coordinates": [[ring]]}}, format="json")
    assert response.status_code == 200, response.content
    response = client.patch(f"/api/v1/grid/nodes/{grid.pk}/",
                            {"boundary": {"type": "MultiPolygon", "coordinates": [[[ring]]]}}, format="json")
    assert assert_error_shape(response, 400)["code"] == "parse_error"


@pytest.mark.parametrize(("value", "refused"), [
    ({"a": [1, "x", {"b": None}]}, False),
    ([[[[]]]], False),
    ([[[[[]]]]], True),
    ({"a": {"b": {"c": {"d": {}}}}}, True),
    ({"a": ["ok", "n\x00"]}, True),
    ({"k\x00": 1}, True),
    ("\x00", True),
])
def test_validate_json_input(value, refused):
    if refused:
        with pytest.raises(ValidationError), translation.override("en"):
            validate_json_input(value, max_depth=4)
    else:
        validate_json_input(value, max_depth=4)


def test_every_api_view_parses_with_the_sites_parsers():
    """A view naming DRF's own parsers (ObtainAuthToken does) would let a deep JSON body through."""
    ours = {parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser, parsers.BulkJSONParser}
    seen = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if isinstance(view, type) and issubclass(view, APIView):
                    chosen = (getattr(pattern.callback, "initkwargs", {}) or {}).get("parser_classes",
                                                                                       view.parser_classes)
                    seen.append((str(pattern.pattern), set(chosen) <= ours))

    walk(get_resolver().url_patterns)
    assert len(seen) > 20
    assert [path for path, ok in seen if not ok] == []
