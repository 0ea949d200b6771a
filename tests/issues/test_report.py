"""issues.services.case_report: where a case lands, who may report it, its photos, and that a refused
report leaves nothing behind (no half case, no orphan photo, no notice sent)."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from PIL import Image

from civic.models import Notice
from civic.workcal import add_working_time
from grid.geo import contains
from grid.models import Level
from grid.selectors import grid_centre
from issues import services
from issues.models import Case, CaseEvent, CasePhoto, Category, Priority, ReporterKind, Status
from tests.issues.helpers import (
    OUTSIDE_EVERY_GRID,
    bomb_upload,
    files_under,
    jpeg_upload,
    png_upload,
    point_in,
    report,
    row_counts,
    text_upload,
)
from tests.support.race import race


def _reference_re(number: int) -> str:
    return rf"^XC-{timezone.localdate().year}-{number:06d}$"


#
# Where a report lands
#


def test_grid_worker_reports_in_their_grid(city, categories):
    worker, director = city.users["worker"], city.users["director"]
    category = categories["sanitation"]
    lat, lon = point_in(city.nodes["A1g1"])
    before = timezone.now()

    case = services.case_report(
        actor=worker, category=category, description="  小区门口垃圾堆积  ", lat=lat, lon=lon, address="星火巷 3号",
    )
    after = timezone.now()

    case.refresh_from_db()
    assert case.grid == city.nodes["A1g1"]  # found from the coordinates
    assert case.grid_path == city.nodes["A1g1"].path
    assert case.description == "小区门口垃圾堆积"
    assert case.status == Status.REPORTED and case.version == 1
    # First handled at the category's first level: the grid's community.
    assert case.handling_level == Level.COMMUNITY and case.handling_node == city.nodes["A1"]
    assert case.handling_department is None and case.assignee is None
    assert case.reporter == worker and case.reporter_kind == ReporterKind.GRID_WORKER and case.reporter_public
    assert case.priority == Priority.NORMAL
    # The accept deadline, in working time.
    within = category.accept_within
    assert add_working_time(before, within) <= case.due_at <= add_working_time(after, within)
    assert re.match(_reference_re(1), case.reference)

    [event] = case.events.all()
    assert (event.action, event.actor, event.from_status, event.to_status) == ("report", worker, "", Status.REPORTED)
    assert event.to_level == Level.COMMUNITY

    # The handling node's staff are told, in the app.
    [notice] = Notice.objects.all()
    assert (notice.recipient, notice.channel, notice.status) == (director, Notice.Channel.IN_APP, Notice.Status.SENT)
    assert notice.template == "issues/case_reported" and case.reference in notice.subject + notice.body


@pytest.mark.parametrize(
    ("first_level", "node_key"),
    [(Level.GRID, "A1g1"), (Level.COMMUNITY, "A1"), (Level.STREET_OFFICE, "A"), (Level.DISTRICT, "district")],
)
def test_handling_node_is_the_grid_ancestor_at_the_category_first_level(city, first_level, node_key):
    category = Category.objects.create(
        code=f"level-{first_level}", name="测试", name_en="Test", first_level=first_level,
        accept_within=timedelta(hours=1), resolve_within=timedelta(hours=4),
    )
    case = report(city, category)
    assert case.handling_level == first_level
    assert case.handling_node == city.nodes[node_key]


def test_references_are_unique_and_increasing(city, categories):
    cases = [
        report(city, categories["sanitation"], actor=city.users["citizen"], grid=grid)
        for grid in ("A1g1", "B1g1", "A2g1", "A1g2")
    ]
    references = [case.reference for case in cases]
    assert [re.match(_reference_re(n), ref) is not None for n, ref in enumerate(references, start=1)] == [True] * 4
    assert len(set(references)) == 4 and references == sorted(references)


def test_reference_year_is_the_local_year(city, categories, monkeypatch):
    # 17:00 UTC on New Year's Eve is already 01:00 on 1 January in Hohhot (UTC+8).
    new_year = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: new_year)
    case = report(city, categories["sanitation"])
    assert case.reference == "XC-2026-000001"


@pytest.mark.parametrize(
    ("user_key", "kind"),
    [
        ("worker", ReporterKind.GRID_WORKER),
        ("director", ReporterKind.STAFF),
        ("street", ReporterKind.STAFF),
        ("district", ReporterKind.STAFF),
        ("admin", ReporterKind.STAFF),
        ("citizen", ReporterKind.CITIZEN),
    ],
)
def test_reporter_kind(city, categories, user_key, kind):
    case = report(city, categories["sanitation"], actor=city.users[user_key])
    assert case.reporter_kind == kind
    assert Case.objects.get(pk=case.pk).reporter_kind == kind


@pytest.mark.parametrize("grid", ["A1g1", "A2g1", "B1g1", "B1g2"])
def test_citizen_may_report_anywhere_in_the_city(city, categories, grid):
    citizen = city.users["citizen"]
    case = report(city, categories["sanitation"], actor=citizen, grid=grid)
    assert case.grid == city.nodes[grid] and case.reporter == citizen
    assert case.reporter_kind == ReporterKind.CITIZEN and case.reporter_public


def test_citizen_may_ask_not_to_be_shown(city, categories):
    case = report(city, categories["dispute"], actor=city.users["citizen"], reporter_public=False)
    assert Case.objects.get(pk=case.pk).reporter_public is False


def test_staff_are_always_shown(city, categories):
    # Only a citizen may stay anonymous: staff report as themselves.
    case = report(city, categories["sanitation"], reporter_public=False)
    assert Case.objects.get(pk=case.pk).reporter_public is True


@pytest.mark.parametrize(
    ("user_key", "grid"),
    [
        ("worker", "A1g2"),  # the neighbouring grid of the same community
        ("worker", "B1g1"),
        ("worker2", "A1g1"),
        ("director", "A2g1"),
        ("director", "B1g1"),
        ("street2", "A1g1"),
        ("street", "B1g2"),
        ("dept", "A1g1"),  # department staff see cases but do not report them
    ],
)
def test_staff_reporting_outside_their_scope_is_refused(city, categories, settings, user_key, grid):
    before = row_counts()
    with pytest.raises(PermissionDenied):
        report(city, categories["sanitation"], actor=city.users[user_key], grid=grid, photos=[jpeg_upload()])
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


#
# A grid named with the point
#

# Metres per degree of latitude (grid.geo's sphere): A1g1 ends at latitude 40.85, where A1g2 begins.
_M_PER_DEGREE = 6_371_008.8 * 3.141592653589793 / 180


def _north_of_a1g1(city, metres: float) -> tuple[float, float]:
    """A point `metres` north of grid A1g1's northern edge, inside A1g2."""
    grid = city.nodes["A1g1"]
    return grid.max_lat + metres / _M_PER_DEGREE, (grid.min_lon + grid.max_lon) / 2


