"""Retention (issue 9, item 11): a case that is over keeps its reporter, free text and original photos
for CASE_RETENTION_DAYS after its last change; then the nightly task (or the command) removes them,
and what public statistics count stays intact."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from civic.models import Notice
from issues.models import Case, CaseEvent, CasePhoto, Status
from issues.retention import PLACEHOLDER_USERNAME, cases_anonymise
from issues.tasks import RETENTION_LOCK, anonymise_closed_cases
from tests.issues.helpers import act, jpeg_upload, png_upload, report

pytestmark = pytest.mark.django_db

NAMED = "王大妈家门口的垃圾，张三说是李四倒的"


def _closed_case(city, categories, *, days_ago: int) -> Case:
    """A citizen's report with a photo, handled, verified by the citizen and closed `days_ago` days ago."""
    citizen, director = city.users["citizen"], city.users["director"]
    case = report(city, categories["city-management"], actor=citizen, description=NAMED, address="幸福路3号201",
                  photos=[jpeg_upload()])
    case = act(case, director, "accept")
    case = act(case, citizen, "comment", comment="张三又倒了一次")
    case = act(case, director, "resolve", comment="已约谈李四", photos=[png_upload()])
    case = act(case, citizen, "verify")
    case = act(case, director, "close")
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - timedelta(days=days_ago))
    return Case.objects.get(pk=case.pk)


def _stats() -> list:
    """What public statistics count: cases by category, status, grid, reporter kind, day reported and day closed."""
    return list(Case.objects.values("category", "status", "grid", "grid_path", "reporter_kind", "priority",
                                    day=TruncDate("created_at"), closed=TruncDate("closed_at"))
                .annotate(n=Count("pk")).order_by("category", "status", "grid", "day"))


@pytest.fixture
def old_case(city, categories):
    return _closed_case(city, categories, days_ago=settings.CASE_RETENTION_DAYS + 1)


def test_a_case_over_for_the_retention_period_loses_its_personal_data(city, categories, old_case):
    citizen = city.users["citizen"]
    originals = [Path(p.image.path) for p in old_case.photos.all()]
    displays = [Path(p.display.path) for p in old_case.photos.all()]
    assert all(p.exists() for p in originals + displays)
    stats = _stats()

    report_ = cases_anonymise()

    case = Case.objects.get(pk=old_case.pk)
    assert (report_.cases, report_.reporters, report_.originals) == (1, 1, 2)
    assert case.reporter.username == PLACEHOLDER_USERNAME and not case.reporter.is_active
    assert not case.reporter.has_usable_password()
    assert NAMED not in case.description and case.address == "" and case.anonymised_at is not None
    comments = list(CaseEvent.objects.filter(case=case).exclude(comment="").values_list("comment", flat=True))
    assert len(comments) == 2 and not any("张三" in c or "李四" in c for c in comments)
    assert not CaseEvent.objects.filter(case=case, actor=citizen).exists()
    assert CaseEvent.objects.filter(case=case, actor=city.users["director"]).count() == 3  # staff stay named
    assert not any(p.exists() for p in originals) and all(p.exists() for p in displays)
    assert list(CasePhoto.objects.filter(case=case).values_list("image", flat=True)) == ["", ""]
    assert not Notice.objects.filter(recipient=citizen, dedupe_key__startswith=f"case:{case.pk}:").exists()
    assert _stats() == stats
    assert (case.status, case.created_at, case.closed_at, case.updated_at) == (
        old_case.status, old_case.created_at, old_case.closed_at, old_case.updated_at)


def test_recent_and_open_cases_are_left_alone(city, categories):
    recent = _closed_case(city, categories, days_ago=settings.CASE_RETENTION_DAYS - 1)
    open_case = report(city, categories["city-management"], actor=city.users["citizen"], description=NAMED)
    Case.objects.filter(pk=open_case.pk).update(updated_at=timezone.now() - timedelta(days=3000))
    assert cases_anonymise().cases == 0
    for case in (recent, open_case):
        case = Case.objects.get(pk=case.pk)
        assert case.description == NAMED and case.reporter == city.users["citizen"] and case.anonymised_at is None


@pytest.mark.parametrize("final", ["reject", "mark_duplicate"])
def test_rejected_and_duplicate_cases_go_too(city, categories, old_case, final):
    case = report(city, categories["city-management"], actor=city.users["citizen"], description=NAMED)
    kwargs = {"comment": "不属实，张三"} if final == "reject" else {"duplicate_of": old_case}
    act(case, city.users["director"], final, **kwargs)
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - timedelta(days=settings.CASE_RETENTION_DAYS + 1))
    assert cases_anonymise().cases == 2
    assert Case.objects.get(pk=case.pk).description != NAMED


def test_the_dry_run_says_what_it_would_do_and_changes_nothing(city, categories, old_case):
    out = StringIO()
    call_command("anonymise_closed_cases", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "1 cases would be anonymised" in text and "(1 people)" in text
    assert "2 timeline comments would be" in text and "2 original photos would be deleted" in text
    assert "notices to the reporters would be" in text and "Dry run: nothing was changed." in text
    case = Case.objects.get(pk=old_case.pk)
    assert case.description == NAMED and case.anonymised_at is None and all(p.image for p in case.photos.all())


def test_the_dry_run_counts_what_the_run_then_does(city, categories, old_case):
    _closed_case(city, categories, days_ago=settings.CASE_RETENTION_DAYS + 30)
    planned = cases_anonymise(dry_run=True)
    done = cases_anonymise()
    assert (planned.cases, planned.reporters, planned.comments, planned.originals, planned.notices) == (
        done.cases, done.reporters, done.comments, done.originals, done.notices) == (2, 1, 4, 4, done.notices)
    assert done.notices >= 2  # at least each case's "resolved" notice to the reporter


def test_a_second_run_finds_nothing(city, categories, old_case):
    assert cases_anonymise().cases == 1
    assert cases_anonymise().cases == 0
    assert cases_anonymise(dry_run=True).cases == 0


def test_the_period_is_a_setting(city, categories, old_case, settings):
    settings.CASE_RETENTION_DAYS = settings.CASE_RETENTION_DAYS + 10
    assert cases_anonymise().cases == 0


def test_pages_and_the_api_still_show_an_anonymised_case(city, categories, old_case, client):
    cases_anonymise()
    client.force_login(city.users["director"])
    response = client.get(f"/api/v1/issues/cases/{old_case.pk}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert NAMED not in response.content.decode() and all(p["original_url"] is None for p in body["photos"])
    assert client.get(f"/field/cases/{old_case.pk}/").status_code == 200
    assert client.get(f"/admin/issues/case/{old_case.pk}/change/").status_code == 200
    public = client.get("/cases/public/")
    assert public.status_code == 200 and old_case.reference in public.content.decode()
    assert client.get(f"/cases/{old_case.reference}/").status_code == 200
    # The citizen no longer finds it among their own cases: nothing links them to it.
    client.force_login(city.users["citizen"])
    assert old_case.reference not in client.get("/cases/mine/").content.decode()


def test_the_beat_task_runs_it_once_at_a_time(city, categories, old_case):
    from civic.locks import singleton

    assert "issues.tasks.anonymise_closed_cases" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    with singleton(RETENTION_LOCK, timeout=60):
        assert anonymise_closed_cases() == {"cases": 0, "skipped": 1}
    assert anonymise_closed_cases()["cases"] == 1
    assert Case.objects.get(pk=old_case.pk).status == Status.CLOSED
