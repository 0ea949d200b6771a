"""Open311 GeoReport v2 at /open311/v2/: every endpoint in XML and JSON exactly per the specification
(roots, field names, ids as strings, W3C dates with a time zone, the error format), the filters and
the opt-in extensions, and POST requests: a case like any other, or a 400/403/404 that changes nothing."""

import json
import re
import uuid
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civic.models import Notice
from issues import services
from issues.models import Case, CaseEvent, CategoryAttribute
from partners.models import ApiRequest
from partners.services import api_key_create, api_key_revoke, partner_ensure
from tests.issues.helpers import OUTSIDE_EVERY_GRID, point_in, row_counts

V2 = "/open311/v2"
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
FORMATS = ["xml", "json"]


#
# Fixtures and helpers
#


@pytest.fixture
def attributes(categories):
    """The water category asks how far an outage reaches (required) and since when."""
    water = categories["city-management"]
    CategoryAttribute.objects.create(
        category=water, code="extent", datatype="singlevaluelist", required=True, order=1,
        description="停水范围", description_en="How far?",
        values=[{"key": "household", "name": "单户", "name_en": "one household"},
                {"key": "building", "name": "整栋楼", "name_en": "the whole building"}],
    )
    CategoryAttribute.objects.create(category=water, code="floors", datatype="multivaluelist", order=2,
                                     description="楼层", description_en="Floors",
                                     values=[{"key": "1", "name": "一层"}, {"key": "2", "name": "二层"}])
    CategoryAttribute.objects.create(category=water, code="since", datatype="datetime", order=3,
                                     description="开始时间", description_en="Since when?")
    return water


@pytest.fixture
def hotline(db):
    return partner_ensure(actor=None, code="hotline", name="12345 市民热线")


@pytest.fixture
def key(hotline):
    return api_key_create(actor=None, partner=hotline, scopes=["open311"])[1]


def parse(response, fmt):
    """The body as Python: JSON as it is; XML as (root tag, element)."""
    if fmt == "json":
        assert response["Content-Type"] == "application/json; charset=utf-8"
        return json.loads(response.content)
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(response.content)


def errors_of(response, fmt, status):
    assert response.status_code == status, response.content
    body = parse(response, fmt)
    if fmt == "json":
        assert isinstance(body, list) and body
        assert all(set(error) == {"code", "description"} and error["code"] == status for error in body)
        return [error["description"] for error in body]
    assert body.tag == "errors" and [child.tag for child in body] == ["error"] * len(body)
    assert all(error.findtext("code") == str(status) for error in body)
    return [error.findtext("description") for error in body]


def post_form(client, fmt="json", **fields):
    """Form-encoded, as the specification says; in English, so that tests can read the messages."""
    return client.post(f"{V2}/requests.{fmt}", fields, headers={"accept-language": "en"})


def report(city, categories, grid="A1g1", user="worker", category="city-management", at=None, **kwargs):
    lat, lon = at or point_in(city.nodes[grid])
    return services.case_report(actor=city.users[user], category=categories[category],
                                description=f"问题 {grid}", lat=lat, lon=lon, **kwargs)


def valid(city, key, **extra):
    lat, lon = point_in(city.nodes["A1g1"])
    return {"api_key": key, "service_code": "city-management", "lat": str(lat), "long": str(lon),
            "description": "楼道没水了", "attribute[extent]": "building", **extra}


