"""seed_demo's year of past cases for the command centre (centre.demo): closed history in the district,
timelines in order, nothing open, idempotent."""

from datetime import timedelta

from django.utils import timezone

from centre import demo
from issues.models import OPEN_STATUSES, Case, CaseEvent, Status


def test_a_year_of_closed_history_once(city, categories):
    message = demo.seed(actor=city.admin)
    history = Case.objects.filter(reference__startswith=demo.HISTORY_PREFIX)
    assert message.startswith(f"{history.count()} past cases") and history.count() > 1000
    assert not history.filter(status__in=OPEN_STATUSES).exists()  # history never adds to today's workload
    assert set(history.values_list("status", flat=True)) == {Status.CLOSED, Status.REJECTED}
    today = timezone.localdate()
    ordered = history.order_by("created_at")
    first, last = (timezone.localtime(case.created_at).date() for case in (ordered.first(), ordered.last()))
    assert today - timedelta(days=demo.DAYS) <= first and last < today
    for case in history.order_by("?")[:50]:
        events = list(case.events.order_by("id"))
        assert events[0].action == "report" and events[0].created_at == case.created_at
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)
        assert case.grid_path == case.grid.path and case.handling_node.path == case.grid.path[:4 * case.handling_level]
        if case.status == Status.CLOSED:
            assert case.resolved_at == [e for e in events if e.action == "resolve"][-1].created_at
    assert CaseEvent.objects.filter(case__in=history, expired_deadline__isnull=False).exists()
    assert demo.seed(actor=city.admin) == "A year of past cases exists; left as it is."
    assert Case.objects.filter(reference__startswith=demo.HISTORY_PREFIX).count() == history.count()
