"""seed_demo's cases part (issues.demo, registered with grid.demo.register_seeder): the category
tree, the demo morning in Xinghuo Lane, and idempotency.

The seed runs once for the module inside a transaction rolled back at the end (as tests/grid/test_seed.py
does); each test runs in a savepoint of it. Photos go to a temporary MEDIA_ROOT.
"""

from collections import Counter
from dataclasses import replace
from datetime import time, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from civic.calendar_models import CalendarDay
from civic.models import Notice
from civic.workcal import is_workday, working_day_length
from grid import demo as grid_demo
from grid.models import Department, GridNode, Level, Post, Role
from grid.selectors import locate
from issues import demo
from issues.models import Case, CaseEvent, CasePhoto, Category, Priority, ReporterKind, Status
from issues.sweep import escalate_overdue

# The demo city takes seconds to build: these are among the slow tests.
pytestmark = pytest.mark.slow

COUNTED = (Category, Case, CaseEvent, CasePhoto, Notice, CalendarDay, GridNode, Post, Department)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def row_counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in COUNTED}
    counts["User"] = get_user_model().objects.count()
    return counts


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """The output of one seed_demo run; its rows live until the module is done."""
    media = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=str(media)), django_db_blocker.unblock(), transaction.atomic():
        assert not Case.objects.exists() and not GridNode.objects.exists()
        output = seed()
        yield output
        transaction.set_rollback(True)


def xinghuo() -> GridNode:
    return GridNode.objects.get(code=grid_demo.XINGHUO_CODE)


def local(moment):
    return timezone.localtime(moment, timezone.get_default_timezone())


def test_the_seeder_is_registered():
    assert "issues.demo.seed" in grid_demo.registry._SEEDERS


#
# Categories
#


@pytest.mark.usefixtures("seeded")
class TestCategories:
    def test_tree(self, db):
        categories = {c.code: c for c in Category.objects.select_related("parent", "department")}
        assert len(categories) == len(demo.CATEGORIES) == 16
        roots = {code for code, c in categories.items() if c.parent is None}
        assert roots == {"city-management", "public-facilities", "water-heating", "safety-hazards",
                         "neighbour-dispute"}
        assert {c.name for c in categories.values() if c.parent_id == categories["city-management"].pk} == {
            "市容环卫维护", "占道经营", "违章搭建", "乱贴乱画"}
        assert {c.name for c in categories.values() if c.parent_id == categories["public-facilities"].pk} == {
            "道路破损", "路灯损坏", "井盖缺失"}
        assert {c.name for c in categories.values() if c.parent_id == categories["water-heating"].pk} == {
            "停水", "供暖不热"}
        assert {c.name for c in categories.values() if c.parent_id == categories["safety-hazards"].pk} == {
            "危墙危房", "消防隐患"}
        sanitation = categories["street-sanitation"]
        assert (sanitation.name, sanitation.name_en) == ("市容环卫维护", "Street cleanliness and sanitation")
        for category in categories.values():
            assert category.name and category.name_en and category.name != category.name_en
            category.full_clean()

    def test_routing(self, db):
        categories = {c.code: c for c in Category.objects.select_related("department")}
        departments = {code: c.department.code if c.department else None for code, c in categories.items()}
        assert departments["street-sanitation"] == "sanitation"
        assert departments["water-outage"] == "water-supply"
        assert departments["heating-too-cold"] == "heating"
        assert departments["neighbour-dispute"] is None
        building = categories["dangerous-building"]
        assert (building.first_level, building.default_priority) == (Level.STREET_OFFICE, Priority.URGENT)
        assert categories["neighbour-dispute"].sensitive
        assert [code for code, c in categories.items() if c.sensitive] == ["neighbour-dispute"]
        assert categories["street-sanitation"].first_level == Level.COMMUNITY

    def test_deadlines_are_working_time(self, db):
        day = working_day_length()
        for category in Category.objects.all():
            assert timedelta(hours=2) <= category.accept_within <= timedelta(hours=4), category.code
            assert category.resolve_within in (day, 2 * day, 3 * day), category.code


def test_a_missing_department_leaves_the_category_without_one(db, monkeypatch):
    specs = [replace(spec, department="no-such-department") if spec.code == "street-sanitation" else spec
             for spec in demo.CATEGORIES]
    monkeypatch.setattr(demo, "CATEGORIES", tuple(specs))
    categories = demo.seed_categories()
    assert len(categories) == 16 and categories["street-sanitation"].department is None
    assert Category.objects.get(code="street-sanitation").department is None