@pytest.mark.parametrize(
    ("user_key", "at", "named"),
    [
        ("citizen", (0.0, 0.0), "B1g1"),  # the review's report: a point far from the city, another office's grid
        ("citizen", "A1g1", "B1g1"),  # a point in one street office, the grid of another
        ("worker", "A1g2", "A1g1"),  # a grid worker naming their own grid for a point in the next one
    ],
)
def test_a_grid_sent_with_a_point_must_contain_it(city, categories, settings, user_key, at, named):
    lat, lon = at if isinstance(at, tuple) else point_in(city.nodes[at])
    before = row_counts()
    with pytest.raises(ValidationError) as error, translation.override("en"):
        services.case_report(actor=city.users[user_key], category=categories["sanitation"], description="垃圾",
                             lat=lat, lon=lon, grid=city.nodes[named], photos=[jpeg_upload()])
    assert error.value.message_dict == {"grid": ["The location lies more than 50 m outside this grid."]}
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


@pytest.mark.parametrize(("metres", "tolerance", "accepted"), [(30, 50, True), (80, 50, False), (80, 100, True)])
def test_a_point_just_across_the_grids_edge_is_within_the_tolerance(city, categories, settings, metres, tolerance,
                                                                     accepted):
    settings.REPORT_GRID_TOLERANCE_M = tolerance
    lat, lon = _north_of_a1g1(city, metres)
    arguments = dict(actor=city.users["worker"], category=categories["sanitation"], description="垃圾", lat=lat,
                     lon=lon, grid=city.nodes["A1g1"])
    if not accepted:
        with pytest.raises(ValidationError, match=f"more than {tolerance} m outside"), translation.override("en"):
            services.case_report(**arguments)
        return
    case = services.case_report(**arguments)
    assert case.grid == city.nodes["A1g1"] and case.lat == Decimal(f"{lat:.6f}")


