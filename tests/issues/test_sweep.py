"""The overdue sweep (issues.sweep): the escalation chain, department cases, working-time deadlines,
the timeline and the notices, a query count independent of the number of cases, the management
command and the Celery task, and two sweeps at once in two real processes on PostgreSQL."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civic.locks import singleton
from civic.models import Notice
from civic.workcal import add_working_time
from grid.models import Level
from issues import services
from issues.models import Case, CaseEvent, Status
from issues.sweep import escalate_overdue
from issues.tasks import SWEEP_LOCK, escalate_overdue_cases

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Friday afternoon with no holiday near it: 8 working hours later is Monday 17:00.
FRIDAY = datetime(2025, 3, 14, 16, 0, tzinfo=SHANGHAI)


def _centre(node):
    ring = node.boundary["coordinates"][0]
    return (ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2


def report(city, category, grid="A1g1", reporter="worker", description="垃圾堆积") -> Case:
    lat, lon = _centre(city.nodes[grid])
    return services.case_report(
        actor=city.users[reporter], category=category, description=description, lat=lat, lon=lon
    )


def make_overdue(*cases, now=None) -> None:
    now = now or timezone.now()
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(due_at=now - timedelta(minutes=1))


def reload(case) -> Case:
    return Case.objects.select_related("handling_node", "handling_department").get(pk=case.pk)


def sweep_events(case):
    return list(CaseEvent.objects.filter(case=case, action__in=("escalate", "flag")).order_by("id"))


#
# The chain
#


def test_community_to_street_to_district_then_flagged_once(city, categories):
    case = report(city, categories["city-management"])
    assert (case.handling_level, case.handling_node) == (Level.COMMUNITY, city.nodes["A1"])

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 1, "flagged": 0}
    case = reload(case)
    assert (case.handling_level, case.handling_node, case.status) == (
        Level.STREET_OFFICE, city.nodes["A"], Status.DISPATCHED)
    assert (case.escalation_count, case.flagged_at, case.version) == (1, None, 2)

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 1, "flagged": 0}
    case = reload(case)
    # Arriving at the district is an escalation, not yet a flag: the district gets its own deadline.
    assert (case.handling_level, case.handling_node) == (Level.DISTRICT, city.nodes["district"])
    assert case.flagged_at is None and case.due_at > timezone.now() and case.escalation_count == 2

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 0, "flagged": 1}
    case = reload(case)
    assert case.flagged_at is not None
    assert (case.handling_level, case.status, case.escalation_count) == (Level.DISTRICT, Status.DISPATCHED, 2)

    # Flagged once: the deadline stays expired, but the next sweeps leave the case alone.
    version = case.version
    assert escalate_overdue() == {"escalated": 0, "flagged": 0}
    assert escalate_overdue() == {"escalated": 0, "flagged": 0}
    assert reload(case).version == version
    assert [(e.action, e.from_level, e.to_level) for e in sweep_events(case)] == [
        ("escalate", Level.COMMUNITY, Level.STREET_OFFICE),
        ("escalate", Level.STREET_OFFICE, Level.DISTRICT),
        ("flag", Level.DISTRICT, Level.DISTRICT),
    ]


def test_a_department_case_goes_to_its_district(city, categories):
    case = report(city, categories["sanitation"])
    case = services.case_transition(actor=city.users["director"], case=case, name="accept", version=case.version)
    case = services.case_transition(actor=city.users["director"], case=case, name="dispatch", version=case.version)
    assert case.handling_department == city.department and case.handling_level == Level.DISTRICT

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 1, "flagged": 0}
    case = reload(case)
    assert case.handling_department is None and case.handling_node == city.nodes["district"]
    assert (case.handling_level, case.status, case.escalation_count) == (Level.DISTRICT, Status.DISPATCHED, 1)
    (event,) = sweep_events(case)
    assert (event.action, event.from_level, event.to_level, event.department) == (
        "escalate", Level.DISTRICT, Level.DISTRICT, None)

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 0, "flagged": 1}


def test_a_case_handled_again_after_its_flag_is_swept_again(city, categories):
    """A flag is for one expired deadline: once the district restarts the clock, the new deadline counts."""
    case = report(city, categories["city-management"])
    Case.objects.filter(pk=case.pk).update(
        handling_level=Level.DISTRICT, handling_node=city.nodes["district"], due_at=timezone.now() - timedelta(hours=1)
    )
    assert escalate_overdue() == {"escalated": 0, "flagged": 1}
    case = reload(case)
    case = services.case_transition(actor=city.users["district"], case=case, name="accept", version=case.version)
    assert case.due_at > timezone.now()

    make_overdue(case)
    assert escalate_overdue() == {"escalated": 0, "flagged": 1}
    assert [e.action for e in sweep_events(case)] == ["flag", "flag"]


def test_open_cases_only_and_only_past_their_deadline(city, categories):
    late, on_time, resolved = (report(city, categories["city-management"]) for _ in range(3))
    make_overdue(late)
    Case.objects.filter(pk=resolved.pk).update(status=Status.RESOLVED, due_at=timezone.now() - timedelta(hours=1))
    assert escalate_overdue() == {"escalated": 1, "flagged": 0}
    assert [reload(c).escalation_count for c in (late, on_time, resolved)] == [1, 0, 0]


#
# Deadlines and the timeline
#


def test_the_new_deadline_counts_working_time(city, categories):
    city_management, dispute = categories["city-management"], categories["dispute"]
    a = report(city, city_management)
    b = report(city, dispute, description="邻里纠纷")
    make_overdue(a, b, now=FRIDAY)

    assert escalate_overdue(now=FRIDAY) == {"escalated": 2, "flagged": 0}

    # 8 working hours from Friday 16:00: 1.5 h on Friday, then Monday 09:00-12:00 and 13:30-17:00.
    assert reload(a).due_at == datetime(2025, 3, 17, 17, 0, tzinfo=SHANGHAI)
    assert reload(a).due_at == add_working_time(FRIDAY, city_management.resolve_within)
    # The dispute's timedelta(days=1) is 24 working hours: Fri 1.5 h + Mon, Tue, Wed 7 h each + Thu 1.5 h.
    assert reload(b).due_at == datetime(2025, 3, 20, 10, 30, tzinfo=SHANGHAI)


def test_new_deadlines_compare_right_in_the_database(city, categories):
    """Stored as the ORM stores datetimes, so that SQL comparisons (the next sweep, filters) hold."""
    case = report(city, categories["city-management"])
    make_overdue(case, now=FRIDAY)
    escalate_overdue(now=FRIDAY)
    deadline = datetime(2025, 3, 17, 17, 0, tzinfo=SHANGHAI)
    assert Case.objects.filter(pk=case.pk, due_at=deadline).exists()
    assert Case.objects.filter(pk=case.pk, due_at__lt=deadline + timedelta(minutes=1)).exists()
    assert not Case.objects.filter(pk=case.pk, due_at__lt=deadline - timedelta(minutes=1)).exists()
    assert escalate_overdue(now=deadline - timedelta(minutes=1)) == {"escalated": 0, "flagged": 0}
    assert escalate_overdue(now=deadline + timedelta(minutes=1)) == {"escalated": 1, "flagged": 0}


def test_timeline_events_record_the_expired_deadline(city, categories):
    case = report(city, categories["city-management"])
    make_overdue(case)
    expired = reload(case).due_at
    escalate_overdue()
    (event,) = sweep_events(case)
    assert event.actor is None
    assert (event.from_status, event.to_status) == (Status.REPORTED, Status.DISPATCHED)
    assert (event.from_level, event.to_level) == (Level.COMMUNITY, Level.STREET_OFFICE)
    assert event.expired_deadline == expired
    assert abs(event.created_at - timezone.now()) < timedelta(minutes=1)


#
# Notices
#


def test_the_new_levels_staff_are_told_once(city, categories):
    street = city.users["street"]
    street.email = "street@example.org"
    street.save(update_fields=["email"])
    case = report(city, categories["city-management"])
    make_overdue(case)

    escalate_overdue()

    escalated = Notice.objects.filter(template="issues/case_escalated")
    assert sorted(escalated.values_list("recipient__username", "channel", "status")) == [
        ("street", "email", "pending"), ("street", "in_app", "sent"),
    ]
    in_app = escalated.get(channel="in_app")
    assert case.reference in in_app.subject and case.reference in in_app.body
    assert "{" not in in_app.body and "\u27e6" not in in_app.body  # every placeholder was filled
    assert in_app.context == {"reference": case.reference}
    before = Notice.objects.count()
    assert escalate_overdue() == {"escalated": 0, "flagged": 0}
    assert Notice.objects.count() == before


@pytest.mark.parametrize(("wanted", "told"), [
    ({}, ["email", "in_app", "sms"]),
    ({"notify_sms": False}, ["email", "in_app"]),
    ({"notify_in_app": False, "notify_email": False}, ["sms"]),
])
def test_the_sweep_tells_each_recipient_on_the_channels_they_chose(city, categories, wanted, told):
    """The set-based INSERT applies civic.notices' one rule (channels_sql): preferences and addresses."""
    street = city.users["street"]
    street.email, street.phone = "street@example.org", "13800000009"
    for field, value in wanted.items():
        setattr(street, field, value)
    street.save()
    make_overdue(report(city, categories["city-management"]))

    escalate_overdue()

    escalated = Notice.objects.filter(template="issues/case_escalated", recipient=street)
    assert sorted(escalated.values_list("channel", flat=True)) == told


