"""One walk through report → accept → overdue sweep, end to end through the services."""

from datetime import timedelta

from django.utils import timezone

from civic.models import Notice
from issues import services
from issues.models import Case, Status
from issues.sweep import escalate_overdue


def _centre(node):
    ring = node.boundary["coordinates"][0]
    return (ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2


def test_report_route_and_sweep(city, categories):
    lat, lon = _centre(city.nodes["A1g1"])
    case = services.case_report(
        actor=city.users["worker"], category=categories["sanitation"], description="垃圾堆积", lat=lat, lon=lon
    )
    assert case.grid == city.nodes["A1g1"] and case.handling_node == city.nodes["A1"]
    case = services.case_transition(actor=city.users["director"], case=case, name="accept", version=case.version)
    assert case.status == Status.ACCEPTED
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    assert escalate_overdue() == {"escalated": 1, "flagged": 0}

    case.refresh_from_db()
    assert case.handling_node == city.nodes["A"] and case.status == Status.DISPATCHED
    assert case.due_at > timezone.now()
    assert list(case.events.values_list("action", "from_level", "to_level")) == [
        ("report", None, 4), ("accept", 4, 4), ("escalate", 4, 3),
    ]
    escalated = Notice.objects.filter(template="issues/case_escalated", channel="in_app")
    # The new level's staff, and the reporter.
    assert {notice.recipient for notice in escalated} == {city.users["street"], case.reporter}
    assert all(case.reference in notice.body for notice in escalated)
    assert escalate_overdue() == {"escalated": 0, "flagged": 0}
