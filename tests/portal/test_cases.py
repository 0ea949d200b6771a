"""The citizens' case pages: report, my cases (verify, dispute, comment), public cases, home."""

import re
from decimal import Decimal

import pytest
from django.test import override_settings

from issues.models import Case, Status
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import OUTSIDE_EVERY_GRID, drive, jpeg_upload, point_in, report, text_upload

REPORT_URL = "/cases/report/"

# The longest description a case takes (Open311's 4,000 characters).
DESCRIPTION_MAX = Case._meta.get_field("description").max_length


@pytest.fixture
def citizen(city, client):
    client.force_login(city.users["citizen"])
    return city.users["citizen"]


def report_data(city, categories, **overrides):  # noqa: F811
    lat, lon = point_in(city.nodes["A1g1"])
    data = {"category": categories["city-management"].pk, "lat": f"{lat:.7f}", "lon": f"{lon:.7f}",
            "address": "星火巷 12 号门口", "description": "路灯不亮已经三天了"}
    data.update(overrides)
    return data


def citizen_case(city, categories, user=None, **kwargs):  # noqa: F811
    return report(city, categories["city-management"], actor=user or city.users["citizen"], **kwargs)


#
# Report a problem
#


def test_report_page_needs_login(client, db):
    response = client.get(REPORT_URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_report_page_works_without_javascript_and_serves_leaflet_locally(city, categories, client, citizen):  # noqa: F811
    html = client.get(REPORT_URL).content.decode()
    assert 'name="lat"' in html and 'name="lon"' in html and 'name="address"' in html
    assert 'type="number"' in html
    assert re.search(r'<input[^>]*type="file"[^>]*name="photos"', html)
    assert 'accept="image/*"' in html and 'capture="environment"' in html and "multiple" in html
    assert "/static/portal/vendor/leaflet/leaflet.js" in html
    assert "/static/portal/vendor/leaflet/leaflet.css" in html
    assert not re.search(r"https?://[^\"' ]*(unpkg|cdn)", html)
    assert 'data-tile-url="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Neighbour dispute" in client.get(REPORT_URL, headers={"accept-language": "en"}).content.decode()
    assert "邻里纠纷" in html  # the default language is Chinese


@override_settings(MAP_TILE_URL="https://tiles.example/{z}/{x}/{y}.png")
def test_tile_url_comes_from_settings(city, categories, client, citizen):  # noqa: F811
    assert 'data-tile-url="https://tiles.example/{z}/{x}/{y}.png"' in client.get(REPORT_URL).content.decode()


def test_citizen_reports_with_a_photo_and_sees_the_reference(city, categories, client, citizen):  # noqa: F811
    data = report_data(city, categories, photos=[jpeg_upload()], hide_me="on")
    response = client.post(REPORT_URL, data)
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.reporter == citizen and case.reporter_public is False
    assert case.grid == city.nodes["A1g1"] and case.photos.count() == 1
    assert case.address == "星火巷 12 号门口"
    page = client.get(response["Location"])
    assert re.fullmatch(r"XC-\d{4}-\d{6}", case.reference)
    assert case.reference in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"description": "   "}, "description", None),
        ({"description": "长" * (DESCRIPTION_MAX + 1)}, "description", None),
        ({"lat": "", "lon": ""}, "lat", None),
        ({"lat": str(OUTSIDE_EVERY_GRID[0]), "lon": str(OUTSIDE_EVERY_GRID[1])}, "lat", "outside every grid"),
        ({"photos": [text_upload()]}, "photos", "choose your photos again"),
    ],
)
def test_bad_input_keeps_what_was_typed_and_creates_nothing(city, categories, client, citizen, overrides, field,  # noqa: F811
                                                            needle):
    data = report_data(city, categories, **overrides)
    response = client.post(REPORT_URL, data, headers={"accept-language": "en"})
    assert response.status_code == 400
    assert Case.objects.count() == 0
    form = response.context["form"]
    assert form.errors.get(field), form.errors
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and f'aria-describedby="id_{field}_error"' in html
    if needle:
        assert needle in html.lower()
    assert "星火巷 12 号门口" in html  # the address typed is kept
    if data["description"].strip() and len(data["description"]) <= DESCRIPTION_MAX:
        assert data["description"] in html


@override_settings(PHOTO_MAX_BYTES=200)
def test_too_large_photo_is_refused_next_to_the_field(city, categories, client, citizen):  # noqa: F811
    response = client.post(REPORT_URL, report_data(city, categories, photos=[jpeg_upload(size=(200, 200))]),
                           headers={"accept-language": "en"})
    assert response.status_code == 400 and Case.objects.count() == 0
    assert len(response.context["form"].errors["photos"]) >= 2  # the limit, and "choose them again"
    assert "路灯不亮已经三天了" in response.content.decode()


#
# My cases
#


def test_my_cases_lists_only_my_own(city, categories, client, citizen):  # noqa: F811
    mine = citizen_case(city, categories, description="我的案件")
    other = citizen_case(city, categories, user=city.users["director"], description="别人的案件")
    html = client.get("/cases/mine/").content.decode()
    assert mine.reference in html and other.reference not in html


def test_another_citizens_private_case_is_404_and_their_public_one_shows_no_name(city, categories, client,  # noqa: F811
                                                                                   citizen):
    from tests.factories import UserFactory

    neighbour = UserFactory(username="neighbour-zhang", is_staff=False, first_name="张三")
    private = citizen_case(city, categories, user=neighbour, reporter_public=False)
    public = citizen_case(city, categories, user=neighbour, description="公开的问题")
    assert client.get(f"/cases/{private.reference}/").status_code == 404
    assert client.post(f"/cases/{public.reference}/", {"name": "comment", "version": 1, "comment": "x"}
                       ).status_code == 404
    html = client.get(f"/cases/{public.reference}/").content.decode()
    assert "公开的问题" in html and "neighbour-zhang" not in html and "张三" not in html
    assert "Dispute" not in html and "csrfmiddlewaretoken" not in html.split("<main")[1]


