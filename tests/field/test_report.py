"""/field/report/ without JavaScript: the form posts to Django, which calls issues.services.case_report.
Errors stand next to their field and what was typed stays; a resent form stores one case."""

import json
import re
import uuid
from decimal import Decimal

import pytest

from issues.models import Case, CasePhoto, Status
from tests.issues.helpers import OUTSIDE_EVERY_GRID, jpeg_upload, png_upload, point_in, row_counts, text_upload

URL = "/field/report/"
EN = {"accept-language": "en"}


def data(city, categories, at="A1g1", **overrides):
    """A report from a phone standing in grid `at`."""
    lat, lon = point_in(city.nodes[at])
    values = {"client_key": str(uuid.uuid4()), "category": categories["sanitation"].pk, "lat": f"{lat:.6f}",
              "lon": f"{lon:.6f}", "address": "星火巷 12 号门口", "description": "小区门口垃圾堆积"}
    values.update(overrides)
    return values


def field_html(html: str, name: str) -> str:
    """The markup of one form field (label, errors, widget), as portal/_field.html renders it."""
    blocks = re.findall(r'<div class="field[^"]*">.*?\n</div>', html, re.S)
    return next(block for block in blocks if f'name="{name}"' in block)


def assert_refused(response, field: str, message: str) -> str:
    assert response.status_code == 400
    html = response.content.decode()
    block = field_html(html, field)
    assert "has-error" in block and message in block, block
    return html


def test_the_form_offers_only_my_grids_and_a_camera(as_user, city, categories):
    response = as_user("worker").get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    key = re.search(r'name="client_key" value="([0-9a-f-]{36})"', html)
    assert key and uuid.UUID(key.group(1))
    grid_select = field_html(html, "grid")
    assert city.nodes["A1g1"].name in grid_select and city.nodes["A1g2"].name not in grid_select
    photos = field_html(html, "photos")
    assert 'accept="image/*"' in photos and 'capture="environment"' in photos and "multiple" in photos
    assert 'name="resolve_on_spot"' in html and 'name="after_photos"' in html
    grids = json.loads(re.search(r'<script id="report-grids" type="application/json">(.*?)</script>', html).group(1))
    assert [g["id"] for g in grids] == [city.nodes["A1g1"].pk] and grids[0]["rings"][0][0] == [111.6, 40.8]
    assert "leaflet" not in html.lower()


def test_only_grid_workers_get_the_on_the_spot_switch(as_user, city, categories):
    html = as_user("director").get(URL).content.decode()
    assert 'name="resolve_on_spot"' not in html and 'name="after_photos"' not in html
    assert city.nodes["A1g2"].name in field_html(html, "grid")


def test_report_with_a_fix_and_a_photo(as_user, city, categories):
    values = data(city, categories, photos=[jpeg_upload()])
    response = as_user("worker").post(URL, values, headers=EN)
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/field/cases/{case.pk}/"
    assert case.grid == city.nodes["A1g1"] and case.reporter == city.users["worker"]
    assert str(case.client_key) == values["client_key"] and case.status == Status.REPORTED
    assert case.lat == Decimal(values["lat"]) and case.address == "星火巷 12 号门口"
    assert case.photos.count() == 1
    page = as_user("worker").get(response["Location"], headers=EN).content.decode()
    assert f"Reported: {case.reference}." in page


def test_a_form_sent_twice_stores_one_case(as_user, city, categories):
    client = as_user("worker")
    values = data(city, categories)
    first = client.post(URL, values)
    second = client.post(URL, values, headers=EN)
    case = Case.objects.get()
    assert first["Location"] == second["Location"] == f"/field/cases/{case.pk}/"
    page = client.get(second["Location"], headers=EN).content.decode()
    assert f"This report had already arrived: {case.reference}. Nothing was stored twice." in page


def test_without_a_fix_the_grid_and_the_address_are_asked_for(as_user, city, categories):
    before = row_counts()
    response = as_user("worker").post(URL, data(city, categories, lat="", lon="", address=""), headers=EN)
    html = assert_refused(response, "grid", "No location fix: pick the grid you are in.")
    assert "No location fix: give the address or a landmark." in field_html(html, "address")
    assert "小区门口垃圾堆积" in html  # what was typed stays
    assert row_counts() == before


def test_without_a_fix_the_case_sits_at_the_picked_grids_centre(as_user, city, categories):
    grid = city.nodes["A1g1"]
    values = data(city, categories, lat="", lon="", grid=grid.pk, address="星火巷 3 号楼后")
    assert as_user("worker").post(URL, values).status_code == 302
    case = Case.objects.get()
    assert (case.grid, case.address) == (grid, "星火巷 3 号楼后")
    assert (case.lat, case.lon) == (Decimal("40.825000"), Decimal("111.616666"))