#
# Discovery and services
#


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(client, db, fmt):
    body = parse(client.get(f"{V2}/discovery.{fmt}"), fmt)
    if fmt == "json":
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
        (endpoint,) = body["endpoints"]
        assert endpoint["formats"] == ["text/xml", "application/json"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"] == "http://testserver/open311/v2" and endpoint["type"] == "production"
        assert W3C.match(body["changeset"])
    else:
        assert body.tag == "discovery"
        assert [f.text for f in body.find("endpoints/endpoint/formats")] == ["text/xml", "application/json"]
        assert body.findtext("key_service")


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_list(client, attributes, categories, fmt):
    body = parse(client.get(f"{V2}/services.{fmt}", headers={"accept-language": "en"}), fmt)
    if fmt == "json":
        assert isinstance(body, list)
        by_code = {service["service_code"]: service for service in body}
        water = by_code["city-management"]
        assert water["metadata"] is True and water["type"] == "realtime"
        assert by_code["sanitation"]["metadata"] is False and by_code["sanitation"]["group"] == "City management"
        assert all(isinstance(service["service_code"], str) for service in body)
    else:
        assert body.tag == "services" and {child.tag for child in body} == {"service"}
        codes = {service.findtext("service_code"): service for service in body}
        assert codes["city-management"].findtext("metadata") == "true"
        assert codes["sanitation"].findtext("metadata") == "false"
        assert [child.tag for child in codes["sanitation"]] == [
            "service_code", "service_name", "description", "metadata", "type", "keywords", "group"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition(client, attributes, fmt):
    body = parse(client.get(f"{V2}/services/city-management.{fmt}", headers={"accept-language": "en"}), fmt)
    if fmt == "json":
        assert body["service_code"] == "city-management"
        extent, floors, since = body["attributes"]
        assert (extent["code"], extent["datatype"], extent["required"], extent["order"]) == (
            "extent", "singlevaluelist", True, 1)
        assert extent["variable"] is True and extent["description"] == "How far?"
        assert extent["values"] == [{"key": "household", "name": "one household"},
                                    {"key": "building", "name": "the whole building"}]
        assert floors["datatype"] == "multivaluelist" and "values" not in since
    else:
        assert body.tag == "service_definition" and body.findtext("service_code") == "city-management"
        first = body.find("attributes/attribute")
        assert first.findtext("required") == "true"
        assert [v.findtext("key") for v in first.findall("values/value")] == ["household", "building"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_service_is_404(client, categories, fmt):
    (description,) = errors_of(client.get(f"{V2}/services/no-such-thing.{fmt}"), fmt, 404)
    assert "no-such-thing" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_jurisdiction_id_is_accepted_and_checked(client, categories, settings, fmt):
    ours = settings.OPEN311_JURISDICTION_ID
    assert client.get(f"{V2}/services.{fmt}", {"jurisdiction_id": ours}).status_code == 200
    assert client.get(f"{V2}/services.{fmt}", {"jurisdiction_id": ""}).status_code == 200  # empty = absent
    errors_of(client.get(f"{V2}/services.{fmt}", {"jurisdiction_id": "sfgov.org"}), fmt, 404)


def test_a_method_the_resource_lacks_is_refused_in_the_error_format(client, db):
    response = client.post(f"{V2}/services.json", {})
    errors_of(response, "json", 405)
    assert response["Allow"] == "GET"


#
# POST requests: a case like any other
#


@pytest.mark.parametrize("fmt", FORMATS)
def test_posting_a_request_reports_a_case(client, city, attributes, hotline, key, fmt):
    response = post_form(client, fmt, **valid(city, key, **{
        "attribute[floors][]": ["1", "2"], "attribute[since]": "2026-12-01T07:30:00+08:00",
        "media_url": "https://hotline.example/photos/1.jpg", "address_string": "星火巷 3 号",
        "email": "resident@example.org", "first_name": "张", "device_id": "x1",
    }))
    assert response.status_code == 201, response.content
    body = parse(response, fmt)
    if fmt == "json":
        (created,) = body
        reference = created["service_request_id"]
        assert "token" not in created and isinstance(reference, str)
    else:
        assert body.tag == "service_requests"
        reference = body.findtext("request/service_request_id")
        assert body.find("request/token") is None
    case = Case.objects.get(reference=reference)
    # The same routing, deadline, timeline and notices as any report.
    assert case.reporter == hotline.user and case.reporter_kind == "staff"
    assert case.grid == city.nodes["A1g1"] and case.handling_node == city.nodes["A1"]
    assert case.due_at is not None and case.status == "reported"
    assert CaseEvent.objects.get(case=case).actor == hotline.user
    assert Notice.objects.filter(template="issues/case_reported", recipient=city.users["director"]).exists()
    assert case.attributes == {"extent": "building", "floors": ["1", "2"], "since": "2026-12-01T07:30:00+08:00"}
    assert case.media_url == "https://hotline.example/photos/1.jpg" and case.address == "星火巷 3 号"
    assert ApiRequest.objects.get().status == 201  # the partner's request log


def test_a_request_resent_with_its_idempotency_key_is_stored_once(client, city, attributes, key):
    header = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"{V2}/requests.json", valid(city, key), headers=header)
    again = client.post(f"{V2}/requests.json", valid(city, key), headers=header)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() and Case.objects.count() == 1


def test_without_a_description_the_service_name_stands_in(client, city, attributes, key):
    response = post_form(client, **valid(city, key, description=""))
    assert response.status_code == 201
    assert Case.objects.get().description == attributes.name_en  # the request's language: English here


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "civic_nobody-has-this-key"}, 403, "api_key"),
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "no-such-thing"}, 404, "no-such-thing"),
        ({"lat": None, "long": None}, 400, "lat"),
        ({"lat": None, "long": None, "address_string": "星火巷 3 号"}, 400, "lat and long"),
        ({"long": None}, 400, "both"),
        ({"lat": "north"}, 400, "numbers"),
        ({"lat": "91"}, 400, "-90"),
        ({"lat": "nan"}, 400, "-90"),
        ({"lat": str(OUTSIDE_EVERY_GRID[0]), "long": str(OUTSIDE_EVERY_GRID[1])}, 400, "outside"),
        ({"description": "长" * 4001}, 400, "4000"),
        ({"attribute[extent]": None}, 400, "extent"),
        ({"attribute[extent]": "street"}, 400, "street"),
        ({"attribute[since]": "yesterday"}, 400, "since"),
        ({"attribute[colour]": "blue"}, 400, "colour"),
        ({"media_url": "file:///etc/passwd"}, 400, "media"),
        ({"jurisdiction_id": "sfgov.org"}, 404, "sfgov.org"),
    ],
)
def test_bad_requests_change_nothing(client, city, attributes, key, fmt, change, status, says):
    fields = {name: value for name, value in {**valid(city, key), **change}.items() if value is not None}
    before = row_counts()
    descriptions = errors_of(post_form(client, fmt, **fields), fmt, status)
    assert any(says in description for description in descriptions), descriptions
    assert row_counts() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_revoked_expired_and_unscoped_keys_are_403(client, city, attributes, hotline, fmt):
    _revoked_key, revoked = api_key_create(actor=None, partner=hotline, scopes=["open311"])
    api_key_revoke(actor=None, key=_revoked_key)
    expired_key, expired = api_key_create(actor=None, partner=hotline, scopes=["open311"],
                                          expires_at=timezone.now() + timedelta(hours=1))
    type(expired_key).objects.filter(pk=expired_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _reader, reader = api_key_create(actor=None, partner=hotline, scopes=["cases.read"])
    for text in (revoked, expired, reader):
        errors_of(post_form(client, fmt, **valid(city, text)), fmt, 403)
    assert not Case.objects.exists()


def test_a_key_limited_to_a_street_office_posts_only_there(client, city, attributes, hotline):
    _key, text = api_key_create(actor=None, partner=hotline, scopes=["open311"], node=city.nodes["B"])
    errors_of(post_form(client, **valid(city, text)), "json", 403)
    lat, lon = point_in(city.nodes["B1g1"])
    assert post_form(client, **valid(city, text, lat=str(lat), long=str(lon))).status_code == 201


def test_a_key_over_its_rate_gets_429_with_retry_after(client, city, attributes, hotline, settings):
    settings.API_KEY_DEFAULT_RATE = "1/min"
    _key, text = api_key_create(actor=None, partner=hotline, scopes=["open311"])
    assert post_form(client, **valid(city, text)).status_code == 201
    response = post_form(client, **valid(city, text))
    errors_of(response, "json", 429)
    assert int(response["Retry-After"]) >= 1 and Case.objects.count() == 1


#
# GET requests
#


@pytest.fixture
def cases(city, categories):
    open_case = report(city, categories)
    closed = report(city, categories, category="sanitation", grid="A1g2", user="director")
    services.case_transition(actor=city.users["director"], case=closed, name="accept", version=1)
    closed.refresh_from_db()
    Case.objects.filter(pk=closed.pk).update(status="closed", closed_at=timezone.now())
    corner = city.nodes["B1g1"]  # away from the grid's centre, where the public sees it
    sensitive = report(city, categories, category="dispute", grid="B1g1", user="worker2",
                       at=(corner.min_lat + 0.001, corner.min_lon + 0.001))
    rejected = report(city, categories, grid="A1g2", user="director")
    Case.objects.filter(pk=rejected.pk).update(status="rejected")
    private = report(city, categories, user="citizen", reporter_public=False)
    return {"open": open_case, "closed": Case.objects.get(pk=closed.pk), "sensitive": sensitive,
            "rejected": rejected, "private": private}


def _ids(response, fmt) -> list[str]:
    assert response.status_code == 200, response.content
    body = parse(response, fmt)
    if fmt == "json":
        assert isinstance(body, list)
        return [request["service_request_id"] for request in body]
    assert body.tag == "service_requests"
    return [request.findtext("service_request_id") for request in body]


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_lists_the_public_cases_newest_first(client, cases, fmt):
    expected = [cases[k].reference for k in ("sensitive", "closed", "open")]
    assert _ids(client.get(f"{V2}/requests.{fmt}"), fmt) == expected


def test_a_request_has_the_specifications_fields(client, cases):
    (request,) = client.get(f"{V2}/requests.json", {"service_request_id": cases["open"].reference}).json()
    assert list(request) == [
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "zipcode", "lat", "long", "media_url",
    ]
    assert request["status"] == "open" and request["service_code"] == "city-management"
    assert W3C.match(request["requested_datetime"]) and W3C.match(request["expected_datetime"])
    assert request["requested_datetime"].endswith("+08:00")
    assert isinstance(request["lat"], float) and request["agency_responsible"] == "社区A1"
    (closed,) = client.get(f"{V2}/requests.json", {"service_request_id": cases["closed"].reference}).json()
    assert closed["status"] == "closed" and closed["expected_datetime"] is None


def test_a_sensitive_case_is_shown_at_its_grid_without_an_address(client, cases, city):
    (request,) = client.get(f"{V2}/requests.json", {"service_request_id": cases["sensitive"].reference}).json()
    grid = city.nodes["B1g1"]
    assert request["address"] == ""
    assert (request["lat"], request["long"]) != (float(cases["sensitive"].lat), float(cases["sensitive"].lon))
    assert grid.min_lat <= request["lat"] <= grid.max_lat


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, ["sensitive", "open"]),
        ({"status": "closed"}, ["closed"]),
        ({"status": "open,closed"}, ["sensitive", "closed", "open"]),
        ({"status": ""}, ["sensitive", "closed", "open"]),  # empty = absent
        ({"service_code": "sanitation,neighbour-dispute"}, ["sensitive", "closed"]),
        ({"service_request_id": "OPEN,CLOSED", "status": "closed", "service_code": "nothing"}, ["closed", "open"]),
        ({"service_request_id": "REJECTED,PRIVATE"}, []),
    ],
)
def test_requests_filters(client, cases, params, expected):
    params = {name: re.sub(r"[A-Z]+", lambda m: cases[m[0].lower()].reference, value) for name, value in params.items()}
    assert _ids(client.get(f"{V2}/requests.json", params), "json") == [cases[k].reference for k in expected]