def test_the_grids_own_centre_stands_for_a_report_without_a_fix(city, categories):
    # A concave grid: the middle of its bounding box lies outside its shape, in the notch.
    grid = city.nodes["A1g1"]
    lon0, lat0, lon1, lat1 = grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat
    mid_lon, mid_lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    grid.boundary = {"type": "Polygon", "coordinates": [[
        [lon0, lat0], [lon1, lat0], [lon1, lat1], [mid_lon + 0.001, lat1], [mid_lon + 0.001, mid_lat - 0.002],
        [mid_lon - 0.001, mid_lat - 0.002], [mid_lon - 0.001, lat1], [lon0, lat1], [lon0, lat0],
    ]]}
    grid.save()
    lat, lon = grid_centre(grid)
    assert not contains(grid.boundary, lat, lon)
    case = services.case_report(actor=city.users["worker"], category=categories["sanitation"], description="垃圾",
                                lat=lat, lon=lon, grid=grid, address="星火巷 3 号")
    assert case.grid == grid and (case.lat, case.lon) == (lat, lon)


def test_naming_the_grid_costs_no_more_queries_than_locating_it(city, categories):
    report(city, categories["sanitation"])  # the year's reference counter exists from here on

    def count(**grid) -> int:
        lat, lon = point_in(city.nodes["A1g1"])
        with CaptureQueriesContext(connection) as queries:
            services.case_report(actor=city.users["worker"], category=categories["sanitation"], description="垃圾",
                                 lat=lat, lon=lon, **grid)
        return len(queries)

    located = count()
    assert count(grid=city.nodes["A1g1"]) == located - 1  # the one locate() query is saved, nothing added


#
# Priority: staff only
#


@pytest.mark.parametrize("priority", [Priority.URGENT, Priority.NORMAL])
def test_a_citizen_may_not_set_a_priority(city, categories, priority):
    before = row_counts()
    with pytest.raises(ValidationError) as error, translation.override("en"):
        report(city, categories["sanitation"], actor=city.users["citizen"], priority=priority)
    assert error.value.message_dict == {"priority": ["Only staff set a case's priority."]}
    assert row_counts() == before
    case = report(city, categories["sanitation"], actor=city.users["citizen"])
    assert case.priority == categories["sanitation"].default_priority


@pytest.mark.parametrize("user_key", ["worker", "director", "street"])
def test_staff_set_a_priority(city, categories, user_key):
    case = report(city, categories["sanitation"], actor=city.users[user_key], priority=Priority.URGENT)
    assert Case.objects.get(pk=case.pk).priority == Priority.URGENT


#
# Handled on the spot
#