def test_the_district_is_told_of_a_flag(city, categories):
    district = city.users["district"]
    district.email = "district@example.org"
    district.save(update_fields=["email"])
    case = report(city, categories["city-management"])
    Case.objects.filter(pk=case.pk).update(
        handling_level=Level.DISTRICT, handling_node=city.nodes["district"], due_at=timezone.now() - timedelta(hours=1)
    )

    assert escalate_overdue() == {"escalated": 0, "flagged": 1}

    flagged = Notice.objects.filter(template="issues/case_overdue_flagged")
    # Department staff are posted at the district's node too, but a flag is the command centre's.
    assert sorted(flagged.values_list("recipient__username", "channel", "status")) == [
        ("district", "email", "pending"), ("district", "in_app", "sent"),
    ]
    assert case.reference in flagged.get(channel="in_app").body
    assert not Notice.objects.filter(template="issues/case_escalated").exists()
    escalate_overdue()
    assert flagged.count() == 2


def test_notices_follow_the_recipients_language(city, categories):
    street = city.users["street"]
    street.language = "en"
    street.save(update_fields=["language"])
    case = report(city, categories["city-management"])
    make_overdue(case)
    escalate_overdue()
    body = Notice.objects.get(template="issues/case_escalated", recipient=street).body
    assert "City management" in body and "城市管理" not in body