def test_requests_by_date(client, cases):
    now = timezone.now()
    within = {"start_date": (now - timedelta(hours=1)).isoformat(), "end_date": (now + timedelta(hours=1)).isoformat()}
    assert len(_ids(client.get(f"{V2}/requests.json", within), "json")) == 3
    before = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00Z"}
    assert _ids(client.get(f"{V2}/requests.json", before), "json") == []
    Case.objects.filter(pk=cases["open"].pk).update(created_at=now - timedelta(days=100))
    assert cases["open"].reference not in _ids(client.get(f"{V2}/requests.json"), "json")  # default: 90 days


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"start_date": "2026-01-01T00:00:00"},  # no time zone
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},  # over 90 days
        {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"status": "pending"},
        {"page": "0"},
        {"page_size": "5000"},
        {"updated_after": "soon"},
    ],
)
def test_bad_searches_are_400(client, db, fmt, params):
    errors_of(client.get(f"{V2}/requests.{fmt}", params), fmt, 400)


def test_opt_in_extensions(client, cases):
    updated = {"updated_after": (timezone.now() - timedelta(minutes=5)).isoformat()}
    assert len(_ids(client.get(f"{V2}/requests.json", updated), "json")) == 3
    later = {"updated_after": (timezone.now() + timedelta(minutes=5)).isoformat()}
    assert _ids(client.get(f"{V2}/requests.json", later), "json") == []
    pages = [_ids(client.get(f"{V2}/requests.json", {"page": n, "page_size": 2}), "json") for n in (1, 2, 3)]
    assert pages == [[cases["sensitive"].reference, cases["closed"].reference], [cases["open"].reference], []]
    (plain,) = client.get(f"{V2}/requests.json", {"service_request_id": cases["closed"].reference}).json()
    assert "notes" not in plain
    (extended,) = client.get(f"{V2}/requests.json", {"service_request_id": cases["closed"].reference,
                                                     "extensions": "true"}).json()
    assert extended["extended_attributes"]["civic_status"] == "closed"
    assert [note["type"] for note in extended["notes"]] == ["report", "accept"]


