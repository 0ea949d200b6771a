"""Events for partners' webhooks: the catalogue, and `publish`, which the apps above partners call.

An app registers each event type it publishes from its AppConfig.ready(), with the key scopes that
may receive it:

    register_event("case.created", scopes=("cases.read", "cases.write"))

and publishes inside the transaction of the change itself:

    publish("case.created", {"id": case.pk, ...}, grid_path=case.grid_path)

`publish` writes one WebhookDelivery row per subscribed webhook whose key holds one of the event's
scopes and whose subtree contains `grid_path` (an event without a path goes only to keys without a
subtree); the rows commit or roll back with the caller's change, and are handed to Celery after
commit (partners.tasks). `publish_many` does the same for many events of one type at once, in a
fixed number of statements (the overdue sweep).

Payloads are thin: ids and states, never personal data. A partner reads the details through the API
with its key, where its grants apply again.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from partners.models import Webhook, WebhookDelivery

__all__ = [
    "EventType", "enqueue_after_commit", "event_types", "has_subscribers", "publish", "publish_many", "register_event",
]

# Above this many deliveries at once, one dispatch task fans them out instead of one task each.
DIRECT_ENQUEUE_LIMIT = 50
_BATCH = 1000


@dataclass(frozen=True)
class EventType:
    name: str
    scopes: tuple[str, ...]  # a key holding any of these may receive the event
    description: str = ""


_EVENTS: dict[str, EventType] = {}


def register_event(name: str, *, scopes: Sequence[str], description: str = "") -> None:
    from partners.models import Scope

    unknown = set(scopes) - set(Scope.values)
    if unknown:
        raise ValueError(f"Unknown scopes {sorted(unknown)} for event {name!r}.")
    _EVENTS[name] = EventType(name, tuple(scopes), description)


def event_types() -> dict[str, EventType]:
    return dict(_EVENTS)


def _event(name: str) -> EventType:
    try:
        return _EVENTS[name]
    except KeyError:
        raise LookupError(f"Event {name!r} is not registered; register it from its app's ready().") from None


def _subscribers(event: EventType, partner_id: int | None = None) -> list[Webhook]:
    now = timezone.now()
    webhooks = (
        Webhook.objects.select_related("key__node")
        .filter(active=True, key__revoked_at__isnull=True, key__partner__active=True)
        .filter(Q(key__expires_at__isnull=True) | Q(key__expires_at__gt=now))
    )
    if partner_id is not None:
        webhooks = webhooks.filter(key__partner_id=partner_id)
    return [w for w in webhooks if event.name in w.events and set(event.scopes) & set(w.key.scopes)]


def _reaches(webhook: Webhook, grid_path: str | None) -> bool:
    node = webhook.key.node
    if node is None:
        return True
    return grid_path is not None and grid_path.startswith(node.path)


def has_subscribers(event_type: str) -> bool:
    """Whether anyone would receive the event: a caller can skip building payloads nobody wants."""
    return bool(_subscribers(_event(event_type)))


def _body(event_id: uuid.UUID, event_type: str, at, payload: dict) -> str:
    envelope = {"id": str(event_id), "type": event_type, "created_at": at.isoformat(), "data": payload}
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def publish(event_type: str, payload: dict, *, grid_path: str | None = None, partner_id: int | None = None) -> int:
    """Queue the event for every webhook it reaches; returns how many deliveries were written.
    `partner_id` limits it to that partner's webhooks (a provider hears only of its own bills)."""
    return publish_many(event_type, [(payload, grid_path)], partner_id=partner_id)


def publish_many(event_type: str, events: Iterable[tuple[dict, str | None]], *, partner_id: int | None = None) -> int:
    """publish for many events of one type: one query for the subscribers, one INSERT per thousand rows."""
    webhooks = _subscribers(_event(event_type), partner_id)
    if not webhooks:
        return 0
    now = timezone.now()
    rows = []
    for payload, grid_path in events:
        targets = [w for w in webhooks if _reaches(w, grid_path)]
        if not targets:
            continue
        event_id = uuid.uuid4()
        body = _body(event_id, event_type, now, payload)
        rows += [WebhookDelivery(webhook=w, event_id=event_id, event_type=event_type, body=body, created_at=now,
                                 next_attempt_at=now) for w in targets]
    created = WebhookDelivery.objects.bulk_create(rows, batch_size=_BATCH)
    enqueue_after_commit([row.pk for row in created])
    return len(created)


def enqueue_after_commit(delivery_ids: list[int]) -> None:
    if not delivery_ids:
        return
    from partners.tasks import deliver_webhook, dispatch_webhooks

    def enqueue():
        if len(delivery_ids) > DIRECT_ENQUEUE_LIMIT:
            dispatch_webhooks.delay(0)
            return
        for delivery_id in delivery_ids:
            deliver_webhook.delay(delivery_id)

    # robust: a broker that is down leaves the rows pending for the dispatch sweep (every minute).
    transaction.on_commit(enqueue, robust=True)