def resolve_as_staff(city, case):
    director = city.users["director"]
    return drive(case, director, "accept", ("dispatch", {"level": 4}), "start", ("resolve", {"comment": "已修好"}))


def test_citizen_verifies_a_resolution(city, categories, client, citizen):  # noqa: F811
    case = resolve_as_staff(city, citizen_case(city, categories))
    html = client.get(f"/cases/{case.reference}/", headers={"accept-language": "en"}).content.decode()
    assert "已修好" in html  # the staff reply
    assert 'value="verify"' in html and 'value="reopen"' in html and 'value="comment"' in html
    assert 'value="accept"' not in html
    response = client.post(f"/cases/{case.reference}/", {"name": "verify", "version": case.version})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.VERIFIED


def test_dispute_needs_a_comment_and_reopens_the_case(city, categories, client, citizen):  # noqa: F811
    case = resolve_as_staff(city, citizen_case(city, categories))
    response = client.post(f"/cases/{case.reference}/", {"name": "reopen", "version": case.version, "comment": ""})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.status == Status.RESOLVED
    assert 'id="id_reopen_comment_error"' in response.content.decode()
    response = client.post(f"/cases/{case.reference}/", {"name": "reopen", "version": case.version,
                                                          "comment": "还是不亮", "photos": [jpeg_upload()]})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.REOPENED
    assert case.photos.filter(kind="comment").count() == 1
    assert "还是不亮" in client.get(f"/cases/{case.reference}/").content.decode()


def test_a_step_on_a_stale_version_asks_to_reload_a_comment_does_not(city, categories, client, citizen):  # noqa: F811
    case = drive(citizen_case(city, categories), city.users["director"], "accept", ("resolve", {"comment": "已修好"}))
    stale_version = case.version
    drive(case, city.users["worker"], "verify")  # checked on site meanwhile
    response = client.post(f"/cases/{case.reference}/", {"name": "reopen", "version": stale_version,
                                                          "comment": "还是不亮"}, headers={"accept-language": "en"})
    assert response.status_code == 409
    assert "Reload the page" in response.content.decode()
    assert not case.events.filter(action="reopen").exists()
    # A comment reads no version: the step taken meanwhile does not make it fail.
    response = client.post(f"/cases/{case.reference}/", {"name": "comment", "version": stale_version,
                                                          "comment": "有进展吗"})
    assert response.status_code == 302 and case.events.filter(action="comment").exists()


#
# Public cases and home
#


def test_public_list_hides_names_and_blurs_sensitive_locations(city, categories, client):  # noqa: F811
    citizen = city.users["citizen"]
    citizen.first_name = "李四"
    citizen.save()
    grid = city.nodes["A1g2"]
    type(grid).objects.filter(pk=grid.pk).update(centroid_lat=Decimal("40.876543"), centroid_lon=Decimal("111.612345"))
    grid.refresh_from_db()
    lat, lon = Decimal(str(grid.min_lat)) + Decimal("0.012345"), Decimal(str(grid.min_lon)) + Decimal("0.004321")
    from issues import services

    dispute = services.case_report(actor=citizen, category=categories["dispute"], description="楼上噪音",
                                   lat=lat, lon=lon, address="7 栋 302")
    plain = citizen_case(city, categories, description="垃圾没人收")
    hidden = citizen_case(city, categories, description="不要公开", reporter_public=False)
    html = client.get("/cases/public/").content.decode()
    assert dispute.reference in html and plain.reference in html and hidden.reference not in html
    assert "citizen" not in html and "李四" not in html
    assert str(dispute.lat) not in html and str(dispute.lon) not in html and "7 栋 302" not in html
    assert str(grid.centroid_lat) in html and str(grid.centroid_lon) in html
    assert str(plain.lat) in html  # an ordinary case keeps its point
    assert "/static/portal/vendor/leaflet/leaflet.js" in html
    assert not re.search(r"https?://[^\"' ]*(unpkg|cdn)", html)
    public_detail = client.get(f"/cases/{dispute.reference}/").content.decode()
    assert str(dispute.lat) not in public_detail and "7 栋 302" not in public_detail
    assert "李四" not in public_detail


def test_public_list_filters_by_category_and_area(city, categories, client):  # noqa: F811
    a = citizen_case(city, categories, grid="A1g1")
    b = report(city, categories["sanitation"], actor=city.users["citizen"], grid="B1g1")
    html = client.get("/cases/public/", {"area": city.nodes["A"].pk}).content.decode()
    assert a.reference in html and b.reference not in html
    html = client.get("/cases/public/", {"category": categories["sanitation"].pk}).content.decode()
    assert b.reference in html and a.reference not in html
    rejected = drive(citizen_case(city, categories), city.users["director"], ("reject", {"comment": "不属实"}))
    assert rejected.reference not in client.get("/cases/public/").content.decode()


def test_home_shows_recent_public_cases_and_a_report_button(city, categories, client):  # noqa: F811
    cases = [citizen_case(city, categories, description=f"问题{i}") for i in range(11)]
    html = client.get("/").content.decode()
    assert 'href="/cases/report/"' in html
    assert cases[-1].reference in html and cases[1].reference in html and cases[0].reference not in html
    assert "citizen" not in html


def test_nav_include_links_the_three_pages(db):
    from django.template.loader import render_to_string

    html = render_to_string("portal/cases/_nav.html")
    assert "/cases/report/" in html and "/cases/mine/" in html and "/cases/public/" in html
