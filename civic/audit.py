"""The audit log: one append-only row per act a city must be able to account for — who saw an
unmasked ID number, who exported data, who changed a grant or a resident's record. Apps call
``audit_record`` inside the transaction of the act itself, so the act and its record commit together.
Superusers search the log in the admin; nobody can change or delete a row, not even through SQL
(the database refuses it)."""

from collections.abc import Mapping

from django.db.models import Model

from civic.audit_models import AuditEvent

__all__ = ["audit_record", "client_ip"]


def client_ip(request) -> str | None:
    """The client's address as the server saw it (a proxy in front must pass REMOTE_ADDR on)."""
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


def audit_record(
    *, actor, action: str, target: Model | None = None, summary: str = "", detail: Mapping | None = None,
    request=None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        summary=summary[:255],
        detail=dict(detail or {}),
        ip=client_ip(request),
    )