def test_email_notices_are_enqueued_after_commit(city, categories, django_capture_on_commit_callbacks):
    street = city.users["street"]
    street.email = "street@example.org"
    street.save(update_fields=["email"])
    case = report(city, categories["city-management"])
    make_overdue(case)
    with mock.patch("civic.tasks.deliver_notice.delay") as delay:
        with django_capture_on_commit_callbacks() as callbacks:
            escalate_overdue()
        delay.assert_not_called()  # nothing leaves before the sweep commits
        for callback in callbacks:
            callback()
    email = Notice.objects.get(template="issues/case_escalated", channel="email")
    assert [c.args for c in delay.call_args_list] == [(email.pk,)]


#
# A fixed number of statements
#


def _sweep_queries(city, categories, n: int) -> int:
    city.users["street"].email = "street@example.org"
    city.users["street"].save(update_fields=["email"])
    # Two categories (one with a department), two grids, two communities' worth of handlers.
    cases = [
        report(city, categories["sanitation" if i % 2 else "city-management"], grid="A1g2" if i % 2 else "A1g1",
               reporter="director")
        for i in range(n)
    ]
    make_overdue(*cases)
    with CaptureQueriesContext(connection) as queries:
        counts = escalate_overdue()
    assert counts == {"escalated": n, "flagged": 0}
    assert Notice.objects.filter(template="issues/case_escalated").count() == 2 * n
    return len(queries)


def test_the_sweep_costs_the_same_statements_for_3_or_30_cases(city, categories):
    three = _sweep_queries(city, categories, 3)
    Case.objects.all().delete()
    Notice.objects.all().delete()
    thirty = _sweep_queries(city, categories, 30)
    assert three == thirty
    assert thirty <= 15


def test_nothing_overdue_costs_only_the_claim(city, categories, django_assert_max_num_queries):
    report(city, categories["city-management"])
    with django_assert_max_num_queries(3):  # the claim, in a savepoint here
        assert escalate_overdue() == {"escalated": 0, "flagged": 0}