def test_grid_worker_handles_on_the_spot(city, categories, settings):
    worker = city.users["worker"]
    before = timezone.now()
    case = report(
        city, categories["sanitation"], photos=[jpeg_upload()], resolve_on_spot=True,
        resolution=" 找到住户，当场清理 ", after_photos=[png_upload()],
    )
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.due_at is None
    assert before <= case.resolved_at <= timezone.now()

    report_event, resolve_event = case.events.order_by("id")
    assert (report_event.action, report_event.from_status, report_event.to_status) == ("report", "", Status.REPORTED)
    assert (resolve_event.action, resolve_event.actor, resolve_event.from_status, resolve_event.to_status) == (
        "resolve", worker, Status.REPORTED, Status.RESOLVED,
    )
    assert resolve_event.comment == "找到住户，当场清理"

    before_photo, after_photo = case.photos.order_by("id")
    assert (before_photo.kind, before_photo.event) == (CasePhoto.KIND_REPORT, report_event)
    assert (after_photo.kind, after_photo.event) == (CasePhoto.KIND_AFTER, resolve_event)
    assert (after_photo.width, after_photo.height) == (48, 64)
    with after_photo.image.open("rb") as stored:
        assert Image.open(BytesIO(stored.read())).format == "PNG"
    assert len(files_under(settings.MEDIA_ROOT)) == 4  # two originals, two display copies


@pytest.mark.parametrize("user_key", ["director", "street", "district", "admin", "citizen"])
def test_only_grid_workers_handle_on_the_spot(city, categories, settings, user_key):
    before = row_counts()
    with pytest.raises(PermissionDenied):
        report(
            city, categories["sanitation"], actor=city.users[user_key], photos=[jpeg_upload()], resolve_on_spot=True,
            resolution="当场处理", after_photos=[png_upload()],
        )
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(resolution="当场处理"), "after_photos"),
        (dict(resolution="", after_photos=[png_upload()]), "resolution"),
        (dict(resolution="   ", after_photos=[png_upload()]), "resolution"),
        (dict(resolution="当场处理", after_photos=[text_upload()]), "photos"),
    ],
    ids=["no-after-photo", "no-resolution", "blank-resolution", "after-photo-not-an-image"],
)
def test_on_the_spot_needs_a_resolution_and_an_after_photo(city, categories, settings, kwargs, field):
    before = row_counts()
    with pytest.raises(ValidationError) as error:
        report(city, categories["sanitation"], photos=[jpeg_upload()], resolve_on_spot=True, **kwargs)
    assert field in error.value.message_dict
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


#
# Photos
#


def test_photos_are_stored_with_display_copies(city, categories, settings):
    worker = city.users["worker"]
    case = report(city, categories["sanitation"], photos=[jpeg_upload(size=(64, 48)), png_upload(size=(30, 20))])
    report_event = case.events.get()
    jpeg, png = case.photos.order_by("id")
    for photo, fmt, size in ((jpeg, "JPEG", (64, 48)), (png, "PNG", (30, 20))):
        assert photo.kind == CasePhoto.KIND_REPORT and photo.event == report_event and photo.uploaded_by == worker
        assert (photo.width, photo.height) == size
        assert photo.image.name != photo.display.name
        with photo.image.open("rb") as stored:
            original = Image.open(BytesIO(stored.read()))
        with photo.display.open("rb") as stored:
            display = Image.open(BytesIO(stored.read()))
        assert original.format == fmt and original.size == size
        assert display.format == "JPEG" and display.size == size  # small photos are not enlarged
    stored = files_under(settings.MEDIA_ROOT)
    assert len(stored) == 4
    assert all(str(path).startswith(str(settings.MEDIA_ROOT)) for path in stored)


#
# Refused reports change nothing
#


def _inactive(categories, city):
    category = categories["city-management"]
    category.is_active = False
    category.save()
    return dict(category=category)


def _deleted(categories, city):
    category = Category.objects.create(
        code="gone", name="已删除", name_en="Gone", accept_within=timedelta(hours=1), resolve_within=timedelta(hours=1)
    )
    Category.objects.filter(pk=category.pk).delete()
    return dict(category=category)


def _unsaved(categories, city):
    return dict(category=Category(code="never", name="未保存", name_en="Never saved",
                                  accept_within=timedelta(hours=1), resolve_within=timedelta(hours=1)))


def _outside(categories, city):
    lat, lon = OUTSIDE_EVERY_GRID
    return dict(lat=lat, lon=lon)


