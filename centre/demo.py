"""Demo data for the command centre: a year of past cases in the demo district, so that its trends,
rates, working-time figures and the year per community have something to show.

The cases of the past year are history, imported as a city would import its old records: written in
bulk (a few thousand rows in a second) rather than replayed through issues.services, with the
timeline events the figures read — report, accept (unless handled on the spot), escalations by the
overdue sweep with the deadline they missed, a dispute now and then, resolve, close. Their times are
plausible rather than computed on the working calendar (that would cost a query per case). Their references
start with ``XC-HIST-``. Idempotent: a second run finds them and creates nothing.
"""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from civic.workcal import load_overrides
from grid.demo import DISTRICT_CODE, XINGHUO_CODE
from grid.models import GridNode, Level
from issues.models import Case, CaseEvent, Category, ReporterKind, Status

__all__ = ["HISTORY_PREFIX", "seed"]

HISTORY_PREFIX = "XC-HIST-"
DAYS = 365
PER_DAY = 6  # working days; a third of that on days off


def _grids() -> list[GridNode]:
    district = GridNode.objects.filter(code=DISTRICT_CODE).first()
    if district is None:
        return []
    grids = list(GridNode.objects.filter(path__startswith=district.path, level=Level.GRID).order_by("path"))
    # Xinghuo Lane, the report's community, is where most of the district's reports come from.
    xinghuo = [g for g in grids if g.code.startswith(XINGHUO_CODE)]
    return grids + xinghuo * 4


def _point(grid: GridNode, rng: random.Random) -> tuple[Decimal, Decimal]:
    lat = (grid.min_lat + grid.max_lat) / 2 + (grid.max_lat - grid.min_lat) * rng.uniform(-0.3, 0.3)
    lon = (grid.min_lon + grid.max_lon) / 2 + (grid.max_lon - grid.min_lon) * rng.uniform(-0.3, 0.3)
    return Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}")


def _story(rng: random.Random, category: Category, reported: datetime) -> list[tuple[str, datetime, dict]]:
    """The steps of one past case: (action, when, event fields); the case's own fields follow from them."""
    steps = [("report", reported, {"to_status": Status.REPORTED})]
    if rng.random() < 0.04:
        return [*steps, ("reject", reported + timedelta(hours=rng.uniform(0.5, 3)), {"to_status": Status.REJECTED})]
    level = category.first_level
    at = reported
    if rng.random() < 0.35:  # handled on the spot by the grid worker who found it
        resolved = reported + timedelta(minutes=rng.randint(10, 50))
    else:
        at = reported + timedelta(hours=rng.uniform(0.2, 3.5))
        steps.append(("accept", at, {"to_status": Status.ACCEPTED, "from_level": level, "to_level": level}))
        while rng.random() < 0.12 and level > Level.DISTRICT:  # missed its deadline: the sweep moves it up
            due = at + category.resolve_within * 2
            at = due + timedelta(minutes=1)
            steps.append(("escalate", at, {"to_status": Status.DISPATCHED, "from_level": level,
                                           "to_level": level - 1, "expired_deadline": due}))
            level -= 1
        resolved = at + category.resolve_within * rng.uniform(0.1, 1.5)
    steps.append(("resolve", resolved, {"to_status": Status.RESOLVED, "to_level": level}))
    if rng.random() < 0.05:  # the reporter disputed it; handled again
        disputed = resolved + timedelta(hours=rng.uniform(2, 30))
        steps.append(("reopen", disputed, {"to_status": Status.REOPENED, "to_level": level}))
        resolved = disputed + category.resolve_within * rng.uniform(0.1, 0.8)
        steps.append(("resolve", resolved, {"to_status": Status.RESOLVED, "to_level": level}))
    steps.append(("close", resolved + timedelta(hours=rng.uniform(1, 20)), {"to_status": Status.CLOSED}))
    return steps


@contextmanager
def _past_timestamps() -> Iterator[None]:
    """Let the inserts keep the past times set on the rows: auto_now(_add) would stamp them all "now"."""
    fields = [Case._meta.get_field("created_at"), Case._meta.get_field("updated_at"),
              CaseEvent._meta.get_field("created_at")]
    saved = [(field.auto_now, field.auto_now_add) for field in fields]
    for field in fields:
        field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, (auto_now, auto_now_add) in zip(fields, saved, strict=True):
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _days(today: date) -> list[date]:
    return [today - timedelta(days=n) for n in range(DAYS, 1, -1)]


@transaction.atomic
def seed(*, actor) -> str | None:
    if Case.objects.filter(reference__startswith=HISTORY_PREFIX).exists():
        return "A year of past cases exists; left as it is."
    grids = _grids()
    categories = list(Category.objects.filter(is_active=True, parent__isnull=False).order_by("code"))
    reporter = get_user_model().objects.filter(username="worker").first()
    if not grids or not categories or reporter is None:
        return None
    rng = random.Random(DISTRICT_CODE)
    tz = timezone.get_default_timezone()
    nodes = {node.path: node for node in GridNode.objects.filter(level__lt=Level.GRID)}
    cases, stories = [], []
    days = _days(timezone.localdate())
    overrides = load_overrides(days[0], days[-1])
    for day in days:
        workday = overrides.get(day, day.weekday() < 5)
        count = rng.randint(PER_DAY - 3, PER_DAY + 3) if workday else rng.randint(0, PER_DAY // 3)
        for _ in range(count):
            grid, category = rng.choice(grids), rng.choice(categories)
            reported = datetime.combine(day, time(rng.randint(7, 19), rng.randint(0, 59)), tzinfo=tz)
            story = _story(rng, category, reported)
            final = story[-1]
            level = next((fields["to_level"] for _a, _t, fields in reversed(story) if "to_level" in fields),
                         category.first_level)
            lat, lon = _point(grid, rng)
            resolved = [when for action, when, _f in story if action == "resolve"]
            cases.append(Case(
                reference=f"{HISTORY_PREFIX}{len(cases) + 1:06d}", category=category, lat=lat, lon=lon,
                description=f"{category.name}（历史记录）", grid=grid, grid_path=grid.path, reporter=reporter,
                reporter_kind=ReporterKind.GRID_WORKER, priority=category.default_priority,
                status=final[2]["to_status"], handling_level=level,
                handling_node=nodes[grid.path[: GridNode.steplen * level]],
                escalation_count=sum(1 for action, _w, _f in story if action == "escalate"),
                resolved_at=resolved[-1] if resolved else None,
                closed_at=final[1] if final[0] == "close" else None,
            ))
            stories.append(story)
    events = []
    for case, story in zip(cases, stories, strict=True):
        case.created_at = case.updated_at = story[0][1]
        previous = ""
        for action, when, fields in story:
            events.append(CaseEvent(case=case, action=action, from_status=previous, comment="", created_at=when,
                                    **fields))
            previous = fields["to_status"]
    with _past_timestamps():
        Case.objects.bulk_create(cases, batch_size=1000)
        CaseEvent.objects.bulk_create(events, batch_size=2000)
    return f"{len(cases)} past cases over a year in the demo district, for the command centre."