def test_extended_requests_in_xml(client, cases):
    body = parse(client.get(f"{V2}/requests.xml", {"extensions": "true"}), "xml")
    first = body.find("request")
    assert first.find("extended_attributes/civic_status") is not None
    assert [note.tag for note in first.find("notes")] == ["note"]


def test_the_list_costs_the_same_whatever_its_length(client, city, categories):
    def queries(count):
        for _ in range(count):
            report(city, categories)
        with CaptureQueriesContext(connection) as captured:
            assert len(client.get(f"{V2}/requests.json", {"extensions": "true"}).json()) == Case.objects.count()
        return len(captured)

    assert queries(2) == queries(10)


#
# One request, tokens
#


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request(client, cases, fmt):
    reference = cases["open"].reference
    assert _ids(client.get(f"{V2}/requests/{reference}.{fmt}"), fmt) == [reference]
    errors_of(client.get(f"{V2}/requests/XC-1999-000001.{fmt}"), fmt, 404)
    errors_of(client.get(f"{V2}/requests/{cases['rejected'].reference}.{fmt}"), fmt, 404)
    errors_of(client.get(f"{V2}/requests/{cases['private'].reference}.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens_never_exist_since_every_service_is_realtime(client, db, fmt):
    (description,) = errors_of(client.get(f"{V2}/tokens/12345.{fmt}"), fmt, 404)
    assert "12345" in description


def test_a_malformed_idempotency_key_is_400(client, city, attributes, key):
    response = client.post(f"{V2}/requests.json", valid(city, key), headers={"Idempotency-Key": "again"})
    errors_of(response, "json", 400)
    assert not Case.objects.exists()