def test_a_fix_in_someone_elses_grid_is_not_filed_in_mine(as_user, city, categories):
    """The fix lies in the next grid: naming my own grid does not move the point into it (the review
    found such reports stored in the named grid); without the fix, the report goes to my grid's centre."""
    client = as_user("worker")
    values = data(city, categories, at="A1g2")
    response = client.post(URL, values, headers=EN)
    assert_refused(response, "grid", "This place lies outside the grids you report in: pick one of yours.")
    response = client.post(URL, {**values, "grid": city.nodes["A1g1"].pk}, headers=EN)
    html = assert_refused(response, "grid", "The location lies more than 50 m outside this grid.")
    assert "小区门口垃圾堆积" in html  # what was typed stays
    assert Case.objects.count() == 0
    response = client.post(URL, {**values, "grid": city.nodes["A1g1"].pk, "lat": "", "lon": ""})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.grid == city.nodes["A1g1"] and (case.lat, case.lon) == (Decimal("40.825000"), Decimal("111.616666"))


def test_a_fix_just_across_my_grids_edge_is_kept(as_user, city, categories):
    """GPS error near a boundary: 20 m into the next grid is within REPORT_GRID_TOLERANCE_M of mine."""
    grid = city.nodes["A1g1"]
    lat = grid.max_lat + 20 / 111_195
    values = data(city, categories, lat=f"{lat:.6f}", grid=grid.pk)
    assert as_user("worker").post(URL, values).status_code == 302
    case = Case.objects.get()
    assert case.grid == grid and case.lat == Decimal(f"{lat:.6f}")


def test_a_fix_outside_every_grid(as_user, city, categories):
    lat, lon = OUTSIDE_EVERY_GRID
    response = as_user("worker").post(URL, data(city, categories, lat=lat, lon=lon), headers=EN)
    assert_refused(response, "grid", "outside every grid")
    assert Case.objects.count() == 0


def test_a_grid_that_is_not_mine_cannot_be_picked(as_user, city, categories):
    response = as_user("worker").post(URL, data(city, categories, grid=city.nodes["A1g2"].pk), headers=EN)
    assert_refused(response, "grid", "Select a valid choice.")
    assert Case.objects.count() == 0


def test_a_file_that_is_not_a_photo_is_refused_next_to_the_field(as_user, city, categories):
    before = row_counts()
    response = as_user("worker").post(URL, data(city, categories, photos=[jpeg_upload(), text_upload()]),
                                      headers=EN)
    html = assert_refused(response, "photos", "choose your photos again")
    assert "not" in field_html(html, "photos").lower()
    assert "小区门口垃圾堆积" in html and "星火巷 12 号门口" in html
    assert row_counts() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"category": ""}, "category", "Choose a category."),
        ({"description": "   "}, "description", "Describe the problem."),
        ({"resolve_on_spot": "on", "resolution": "已清理", "after_photos": []}, "after_photos",
         "Add a photo taken after handling."),
        ({"resolve_on_spot": "on", "resolution": "", "after_photos": [png_upload()]}, "resolution",
         "Say how the problem was handled."),
    ],
)
def test_bad_input_is_refused_next_to_its_field(as_user, city, categories, overrides, field, message):
    response = as_user("worker").post(URL, data(city, categories, **overrides), headers=EN)
    assert_refused(response, field, message)
    assert Case.objects.count() == 0


def test_handled_on_the_spot_with_an_after_photo(as_user, city, categories):
    values = data(city, categories, photos=[jpeg_upload()], resolve_on_spot="on", resolution="已清理干净",
                  after_photos=[png_upload()])
    assert as_user("worker").post(URL, values).status_code == 302
    case = Case.objects.get()
    assert case.status == Status.RESOLVED
    assert case.events.get(action="resolve").comment == "已清理干净"
    assert case.photos.filter(kind=CasePhoto.KIND_AFTER).count() == 1


def test_a_director_cannot_slip_in_an_on_the_spot_resolution(as_user, city, categories):
    values = data(city, categories, resolve_on_spot="on", resolution="已处理", after_photos=[png_upload()])
    assert as_user("director").post(URL, values).status_code == 302
    assert Case.objects.get().status == Status.REPORTED


def test_the_report_page_costs_a_fixed_number_of_queries(as_user, city, categories, django_assert_max_num_queries):
    client = as_user("worker")
    # session, user, posts, categories, grids for the picker and for the phone (grants are loaded once)
    with django_assert_max_num_queries(7):
        assert client.get(URL).status_code == 200