def _outside_the_city(categories, city):
    return dict(lat=31.2304, lon=121.4737)  # Shanghai


def _not_a_number(categories, city):
    return dict(lat="north", lon=None)


BAD_INPUT = {
    "inactive-category": (_inactive, "category"),
    "deleted-category": (_deleted, "category"),
    "unsaved-category": (_unsaved, "category"),
    "outside-every-grid": (_outside, "lat"),
    "outside-the-city": (_outside_the_city, "lat"),
    "coordinates-not-numbers": (_not_a_number, "lat"),
    "empty-description": (lambda categories, city: dict(description=""), "description"),
    "blank-description": (lambda categories, city: dict(description=" \n\t "), "description"),
    "too-long-description": (
        lambda categories, city: dict(description="垃" * (Case._meta.get_field("description").max_length + 1)),
        "description",
    ),
    "not-an-image": (lambda categories, city: dict(photos=[jpeg_upload(), text_upload()]), "photos"),
    "decompression-bomb": (lambda categories, city: dict(photos=[jpeg_upload(), bomb_upload()]), "photos"),
}


@pytest.mark.parametrize("bad", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_changes_nothing(city, categories, settings, bad):
    make, field = BAD_INPUT[bad]
    lat, lon = point_in(city.nodes["A1g1"])
    arguments = dict(
        actor=city.users["worker"], category=categories["sanitation"], description="垃圾堆积", lat=lat, lon=lon,
        photos=[jpeg_upload()],
    )
    arguments.update(make(categories, city))
    before = row_counts()

    with pytest.raises(ValidationError) as error:
        services.case_report(**arguments)

    assert field in error.value.message_dict
    # No half case, no orphan photo, no notice sent, no reference used up.
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


def test_too_large_photo_changes_nothing(city, categories, settings):
    settings.PHOTO_MAX_BYTES = 2_000
    noise = Image.frombytes("RGB", (120, 120), bytes((i * 7919) % 251 for i in range(120 * 120 * 3)))
    buffer = BytesIO()
    noise.save(buffer, format="JPEG", quality=95)
    assert len(buffer.getvalue()) > 2_000
    large = SimpleUploadedFile("large.jpg", buffer.getvalue(), content_type="image/jpeg")
    before = row_counts()
    with pytest.raises(ValidationError) as error:
        report(city, categories["sanitation"], photos=[jpeg_upload(size=(8, 8)), large])
    assert "photos" in error.value.message_dict
    assert row_counts() == before
    assert files_under(settings.MEDIA_ROOT) == []


def test_a_refused_report_does_not_use_up_a_reference(city, categories):
    first = report(city, categories["sanitation"])
    with pytest.raises(ValidationError):
        report(city, categories["sanitation"], description="")
    with pytest.raises(PermissionDenied):
        report(city, categories["sanitation"], grid="B1g1")
    second = report(city, categories["sanitation"])
    assert re.match(_reference_re(1), first.reference) and re.match(_reference_re(2), second.reference)


#
# Concurrency (PostgreSQL: real row locks between real connections)
#


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_get_distinct_references(postgres, city, categories):
    threads_count = 8
    worker_pk, category_pk = city.users["worker"].pk, categories["sanitation"].pk
    lat, lon = point_in(city.nodes["A1g1"])

    def load(index: int):
        return get_user_model().objects.get(pk=worker_pk), Category.objects.get(pk=category_pk)

    def report_at_once(index: int, loaded) -> str:
        actor, category = loaded
        return services.case_report(
            actor=actor, category=category, description=f"同时上报 {index}", lat=lat, lon=lon
        ).reference

    outcome = race(report_at_once, threads_count, prepare=load)
    references = outcome.results

    assert outcome.errors == []
    assert len(references) == threads_count
    assert sorted(references) == [f"XC-{timezone.localdate().year}-{n:06d}" for n in range(1, threads_count + 1)]
    assert Case.objects.count() == threads_count
    assert CaseEvent.objects.filter(action="report").count() == threads_count

