"""A small city with cases at every step of the workflow, spread over grids, categories and dates: built
once for each test module (tests.support.city.built_once), fresh instances for each test."""

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from issues.models import Case, CaseEvent
from issues.sweep import escalate_overdue
from tests.factories import CityBuilder
from tests.issues.conftest import make_categories
from tests.issues.helpers import drive, jpeg_upload, report
from tests.support.city import built_once, restore

TZ = timezone.get_default_timezone()


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def backdate(case: Case, created: datetime, **steps: datetime) -> Case:
    """Move a case's report (and the events of the named steps, e.g. accept=..., resolve=...) in time."""
    Case.objects.filter(pk=case.pk).update(created_at=created)
    CaseEvent.objects.filter(case=case, action="report").update(created_at=created)
    for action, moment in steps.items():
        CaseEvent.objects.filter(case=case, action=action).update(created_at=moment)
        if action == "resolve":
            Case.objects.filter(pk=case.pk).update(resolved_at=moment)
    case.refresh_from_db()
    return case


def _build() -> SimpleNamespace:
    city = CityBuilder().build()
    city.categories = make_categories(city)
    city.cases = build_spread(city, city.categories)
    return city


@pytest.fixture(scope="module")
def _centre_city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, _build) as snap:
        yield snap


@pytest.fixture
def city(db, _centre_city):
    return restore(_centre_city)


@pytest.fixture
def categories(city):
    return city.categories


@pytest.fixture
def spread(city):
    return city.cases


def build_spread(city, categories) -> dict[str, Case]:
    """Cases in A1 (worker's grid and its neighbour), A2, B1, in every category; some backdated to March."""
    director, street2, worker = city.users["director"], city.users["street2"], city.users["worker"]
    management, sanitation, dispute = categories["city-management"], categories["sanitation"], categories["dispute"]
    made = {}
    made["reported"] = report(city, management, description="井盖缺失 manhole")
    made["accepted"] = drive(report(city, dispute, grid="A1g2", actor=director), director, "accept")
    made["dispatched"] = drive(report(city, sanitation), director, "accept", "dispatch")
    made["in_progress"] = drive(report(city, management, grid="A2g1", actor=city.users["street"]),
                                city.users["street"], "accept", ("dispatch", {"level": 3}), "start")
    made["closed"] = drive(report(city, management), director, "accept", ("resolve", {"comment": "修好了"}))
    made["closed"] = drive(made["closed"], worker, "verify")
    made["closed"] = drive(made["closed"], director, "close")
    made["reopened"] = drive(report(city, management, grid="A1g2", actor=director), director, "accept",
                             ("resolve", {"comment": "好"}))
    made["reopened"] = drive(made["reopened"], director, ("reopen", {"comment": "没修好"}))
    made["rejected"] = drive(report(city, dispute), director, ("reject", {"comment": "不归我们管"}))
    made["on_spot"] = report(city, management, resolve_on_spot=True, resolution="当场清理",
                             after_photos=[jpeg_upload()])
    made["b1"] = report(city, management, grid="B1g1", actor=city.users["worker2"], description="B1 路灯")
    made["b1_accepted"] = drive(report(city, dispute, grid="B1g1", actor=city.users["worker2"]), street2, "accept")
    # Overdue: past the deadline, then escalated by the sweep (it records the expired deadline).
    made["escalated"] = drive(report(city, management, grid="A2g1", actor=city.users["street"]),
                              city.users["street"], "accept")
    Case.objects.filter(pk=made["escalated"].pk).update(due_at=timezone.now() - timedelta(hours=1))
    escalate_overdue()
    made["overdue"] = report(city, dispute, grid="A1g2", actor=director)
    Case.objects.filter(pk=made["overdue"].pk).update(due_at=timezone.now() - timedelta(minutes=5))
    # March: a Friday's report accepted on Monday, resolved on Tuesday.
    made["march"] = drive(report(city, management, description="March"), director, "accept",
                          ("resolve", {"comment": "done"}))
    backdate(made["march"], at(2026, 3, 6, 16, 0), accept=at(2026, 3, 9, 10, 0), resolve=at(2026, 3, 10, 11, 30))
    for key, case in made.items():
        case.refresh_from_db()
        made[key] = case
    return made


def more_cases(city, n: int) -> None:
    """n more reported cases in the district (bulk: only their number matters)."""
    template = Case.objects.filter(grid=city.nodes["A1g1"]).first()
    Case.objects.bulk_create([
        Case(reference=f"XC-BULK-{i}", category=template.category, description="bulk", lat=template.lat,
             lon=template.lon, grid=template.grid, grid_path=template.grid_path, reporter=template.reporter,
             reporter_kind=template.reporter_kind, handling_level=template.handling_level,
             handling_node=template.handling_node, due_at=template.due_at)
        for i in range(n)
    ])
