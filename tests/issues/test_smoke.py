from datetime import timedelta

from django.utils import timezone

from issues import services
from issues.models import Case, Status
from issues.sweep import escalate_overdue


def _centre(node):
    ring = node.boundary["coordinates"][0]
    return (ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2


def test_report_route_and_sweep(city, categories):
    worker = city.users["worker"]
    lat, lon = _centre(city.nodes["A1g1"])
    case = services.case_report(actor=worker, category=categories["sanitation"], description="垃圾堆积", lat=lat, lon=lon)
    assert case.grid == city.nodes["A1g1"] and case.handling_node == city.nodes["A1"]
    director = city.users["director"]
    case = services.case_transition(actor=director, case=case, name="accept", version=case.version)
    assert case.status == Status.ACCEPTED
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    result = escalate_overdue()
    assert result == {"escalated": 1, "flagged": 0}
    case.refresh_from_db()
    assert case.handling_node == city.nodes["A"] and case.status == Status.DISPATCHED
    assert case.due_at > timezone.now()
    print(list(case.events.values_list("action", "from_level", "to_level")))
    from civic.models import Notice
    print(list(Notice.objects.values_list("recipient__username", "channel", "subject", "body", "dedupe_key")))
    assert escalate_overdue() == {"escalated": 0, "flagged": 0}
