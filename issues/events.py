"""What partners' webhooks hear of cases (partners.webhooks): the events, their payloads, and publishing
them from issues.services and the overdue sweep, inside the transaction of the change.

    case.created         a case was reported (any channel: portal, field app, API, Open311)
    case.status_changed  its status changed (a transition, or the overdue sweep): previous_status
    case.escalated       it moved a level up (by hand or by the sweep: previous_level), or, already at
                         the district, was flagged to the command centre (flagged: true)

Every payload describes the case as it is after the change, without personal data or free text:

    {"id": 42, "reference": "XC-2026-000042", "status": "dispatched", "category": "street-sanitation",
     "grid": 17, "handling_level": 3, "handling_node": 9, "handling_department": null,
     "due_at": "2026-12-03T17:30:00+08:00", "version": 4, "url": "/api/v1/issues/cases/42/", ...}

A key with cases.read or cases.write receives them, for the cases in its subtree; the partner reads
the case itself through the API with that key.
"""

from datetime import datetime

from django.utils import timezone

from issues.models import Case, CaseEvent
from partners.webhooks import has_subscribers, publish, publish_many, register_event

__all__ = ["publish_case_change", "publish_sweep", "register_case_events"]

_READERS = ("cases.read", "cases.write")


def register_case_events() -> None:
    register_event("case.created", scopes=_READERS, description="A case was reported.")
    register_event("case.status_changed", scopes=_READERS, description="A case's status changed.")
    register_event("case.escalated", scopes=_READERS,
                   description="A case moved a level up, or was flagged to the command centre.")


def _iso(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _payload(*, pk, reference, status, category, grid, handling_level, handling_node, handling_department, due_at,
             version) -> dict:
    return {
        "id": pk, "reference": reference, "status": status, "category": category, "grid": grid,
        "handling_level": handling_level, "handling_node": handling_node, "handling_department": handling_department,
        "due_at": _iso(due_at), "version": version, "url": f"/api/v1/issues/cases/{pk}/",
    }


def _case_payload(case: Case) -> dict:
    return _payload(
        pk=case.pk, reference=case.reference, status=case.status, category=case.category.code, grid=case.grid_id,
        handling_level=case.handling_level, handling_node=case.handling_node_id,
        handling_department=case.handling_department_id, due_at=case.due_at, version=case.version,
    )


def publish_case_change(case: Case, *, created: bool = False, previous_status: str = "",
                        previous_level: int | None = None, escalated: bool = False) -> None:
    """The events of one report or transition (called by issues.services, in its transaction)."""
    payload = _case_payload(case)
    if created:
        publish("case.created", payload, grid_path=case.grid_path)
    if previous_status and previous_status != case.status:
        publish("case.status_changed", {**payload, "previous_status": previous_status}, grid_path=case.grid_path)
    if escalated:
        publish("case.escalated", {**payload, "previous_level": previous_level, "flagged": False},
                grid_path=case.grid_path)


def publish_sweep(now: datetime) -> None:
    """The events of one overdue sweep, set-based: one read of the cases it moved or flagged (their
    timeline rows carry its timestamp), then one INSERT per thousand deliveries. Nothing is read when
    no webhook listens."""
    escalated, status_changed = has_subscribers("case.escalated"), has_subscribers("case.status_changed")
    if not (escalated or status_changed):
        return
    rows = (
        CaseEvent.objects.filter(created_at=now, action__in=("escalate", "flag"), expired_deadline__isnull=False)
        .values_list("action", "from_status", "from_level", "case_id", "case__reference", "case__status",
                     "case__category__code", "case__grid_id", "case__grid_path", "case__handling_level",
                     "case__handling_node_id", "case__handling_department_id", "case__due_at", "case__version")
        .order_by("case_id")
    )
    moved, changed = [], []
    for action, from_status, from_level, pk, reference, status, category, grid, path, level, node, department, \
            due_at, version in rows.iterator(chunk_size=2000):
        payload = _payload(pk=pk, reference=reference, status=status, category=category, grid=grid,
                           handling_level=level, handling_node=node, handling_department=department, due_at=due_at,
                           version=version)
        moved.append(({**payload, "previous_level": from_level, "flagged": action == "flag"}, path))
        if from_status != status:
            changed.append(({**payload, "previous_status": from_status}, path))
    if escalated:
        publish_many("case.escalated", moved)
    if status_changed:
        publish_many("case.status_changed", changed)
