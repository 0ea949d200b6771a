"""The benchmarks' instruments (bench/): what a measured run writes is undone, so runs repeat on the
same data, and statements are counted and explained as they ran."""

from datetime import timedelta

from django.forms.models import model_to_dict
from django.utils import timezone

from bench.measure import Statements, explain
from bench.undo import NewRows, OverdueCases
from civic.models import Notice
from issues.models import Case, CaseEvent
from issues.sweep import escalate_overdue
from tests.issues.helpers import report


def test_new_rows_removes_what_a_report_wrote_and_nothing_older(city, categories):
    kept = report(city, categories["city-management"])
    before = (Case.objects.count(), CaseEvent.objects.count(), Notice.objects.count())
    rows = NewRows()
    added = report(city, categories["city-management"], description="井盖缺失")
    assert Notice.objects.filter(context__reference=added.reference).exists()
    removed = rows.remove()
    assert (Case.objects.count(), CaseEvent.objects.count(), Notice.objects.count()) == before
    assert removed["issues.Case"] == 1 and removed["civic.Notice"] >= 1
    assert Case.objects.filter(pk=kept.pk).exists() and not Case.objects.filter(pk=added.pk).exists()


def test_overdue_cases_are_put_back_as_they_were_before_the_sweep(postgres, city, categories):
    """PostgreSQL only, like the benchmarks it serves."""
    cases = [report(city, categories["city-management"], grid=grid, actor=city.users["district"])
             for grid in ("A1g1", "B1g1")]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(due_at=timezone.now() - timedelta(minutes=1))
    before = [model_to_dict(Case.objects.get(pk=c.pk)) for c in cases]
    snapshot, rows = OverdueCases(), NewRows()
    assert snapshot.count == 2
    assert escalate_overdue()["escalated"] == 2
    assert [model_to_dict(Case.objects.get(pk=c.pk)) for c in cases] != before
    rows.remove()
    assert snapshot.restore() == 2
    assert [model_to_dict(Case.objects.get(pk=c.pk)) for c in cases] == before
    assert not CaseEvent.objects.filter(action="escalate").exists()
    assert escalate_overdue()["escalated"] == 2  # the same sweep again


def test_statements_are_counted_timed_and_named(city, categories):
    report(city, categories["city-management"])
    with Statements(keep=True) as statements:
        list(Case.objects.all())
        Case.objects.update(priority=3)
    assert statements.count == 2 and statements.seconds > 0
    assert statements.kinds() == "1 SELECT issues_case, 1 UPDATE issues_case"


def test_explain_reads_the_rows_a_scan_read(postgres, city, categories):
    for grid in ("A1g1", "A1g2", "B1g1"):
        report(city, categories["city-management"], grid=grid, actor=city.users["district"])
    with Statements(keep=True) as statements:
        list(Case.objects.filter(description__contains="垃圾").order_by("id")[:2])
    sql, params, _seconds = statements.executed[0]
    plan = explain(sql, params, table=Case._meta.db_table, runs=2)
    assert plan.returned == 2 and plan.read >= 2 and plan.buffers > 0
    assert plan.db_ms == plan.planning_ms + plan.execution_ms > 0
    assert plan.scans and all(scan.split()[0] in ("Seq", "Index", "Bitmap") for scan in plan.scans)