#
# The command and the task
#


def test_the_management_command(city, categories):
    cases = [report(city, categories["city-management"]) for _ in range(2)]
    make_overdue(*cases)
    out = StringIO()
    call_command("escalate_overdue", stdout=out)
    assert "Escalated 2 cases, flagged 0" in out.getvalue()
    out = StringIO()
    call_command("escalate_overdue", stdout=out)
    assert "Escalated 0 cases, flagged 0" in out.getvalue()


def test_the_celery_task_runs_eagerly(city, categories):
    case = report(city, categories["city-management"])
    make_overdue(case)
    assert escalate_overdue_cases.apply().get() == {"escalated": 1, "flagged": 0}
    assert reload(case).escalation_count == 1


def test_the_task_is_a_singleton(city, categories):
    case = report(city, categories["city-management"])
    make_overdue(case)
    with singleton(SWEEP_LOCK, timeout=60) as held:
        assert held
        assert escalate_overdue_cases.apply().get() == {"escalated": 0, "flagged": 0, "skipped": 1}
        out = StringIO()
        call_command("escalate_overdue", stdout=out)
        assert "Another sweep is running" in out.getvalue()
        with singleton(SWEEP_LOCK, timeout=60) as again:
            assert not again
    assert reload(case).escalation_count == 0
    # Released on the way out: the next run does the work.
    assert escalate_overdue_cases.apply().get() == {"escalated": 1, "flagged": 0}


def test_the_beat_schedule_runs_the_sweep_every_minute():
    from celery.schedules import crontab

    entry = settings.CELERY_BEAT_SCHEDULE["escalate-overdue-cases"]
    assert entry["task"] == escalate_overdue_cases.name == "issues.tasks.escalate_overdue_cases"
    assert entry["schedule"] == crontab(minute="*")


#
# Two sweeps at once, in two processes, on PostgreSQL
#

# Process A sweeps inside a transaction it keeps open until B is about to sweep, and one second
# more, so that B's claim runs into A's row locks; B prints the moment it started sweeping.
_SWEEP_SCRIPT = """
import json, os, sys, time
from pathlib import Path
import django
django.setup()
from django.db import transaction
from issues.sweep import escalate_overdue

role, a_claimed, b_ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

def wait_for(path):
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"{role}: gave up waiting for {path.name}")
        time.sleep(0.02)

if role == "A":
    with transaction.atomic():
        counts = escalate_overdue()
        a_claimed.touch()
        wait_for(b_ready)
        time.sleep(1)
        committed = time.time()
    print(json.dumps({**counts, "committed": committed}))
else:
    wait_for(a_claimed)
    b_ready.touch()
    started = time.time()
    counts = escalate_overdue()
    print(json.dumps({**counts, "started": started, "took": time.time() - started}))
"""


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_escalate_each_case_once(postgres, city, categories, tmp_path):
    cases = [report(city, categories[("city-management", "sanitation")[i % 2]]) for i in range(12)]
    make_overdue(*cases)
    # The test database, not the configured one; no broker: nothing is enqueued (no user has an e-mail).
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(DATABASE_URL=_database_url(), DJANGO_SETTINGS_MODULE="config.settings")
    a_claimed, b_ready = tmp_path / "a-claimed", tmp_path / "b-ready"

    def start(role):
        return subprocess.Popen(
            [sys.executable, "-c", _SWEEP_SCRIPT, role, str(a_claimed), str(b_ready)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    a = start("A")
    deadline = time.monotonic() + 60
    while not a_claimed.exists() and a.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    b = start("B")
    results = {}
    for role, proc in (("A", a), ("B", b)):
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, f"{role} failed:\n{err}"
        results[role] = json.loads(out.strip().splitlines()[-1])

    # B swept while A's transaction was still open, and waited for it.
    assert results["B"]["started"] < results["A"]["committed"]
    assert results["B"]["took"] >= 0.5
    assert results["A"]["escalated"] + results["B"]["escalated"] == len(cases)
    assert (results["A"]["escalated"], results["B"]["escalated"]) == (len(cases), 0)
    for case in cases:
        assert reload(case).escalation_count == 1
        assert [e.action for e in sweep_events(case)] == ["escalate"]
    assert Notice.objects.filter(template="issues/case_escalated").count() == len(cases)  # in-app to `street`
