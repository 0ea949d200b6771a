"""The working-time clock in SQL gives what civic.workcal gives, case by case: across nights, lunch,
weekends, public holidays and make-up working days."""

import random
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from centre.selectors import _facts, _timings_python, _timings_sql, case_timings
from centre.worktime import WorkingClock, median
from civic.calendar_models import CalendarDay
from civic.workcal import working_time_between
from issues.models import Case, CaseEvent
from tests.centre.conftest import backdate
from tests.issues.helpers import drive, report

TZ = timezone.get_default_timezone()


def _moments(rng: random.Random, n: int) -> list[tuple[datetime, datetime, datetime]]:
    """(reported, accepted, resolved) at any minute of a span with holidays and a make-up day."""
    start = datetime(2026, 9, 25, 0, 0, tzinfo=TZ)
    out = []
    for _ in range(n):
        reported = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        accepted = reported + timedelta(minutes=rng.randrange(0, 60 * 24 * 6))
        resolved = accepted + timedelta(minutes=rng.randrange(0, 60 * 24 * 12))
        out.append((reported, accepted, resolved))
    return out


@pytest.fixture
def national_day(db):
    """Golden Week 2026 as the State Council would set it: 1-7 October off, Sunday 11 October worked."""
    for day in range(1, 8):
        CalendarDay.objects.create(date=date(2026, 10, day), is_workday=False, name="国庆节")
    CalendarDay.objects.create(date=date(2026, 10, 11), is_workday=True, name="调休")


def test_the_clock_agrees_with_workcal(national_day):
    rng = random.Random(14)
    pairs = [(a, b) for reported, accepted, resolved in _moments(rng, 200) for a, b in
             ((reported, accepted), (reported, resolved))]
    clock = WorkingClock.covering([m for pair in pairs for m in pair])
    for a, b in pairs:
        assert clock.between(a, b) == pytest.approx(working_time_between(a, b).total_seconds()), (a, b)


def test_median_as_postgresql_computes_it():
    assert median([]) is None
    assert median([3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_sql_and_python_agree_with_workcal_case_by_case(postgres, city, categories, national_day):
    """Random reports, accepts and resolutions over Golden Week: the SQL figures equal the mean and median
    of workcal's working_time_between over the same cases."""
    rng = random.Random(2026)
    director = city.users["director"]
    cases = []
    for reported, accepted, resolved in _moments(rng, 25):
        case = drive(report(city, categories["city-management"]), director, "accept", ("resolve", {"comment": "ok"}))
        cases.append(backdate(case, reported, accept=accepted, resolve=resolved))
    accept = [working_time_between(c.created_at, CaseEvent.objects.get(case=c, action="accept").created_at)
              .total_seconds() / 3600 for c in cases]
    resolve = [working_time_between(c.created_at, c.resolved_at).total_seconds() / 3600 for c in cases]
    queryset = Case.objects.filter(pk__in=[c.pk for c in cases])
    for timings in (_timings_sql(queryset, "default"), _timings_python(list(_facts(queryset))),
                    case_timings(queryset)):
        assert timings.accepted == timings.resolved == 25
        assert timings.mean_accept_hours == pytest.approx(sum(accept) / 25, abs=0.006)
        assert timings.median_accept_hours == pytest.approx(median(accept), abs=0.006)
        assert timings.mean_resolve_hours == pytest.approx(sum(resolve) / 25, abs=0.006)
        assert timings.median_resolve_hours == pytest.approx(median(resolve), abs=0.006)


def test_no_cases_no_figures(db):
    timings = case_timings(Case.objects.none())
    assert (timings.accepted, timings.median_accept_hours, timings.on_time_rate) == (0, None, None)
