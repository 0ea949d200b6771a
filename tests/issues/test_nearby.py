"""Duplicate suggestions: open cases of the same category near a point being reported, as the caller may
see them — public cases (from their public point) and the cases they see in full (their own; staff:
their scope) — through GET /api/v1/issues/cases/nearby/, the portal's report page and the field app's."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from grid.models import GridNode
from issues import services
from issues.models import Category
from tests.factories import CityBuilder
from tests.grid.utils import api_client, assert_error_shape
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive
from tests.support.city import built_once, restore

NEARBY = "/api/v1/issues/cases/nearby/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
# In grid A1g1 (latitudes 40.80-40.85, longitudes 111.60-111.6333), 110 m from its north edge.
HERE = (40.849, 111.61)


@pytest.fixture(scope="module")
def _city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, CityBuilder().build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, _city):
    return restore(_city)


def case_at(city, category, lat, lon, *, user="citizen", **kwargs):
    actor = city.users[user] if isinstance(user, str) else user
    return services.case_report(actor=actor, category=category, description=f"附近的问题 {lat}",
                                lat=Decimal(str(lat)), lon=Decimal(str(lon)), **kwargs)


def nearby(client, category, lat=HERE[0], lon=HERE[1], **extra):
    response = client.get(NEARBY, {"lat": lat, "lon": lon, "category": category.pk, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def references(body) -> list[str]:
    return [row["reference"] for row in body["results"]]


@pytest.fixture
def around(city, categories):  # noqa: F811
    """Cases of one category around HERE, and the ones that must never be suggested."""
    plain = categories["city-management"]
    neighbour = type(city.users["citizen"]).objects.create_user("neighbour", password="x")
    cases = {
        "near": case_at(city, plain, 40.8485, 111.61),  # 55 m south
        "nearer": case_at(city, plain, 40.849, 111.6101, address="3 号楼"),  # 8 m east
        "own_hidden": case_at(city, plain, 40.8488, 111.61, reporter_public=False),  # 22 m, the citizen's, hidden
        "staff": case_at(city, plain, 40.8487, 111.6102, user="worker"),  # 37 m, a grid worker's report
        # Never suggested:
        "far": case_at(city, plain, 40.846, 111.61),  # 330 m south: beyond 200 m
        "other_category": case_at(city, categories["sanitation"], 40.849, 111.6102),
        "others_hidden": case_at(city, plain, 40.8491, 111.61, user=neighbour, reporter_public=False),  # 11 m
        "resolved": case_at(city, plain, 40.8489, 111.6101, user="worker"),
        "rejected": case_at(city, plain, 40.8492, 111.6101),
    }
    director = city.users["director"]
    drive(cases["resolved"], director, "accept", ("dispatch", {"level": 4}), "start",
          ("resolve", {"comment": "已处理"}))
    drive(cases["rejected"], director, ("reject", {"comment": "不属实"}))
    return cases


def test_a_citizen_is_offered_public_cases_and_their_own(city, categories, around):  # noqa: F811
    body = nearby(api_client(city.users["citizen"]), categories["city-management"])
    assert body["radius_m"] == 200
    assert references(body) == [around[k].reference for k in ("nearer", "own_hidden", "staff", "near")]
    rows = {row["reference"]: row for row in body["results"]}
    own = rows[around["own_hidden"].reference]
    assert own["id"] == around["own_hidden"].pk  # theirs: they may open it
    assert rows[around["staff"].reference]["id"] is None  # public, not theirs: no id
    nearer = rows[around["nearer"].reference]
    assert nearer["distance_m"] == 8 and nearer["address"] == "3 号楼" and nearer["blurred"] is False
    assert nearer["status"] == "reported" and nearer["category"] == categories["city-management"].pk
    assert set(nearer) == {"id", "reference", "status", "status_display", "category", "category_name",
                           "description", "area", "address", "lat", "lon", "blurred", "distance_m", "created_at"}
    assert "reporter" not in str(body)


def test_staff_are_offered_their_scope_and_public_cases(city, categories, around):  # noqa: F811
    director = nearby(api_client(city.users["director"]), categories["city-management"])
    expected = [around[k].reference for k in ("nearer", "others_hidden", "own_hidden", "staff", "near")]
    assert references(director) == expected  # all in A1: seen in full, with their ids
    assert all(row["id"] is not None for row in director["results"])
    # Outside their scope, street2 (street B) sees the public ones only, without ids.
    street2 = nearby(api_client(city.users["street2"]), categories["city-management"])
    assert references(street2) == [around[k].reference for k in ("nearer", "staff", "near")]
    assert all(row["id"] is None for row in street2["results"])
    # Another citizen's hidden case is offered to that citizen, and to staff whose scope covers it.
    neighbour = nearby(api_client(around["others_hidden"].reporter), categories["city-management"])
    assert around["others_hidden"].reference in references(neighbour)
    assert around["own_hidden"].reference not in references(neighbour)


def test_a_sensitive_case_is_measured_from_its_grid_unless_seen_in_full(city, categories):  # noqa: F811
    dispute = categories["dispute"]
    a1g1 = city.nodes["A1g1"]
    GridNode.objects.filter(pk=a1g1.pk).update(centroid_lat=Decimal("40.8485"), centroid_lon=Decimal("111.61"))
    # Where it happened is 4.5 km away; its grid's centroid 55 m: near, for the public, at 55 m.
    far_dispute = case_at(city, dispute, 40.809, 111.61, address="7 栋 302")
    # 11 m away, but its grid's centroid is 4.5 km away: not near, for the public.
    near_dispute = case_at(city, dispute, 40.8491, 111.61, address="5 栋 101")
    GridNode.objects.filter(pk=a1g1.pk).update(centroid_lat=Decimal("40.809"), centroid_lon=Decimal("111.61"))
    public = nearby(api_client(city.users["street2"]), dispute)
    assert references(public) == []  # both blurred to the centroid, now 4.5 km away
    GridNode.objects.filter(pk=a1g1.pk).update(centroid_lat=Decimal("40.8485"), centroid_lon=Decimal("111.61"))
    public = nearby(api_client(city.users["street2"]), dispute)
    assert references(public) == [near_dispute.reference, far_dispute.reference]  # the same distance: newest first
    for row in public["results"]:
        assert row["blurred"] is True and row["address"] == "" and row["id"] is None
        assert (row["lat"], row["lon"]) == (40.8485, 111.61) and row["distance_m"] == 55
    # The director sees both in full: only the one really near, at its own point and address.
    director = nearby(api_client(city.users["director"]), dispute)
    (row,) = director["results"]
    assert row["reference"] == near_dispute.reference and row["blurred"] is False
    assert row["address"] == "5 栋 101" and row["distance_m"] == 11 and row["id"] == near_dispute.pk


def test_the_radius_is_a_setting(city, categories, around, settings):  # noqa: F811
    settings.CASE_DUPLICATE_RADIUS_M = 400
    body = nearby(api_client(city.users["citizen"]), categories["city-management"])
    assert body["radius_m"] == 400 and around["far"].reference in references(body)


@pytest.mark.parametrize(("query", "field"), [
    ({"lon": "111.61", "category": "CAT"}, "lat"),
    ({"lat": "40.85", "category": "CAT"}, "lon"),
    ({"lat": "40.85", "lon": "111.61"}, "category"),
    ({"lat": "abc", "lon": "111.61", "category": "CAT"}, "lat"),
    ({"lat": "91", "lon": "111.61", "category": "CAT"}, "lat"),
    ({"lat": "40.85", "lon": "-181", "category": "CAT"}, "lon"),
    ({"lat": "nan", "lon": "111.61", "category": "CAT"}, "lat"),
    ({"lat": "40.85", "lon": "inf", "category": "CAT"}, "lon"),
    ({"lat": "1e400", "lon": "111.61", "category": "CAT"}, "lat"),
    ({"lat": "40.85", "lon": "111.61", "category": "999999"}, "category"),
    ({"lat": "40.85", "lon": "111.61", "category": "sanitation"}, "category"),
    ({"lat": "40.85", "lon": "111.61", "category": "INACTIVE"}, "category"),
])
def test_bad_input_is_a_400_in_the_error_shape(city, categories, query, field):  # noqa: F811
    inactive = Category.objects.create(code="old", name="旧", name_en="Old", accept_within=timedelta(hours=1),
                                       resolve_within=timedelta(hours=1), is_active=False)
    ids = {"CAT": str(categories["city-management"].pk), "INACTIVE": str(inactive.pk)}
    query = {key: ids.get(value, value) for key, value in query.items()}
    error = assert_error_shape(api_client(city.users["citizen"]).get(NEARBY, query), 400)
    assert list(error["fields"]) == [field]


def test_signed_out_is_a_401(city, categories):  # noqa: F811
    response = APIClient().get(NEARBY, {"lat": HERE[0], "lon": HERE[1], "category": categories["dispute"].pk})
    assert_error_shape(response, 401)


@pytest.mark.parametrize("user", ["citizen", "director", "admin"])
def test_the_query_count_is_pinned(city, categories, around, user, query_budget):  # noqa: F811
    token = Token.objects.create(user=city.users[user])
    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    # The token and its user, the grants (none for a superuser), the category, the grids near, the cases:
    # the same however many cases there are.
    with query_budget("issues.cases.nearby"):
        body = nearby(phone, categories["city-management"])
    assert len(body["results"]) >= 4


#
# The portal's report page
#


def portal(user) -> Client:
    client = Client(**EN)
    client.force_login(user)
    return client


def linked(html: str) -> list[str]:
    return re.findall(r'href="/cases/(XC-\d{4}-\d{6})/"', html.split('id="duplicates"')[1])


def test_the_portal_report_page_looks_for_the_same_problem_without_sending(city, categories, around):  # noqa: F811
    client = portal(city.users["citizen"])
    form = {"category": categories["city-management"].pk, "lat": HERE[0], "lon": HERE[1], "address": "门口",
            "description": "垃圾堆在门口", "check": "1"}
    before = around["near"].__class__.objects.count()
    response = client.post(reverse("portal:cases:report"), form)
    assert response.status_code == 200
    html = response.content.decode()
    assert around["near"].__class__.objects.count() == before  # nothing was sent
    # Public ones and their own (openable on the portal), nearest first, each linked to its page.
    assert linked(html) == [around[k].reference for k in ("nearer", "own_hidden", "staff", "near")]
    assert "Already reported nearby?" in html and "open it and follow it instead" in html
    # The form comes back as filled in, ready to send.
    assert "垃圾堆在门口</textarea>" in html and 'value="门口"' in html
    assert 'name="check"' in html and "errorlist" not in html


def test_the_portal_check_without_a_location_says_what_it_needs(city, categories):  # noqa: F811
    response = portal(city.users["citizen"]).post(
        reverse("portal:cases:report"), {"category": categories["dispute"].pk, "check": "1"})
    assert response.status_code == 200
    assert "Choose the category and give the location first" in response.content.decode()


def test_the_portal_fragment_its_script_fetches(city, categories, around):  # noqa: F811
    client = portal(city.users["citizen"])
    url = reverse("portal:cases:duplicates")
    html = client.get(url, {"category": categories["city-management"].pk, "lat": HERE[0],
                            "lon": HERE[1]}).content.decode()
    assert re.findall(r'href="/cases/(XC-\d{4}-\d{6})/"', html) == [
        around[k].reference for k in ("nearer", "own_hidden", "staff", "near")]
    assert "10 m away" in html  # 8 m, to the 10 m the portal says
    nothing = client.get(url, {"category": categories["dispute"].pk, "lat": HERE[0], "lon": HERE[1]})
    assert "No open case of this kind within 200 m" in nothing.content.decode()
    assert client.get(url, {"category": "x", "lat": "nan"}).content.decode().strip() == ""
    assert Client().get(url).status_code == 302  # to the login page


def test_sending_the_report_still_files_it(city, categories, around):  # noqa: F811
    client = portal(city.users["citizen"])
    form = {"category": categories["city-management"].pk, "lat": HERE[0], "lon": HERE[1],
            "description": "我的也要报"}
    response = client.post(reverse("portal:cases:report"), form)
    assert response.status_code == 302 and "/reported/" in response.url


def test_the_report_pages_carry_what_their_scripts_need(city):
    portal_page = portal(city.users["citizen"]).get(reverse("portal:cases:report")).content.decode()
    assert 'id="duplicates"' in portal_page and 'data-url="/cases/report/duplicates/"' in portal_page
    assert 'aria-live="polite"' in portal_page
    field_page = portal(city.users["worker"]).get(reverse("field:report")).content.decode()
    assert 'id="duplicates"' in field_page and 'data-api="/api/v1/issues/cases/"' in field_page
    assert "data-duplicates-help=" in field_page and "data-duplicate-distance=" in field_page
