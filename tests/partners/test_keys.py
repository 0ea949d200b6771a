"""API keys on the REST API: `Authorization: Api-Key <key>`, scopes, the subtree limit, and refused keys
(unknown, revoked, expired, suspended partner) — each in the API's error shape, changing nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from issues import services as case_services
from issues.models import Case
from partners.models import ApiKey
from partners.services import api_key_revoke, partner_ensure
from tests.grid.utils import assert_error_shape
from tests.issues.helpers import point_in
from tests.partners.conftest import key_client

CASES = "/api/v1/issues/cases/"


def _report(city, categories, grid: str, user="admin", **kwargs) -> Case:
    lat, lon = point_in(city.nodes[grid])
    return case_services.case_report(actor=city.users[user], category=categories["city-management"],
                                     description=f"问题 {grid}", lat=lat, lon=lon, **kwargs)


@pytest.fixture
def cases(city, categories):
    """One case in each grid of the city: street A holds A1g1, A1g2, A2g1, A2g2; street B holds B1g1, B1g2."""
    return {grid: _report(city, categories, grid) for grid in ("A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2")}


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    assert response.json()["next"] is None
    return {row["id"] for row in response.json()["results"]}


#
# Scopes and the subtree
#


def test_a_read_key_limited_to_a_street_office_sees_exactly_its_cases(city, cases, make_key):
    _key, text = make_key(["cases.read"], node=city.nodes["A"])
    client = key_client(text)

    street_a = {case.pk for grid, case in cases.items() if grid.startswith("A")}
    assert _ids(client.get(CASES)) == street_a
    assert client.get(f"{CASES}{cases['A2g2'].pk}/").status_code == 200
    assert_error_shape(client.get(f"{CASES}{cases['B1g1'].pk}/"), 404)  # outside the subtree: not there


def test_a_read_key_without_a_node_sees_every_case(cases, make_key):
    _key, text = make_key(["cases.read"])
    assert _ids(key_client(text).get(CASES)) == {case.pk for case in cases.values()}


def test_a_read_key_cannot_write(city, categories, cases, make_key):
    _key, text = make_key(["cases.read"], node=city.nodes["A"])
    client = key_client(text)
    lat, lon = point_in(city.nodes["A1g1"])
    before = Case.objects.count()

    report = client.post(CASES, {"category": categories["city-management"].pk, "description": "路灯不亮",
                                 "lat": lat, "lon": lon}, format="json")
    assert_error_shape(report, 403)
    case = cases["A1g1"]
    accept = client.post(f"{CASES}{case.pk}/accept/", {"version": case.version}, format="json")
    assert_error_shape(accept, 403)

    assert Case.objects.count() == before
    case.refresh_from_db()
    assert case.status == "reported" and case.version == 1


def test_a_billing_key_sees_no_case(cases, make_key):
    _key, text = make_key(["billing.provider"])
    client = key_client(text)
    assert_error_shape(client.get(CASES), 403)
    assert_error_shape(client.get(f"{CASES}{cases['A1g1'].pk}/"), 403)
    assert_error_shape(client.get("/api/v1/issues/categories/"), 403)


def test_a_write_key_reports_inside_its_subtree_only(city, categories, make_key):
    key, text = make_key(["cases.write"], node=city.nodes["A"])
    client = key_client(text)

    def post(grid):
        lat, lon = point_in(city.nodes[grid])
        return client.post(CASES, {"category": categories["city-management"].pk, "description": "井盖缺失",
                                   "lat": lat, "lon": lon}, format="json")

    created = post("A2g1")
    assert created.status_code == 201, created.content
    case = Case.objects.get(pk=created.json()["id"])
    assert case.reporter == key.partner.user and case.reporter_kind == "staff"
    assert case.events.get().actor == key.partner.user  # the timeline names the partner

    assert_error_shape(post("B1g1"), 403)
    assert Case.objects.count() == 1


def test_a_write_key_handles_cases_in_its_subtree(city, cases, make_key):
    _key, text = make_key(["cases.write"], node=city.nodes["A"])
    client = key_client(text)
    case = cases["A1g1"]
    accepted = client.post(f"{CASES}{case.pk}/accept/", {"version": case.version}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    other = cases["B1g1"]
    assert_error_shape(client.post(f"{CASES}{other.pk}/accept/", {"version": 1}, format="json"), 404)


def test_a_key_does_not_see_its_partners_reports_outside_its_subtree(city, categories, partner, make_key):
    """Owner rules do not apply to keys: a key limited to street A does not see what its partner
    reported in street B through another key."""
    _wide, wide_text = make_key(["cases.write"])
    lat, lon = point_in(city.nodes["B1g1"])
    created = key_client(wide_text).post(
        CASES, {"category": categories["city-management"].pk, "description": "停水", "lat": lat, "lon": lon},
        format="json",
    )
    assert created.status_code == 201, created.content
    _narrow, narrow_text = make_key(["cases.read"], node=city.nodes["A"])
    assert _ids(key_client(narrow_text).get(CASES)) == set()
    assert_error_shape(key_client(narrow_text).get(f"{CASES}{created.json()['id']}/"), 404)


def test_endpoints_that_do_not_check_scopes_refuse_keys(city, make_key):
    """The grid's endpoints name no scope: a key is refused there, whatever its grants would show."""
    _key, text = make_key(["cases.read", "cases.write"])
    client = key_client(text)
    for url in ("/api/v1/grid/nodes/", "/api/v1/grid/posts/", "/api/v1/grid/households/"):
        error = assert_error_shape(client.get(url), 403)
        assert "API key" in error["message"]


