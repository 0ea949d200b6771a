"""The audit log: one append-only row per act a city must be able to account for — who saw an
unmasked ID number, who exported data, who changed a grant or a resident's record. Apps call
``audit_record`` inside the transaction of the act itself, so the act and its record commit together.
Superusers search the log in the admin; nobody can change or delete a row, not even through SQL
(the database refuses it).

Views of sensitive data happen many rows at a time (a page of households with their residents), so
``audit_view`` only notes them: ``AuditMiddleware`` writes one row per actor and kind of view when the
request is done, naming every record shown. Refusals (``audit_refusal``) are written then too, outside
the transaction they rolled back. The middleware also lends the request's address to ``audit_record``
calls made deep in services, which have no request to pass.
"""

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db.models import Model

from civic.audit_models import AuditEvent

__all__ = ["AuditMiddleware", "audit_record", "audit_refusal", "audit_view", "client_ip"]

_request = ContextVar("civic_audit_request", default=None)


def client_ip(request) -> str | None:
    """The client's address as the server saw it (a proxy in front must pass REMOTE_ADDR on)."""
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


def audit_record(
    *, actor, action: str, target: Model | None = None, summary: str = "", detail: Mapping | None = None,
    request=None,
) -> AuditEvent:
    notes = _request.get()
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        summary=summary[:255],
        detail=dict(detail or {}),
        ip=client_ip(request if request is not None else notes and notes.request),
    )


@dataclass
class _Views:
    """What one request showed, per (actor, action, record type): the record ids, in order of showing."""

    request: object
    seen: dict[tuple, dict[str, None]] = field(default_factory=dict)
    actors: dict[int, object] = field(default_factory=dict)
    later: list[dict] = field(default_factory=list)

    def add(self, actor, action: str, target: Model) -> None:
        self.actors[actor.pk] = actor
        self.seen.setdefault((actor.pk, action, target._meta.label_lower), {})[str(target.pk)] = None

    def write(self) -> None:
        for record in self.later:
            audit_record(request=self.request, **record)
        for (actor_pk, action, target_type), ids in self.seen.items():
            ids = list(ids)
            AuditEvent.objects.create(
                actor=self.actors[actor_pk], action=action, target_type=target_type,
                target_id=ids[0] if len(ids) == 1 else "", summary=f"{len(ids)} × {target_type}",
                detail={"ids": ids, "path": self.request.path[:200]}, ip=client_ip(self.request),
            )


def audit_view(*, actor, action: str, target: Model) -> None:
    """Note that `actor` was shown `target` (an unmasked ID number, say). In a request, every such view
    of one kind becomes one row once the response is ready; elsewhere (a task, a shell) one row now."""
    if actor is None or not actor.is_authenticated:
        return
    notes = _request.get()
    if notes is None:
        audit_record(actor=actor, action=action, target=target)
    else:
        notes.add(actor, action, target)


def audit_refusal(*, actor, action: str, summary: str = "", detail: Mapping | None = None) -> None:
    """Record a refused attempt (a rate limit reached, say). The refusal usually rolls back the
    transaction it happened in, so within a request the row is written once the response is ready."""
    notes = _request.get()
    record = {"actor": actor, "action": action, "summary": summary, "detail": detail}
    if notes is None:
        audit_record(**record)
    else:
        notes.later.append(record)


class AuditMiddleware:
    """Collects the request's views of sensitive data and writes them, one row per kind, afterwards."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        notes = _Views(request)
        token = _request.set(notes)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        notes.write()
        return response