#
# The demo morning
#


@pytest.mark.usefixtures("seeded")
class TestDemoMorning:
    def cases(self):
        # The morning's cases: not the year of past cases the command centre's seeder adds (centre.demo).
        morning = Case.objects.exclude(reference__startswith="XC-HIST-")
        return list(morning.select_related("category", "grid", "reporter").order_by("id"))

    def test_seventeen_reports_by_the_grid_workers(self, db, seeded):
        community = xinghuo()
        cases = self.cases()
        assert len(cases) == 17
        assert f"17 demo cases reported in {community.name}" in seeded
        for case in cases:
            assert case.grid.get_parent() == community and case.grid.level == Level.GRID
            assert case.reporter_kind == ReporterKind.GRID_WORKER
            assert Post.objects.filter(user=case.reporter, role=Role.GRID_WORKER, node=case.grid).exists()
            assert locate(case.lat, case.lon) == case.grid
            assert case.address.startswith("新城区东街街道星火巷社区")
        assert len({case.grid_id for case in cases}) == 8

    def test_in_one_morning_of_a_recent_working_day(self, db):
        cases = self.cases()
        days = {local(case.created_at).date() for case in cases}
        assert days == {demo.morning_of()}
        (day,) = days
        assert day < timezone.localdate() and is_workday(day)
        assert timezone.localdate() - day <= timedelta(days=10)
        for case in cases:
            assert time(8, 0) <= local(case.created_at).time() <= time(10, 30)
        assert [c.created_at for c in cases] == sorted(c.created_at for c in cases)

    def test_mostly_street_cleanliness(self, db):
        counts = Counter(case.category.name for case in self.cases())
        (most, n), = counts.most_common(1)
        assert most == "市容环卫维护" and n > len(self.cases()) / 2

    def test_moved_along_the_workflow(self, db):
        cases = self.cases()
        statuses = Counter(case.status for case in cases)
        assert {Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.RESOLVED, Status.CLOSED} <= set(statuses)
        on_spot = [c for c in cases if list(c.events.values_list("action", flat=True)) == ["report", "resolve"]]
        assert len(on_spot) >= 5
        for case in on_spot:
            assert case.status == Status.RESOLVED
            assert set(case.photos.values_list("kind", flat=True)) == {CasePhoto.KIND_REPORT, CasePhoto.KIND_AFTER}
        dispatched = [c for c in cases if c.status == Status.DISPATCHED]
        assert all(c.handling_department is not None and c.handling_level == Level.DISTRICT for c in dispatched)
        closed = [c for c in cases if c.status == Status.CLOSED]
        for case in closed:
            assert list(case.events.values_list("action", flat=True)) == [
                "report", "accept", "dispatch", "resolve", "verify", "close"]

    def test_timelines_happen_that_morning_in_order(self, db):
        for case in self.cases():
            events = list(case.events.order_by("id"))
            assert events[0].action == "report" and events[0].created_at == case.created_at
            assert [e.created_at for e in events] == sorted(e.created_at for e in events)
            assert {local(e.created_at).date() for e in events} == {local(case.created_at).date()}
            for photo in case.photos.all():
                assert photo.display and photo.width == 640

    def test_exactly_one_overdue_and_the_sweep_escalates_it(self, db):
        cases = self.cases()
        overdue = [case for case in cases if case.is_overdue]
        assert len(overdue) == 1
        (late,) = overdue
        assert late.status == Status.REPORTED and late.category.name == "市容环卫维护"
        assert all(c.due_at > timezone.now() for c in cases if c.due_at and c != late)

        assert escalate_overdue() == {"escalated": 1, "flagged": 0}
        late.refresh_from_db()
        assert late.handling_level == Level.STREET_OFFICE

    def test_holidays_are_loaded(self, db):
        import chinese_calendar

        if timezone.localdate().year in {day.year for day in chinese_calendar.holidays}:
            assert CalendarDay.objects.filter(date__year=timezone.localdate().year).exists()

    def test_a_second_run_creates_nothing(self, db):
        before = row_counts()
        output = seed()
        assert "Demo cases exist" in output and "16 case categories ready" in output
        assert row_counts() == before