def test_the_same_service_user_signed_in_otherwise_gets_no_grants_from_keys(city, cases, make_key):
    """A key's grants live on that request's user object only."""
    key, _text = make_key(["cases.read"])
    client = APIClient()
    client.force_login(key.partner.user)
    assert _ids(client.get(CASES)) == set()


#
# Refused keys
#


@pytest.mark.parametrize("header", ["Api-Key", "Api-Key a b", "Api-Key not-a-key-at-all-000"])
def test_unknown_or_malformed_keys_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error_shape(client.get(CASES), 401)


def test_a_revoked_key_is_refused_at_once(cases, make_key):
    key, text = make_key(["cases.read"])
    client = key_client(text)
    assert client.get(CASES).status_code == 200

    api_key_revoke(actor=None, key=key)
    error = assert_error_shape(client.get(CASES), 401)
    assert "revoked" in error["message"]
    assert error["code"] == "authentication_failed"


def test_an_expired_key_is_refused(cases, make_key):
    key, text = make_key(["cases.read"], expires_at=timezone.now() + timedelta(hours=1))
    assert key_client(text).get(CASES).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error_shape(key_client(text).get(CASES), 401)
    assert "expired" in error["message"]


def test_a_suspended_partners_keys_are_refused(cases, partner, make_key):
    _key, text = make_key(["cases.read"])
    partner_ensure(actor=None, code=partner.code, name=partner.name, active=False)
    assert_error_shape(key_client(text).get(CASES), 401)


def test_a_key_whose_service_user_became_a_superuser_is_refused(cases, partner, make_key):
    """Superusers' checks never read grants, so such a key could not be held to its scopes."""
    _key, text = make_key(["cases.read"], node=cases["A1g1"].grid)
    partner.user.is_superuser = True
    partner.user.save(update_fields=["is_superuser"])
    assert_error_shape(key_client(text).get(CASES), 401)


def test_token_and_session_still_work_beside_keys(city, cases):
    client = APIClient()
    client.force_login(city.users["street"])
    assert len(_ids(client.get(CASES))) == 4


#
# Cost
#


def test_a_key_request_costs_a_fixed_number_of_queries(city, cases, make_key, query_budget):
    """The key lookup (one query: key, partner, user, node) replaces the session's user and grant
    lookups; the log adds one INSERT, and last_used_at at most one UPDATE a minute."""
    _key, text = make_key(["cases.read"], node=city.nodes["A"])
    client = key_client(text)
    client.get(CASES)  # the first request also sets last_used_at
    with query_budget("partners.key.cases.list"):
        assert len(_ids(client.get(CASES))) == 4


def test_a_read_key_opens_the_photos_of_the_cases_it_sees(city, categories, make_key):
    from tests.issues.helpers import jpeg_upload

    def photo_of(grid, user):
        case = _report(city, categories, grid, user=user, photos=[jpeg_upload()])
        return case.photos.get().pk

    inside, outside = photo_of("A1g1", "worker"), photo_of("B1g1", "worker2")
    _key, text = make_key(["cases.read"], node=city.nodes["A"])
    client = key_client(text)
    assert client.get(f"/api/v1/issues/photos/{inside}/original/").status_code == 200
    assert_error_shape(client.get(f"/api/v1/issues/photos/{outside}/original/"), 404)
    _billing, billing = make_key(["billing.provider"])
    assert_error_shape(key_client(billing).get(f"/api/v1/issues/photos/{inside}/original/"), 403)
