"""The home page's "near me": public cases near a position, nearest first, measured from the point
the public may see (a sensitive case's grid, never its exact location)."""

import re
from decimal import Decimal

import pytest

from grid.models import GridNode
from issues import services
from portal.cases.selectors import public_cases_near
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive

EN = {"accept-language": "en"}
# Inside grid A1g1 (latitudes 40.80-40.85, longitudes 111.60-111.6333), 110 m from its north edge.
HERE = (40.849, 111.61)


def case_at(city, category, lat, lon, **kwargs):
    return services.case_report(actor=city.users["citizen"], category=category, description="附近的问题",
                                lat=Decimal(str(lat)), lon=Decimal(str(lon)), **kwargs)


def listed(html: str) -> list[str]:
    """The references linked in the "near you" section, in order."""
    return re.findall(r'href="/cases/(XC-\d{4}-\d{6})/"', html.split('id="nearby-heading"')[1])


def test_nearest_first_with_the_distance_within_two_kilometres(city, categories, client):  # noqa: F811
    plain = categories["city-management"]
    further = case_at(city, plain, 40.849, 111.625)  # 0.015° of longitude east: 1.26 km
    nearest = case_at(city, plain, 40.848, 111.61)  # 111 m south
    too_far = case_at(city, plain, 40.829, 111.61)  # 2.2 km south
    private = case_at(city, plain, 40.8491, 111.61, reporter_public=False)
    rejected = drive(case_at(city, plain, 40.8489, 111.61), city.users["director"], ("reject", {"comment": "不属实"}))

    response = client.get("/", {"lat": HERE[0], "lon": HERE[1]}, headers=EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == [nearest.reference, further.reference]
    assert "110 m away" in html and "1.3 km away" in html
    assert "Public cases within 2 km of you" in html
    for hidden in (too_far, private, rejected):
        assert hidden.reference not in html
    assert "Recent public cases" not in html


def test_distances_speak_the_page_language(city, categories, client):  # noqa: F811
    case_at(city, categories["city-management"], 40.848, 111.61)
    html = client.get("/", {"lat": HERE[0], "lon": HERE[1]}).content.decode()
    assert "110 米" in html and "2 公里" in html


def test_a_sensitive_case_is_measured_from_its_grid_never_from_where_it_happened(city, categories, client):  # noqa: F811
    dispute = categories["dispute"]
    # 220 m away, but in grid A1g2 (40.85-40.90), whose middle is 2.9 km away: not near.
    across_the_border = case_at(city, dispute, 40.851, 111.61, address="7 栋 302")
    # Where it happened is 4.5 km away, but its grid's centroid is set 330 m away: near, at 330 m.
    a1g1 = city.nodes["A1g1"]
    GridNode.objects.filter(pk=a1g1.pk).update(centroid_lat=Decimal("40.846"), centroid_lon=Decimal("111.61"))
    blurred = case_at(city, dispute, 40.809, 111.61)

    html = client.get("/", {"lat": HERE[0], "lon": HERE[1]}, headers=EN).content.decode()
    assert listed(html) == [blurred.reference]
    assert "330 m away" in html
    assert across_the_border.reference not in html and "7 栋 302" not in html
    assert "40.809" not in html


def test_nothing_near_says_so_and_links_back_to_the_city(city, categories, client):  # noqa: F811
    case_at(city, categories["city-management"], 40.81, 111.62)
    html = client.get("/", {"lat": "40.89", "lon": "111.69"}, headers=EN).content.decode()
    assert "No public cases near you." in html
    assert listed(html) == []
    assert 'href="/">Recent cases across the city' in html


@pytest.mark.parametrize("query", [
    {"lat": "abc", "lon": "111.61"},
    {"lat": "40.85"},
    {"lon": "111.61"},
    {"lat": "91", "lon": "111.61"},
    {"lat": "40.85", "lon": "-181"},
    {"lat": "nan", "lon": "111.61"},
    {"lat": "40.85", "lon": "inf"},
    {"lat": "1e400", "lon": "111.61"},
    {"lat": "", "lon": ""},
])
def test_a_position_that_cannot_be_used_is_ignored_with_a_message(city, categories, client, query):  # noqa: F811
    case = case_at(city, categories["city-management"], 40.848, 111.61)
    response = client.get("/", query, headers=EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "That location could not be used, so recent cases across the city are shown instead." in html
    assert "Recent public cases" in html and case.reference in html
    assert 'id="nearby-heading"' not in html


def test_home_without_a_position_has_the_near_me_control_for_scripts_only(city, categories, client):  # noqa: F811
    html = client.get("/", headers=EN).content.decode()
    assert re.search(r'<form method="get" action="/" id="nearby-form"[^>]*\bhidden\b', html)
    assert "/static/portal/nearby.js" in html
    assert "could not be used" not in html


def test_near_is_two_queries_whatever_the_number_of_cases(city, categories, django_assert_num_queries):  # noqa: F811
    a1g1 = city.nodes["A1g1"]
    GridNode.objects.filter(pk=a1g1.pk).update(centroid_lat=Decimal("40.846"), centroid_lon=Decimal("111.61"))
    for offset in range(5):
        case_at(city, categories["dispute" if offset % 2 else "city-management"], 40.848 - offset / 1000, 111.61)
    with django_assert_num_queries(2) as captured:
        found = public_cases_near(*HERE)
    assert len(found) == 5
    assert [round(c["distance_m"]) for c in found] == sorted(round(c["distance_m"]) for c in found)
    grids, cases = (query["sql"] for query in captured.captured_queries)
    assert "min_lat" in grids and "max_lon" in grids  # the grids' bounding boxes narrow the search
    assert '"issues_case"."grid_path" IN' in cases


def test_near_stops_at_the_limit(city, categories):  # noqa: F811
    for offset in range(4):
        case_at(city, categories["city-management"], 40.848 - offset / 1000, 111.61)
    found = public_cases_near(*HERE, limit=3)
    assert [c["lat"] for c in found] == ["40.848000", "40.847000", "40.846000"]
