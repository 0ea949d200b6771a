"""A store of idempotent requests, for any app's POST that moves money (Stripe's semantics).

civic knows nothing of bills or bookings: an app makes its own concrete table from
``AbstractIdempotencyRecord`` and runs its writes through ``idempotent_run``. The request's
Idempotency-Key header is parsed by ``civic.api.idempotency``.

The rules, per caller (``scope``) and key:

* the first request claims the key with a unique INSERT, in a transaction of its own, *before* it runs:
  a second copy arriving while the first runs finds the claim and is answered 409 (nothing runs twice);
* the first request's answer (status, body, chosen headers) is stored once it has run, whatever it was
  (a 409 or 404 that the service answered is replayed as well), unless it was a 400 (the request was
  not valid: nothing began) or a 5xx: then the claim is dropped so that a retry may run;
* the same key with the same request (method, path, canonical body) answers the stored response with
  ``Idempotent-Replayed: true``; with another request, 422;
* records are kept at least ``IDEMPOTENCY_KEEP`` (24 h) and then purged (``idempotency_purge``).
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "IDEMPOTENCY_KEEP",
    "AbstractIdempotencyRecord",
    "IdempotencyConflict",
    "IdempotencyMismatch",
    "StoredResponse",
    "idempotency_purge",
    "idempotent_run",
    "request_fingerprint",
]

IDEMPOTENCY_KEEP = timedelta(hours=24)


class AbstractIdempotencyRecord(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        DONE = "done", _("done")

    # Who asked: "user:<id>" or "key:<id>" — a key is never shared between two callers.
    scope = models.CharField(_("caller"), max_length=64)
    key = models.CharField(_("idempotency key"), max_length=255)
    request_hash = models.CharField(_("request fingerprint"), max_length=64)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.scope} {self.key} ({self.status})"


class IdempotencyConflict(Exception):
    """The same key is still being worked on by another request (409)."""


class IdempotencyMismatch(Exception):
    """The key was used before with another request (422)."""


@dataclass
class StoredResponse:
    status: int
    body: object
    headers: dict
    replayed: bool


def request_fingerprint(method: str, path: str, body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def idempotent_run(
    *, model: type[AbstractIdempotencyRecord], scope: str, key: str, fingerprint: str,
    run: Callable[[], tuple[int, object, dict]],
) -> StoredResponse:
    """Run `run()` (which returns status, body, headers) at most once per (scope, key).

    `run` must do its own transaction(s); the claim is committed before it starts, so a concurrent
    copy sees it. Raises IdempotencyConflict or IdempotencyMismatch for the API to answer 409/422.
    """
    manager = model._default_manager
    try:
        with transaction.atomic():
            record = manager.create(scope=scope, key=key, request_hash=fingerprint)
    except IntegrityError:
        record = manager.filter(scope=scope, key=key).first()
        if record is None:  # purged between the INSERT and the SELECT: the caller may retry
            raise IdempotencyConflict from None
        if record.request_hash != fingerprint:
            raise IdempotencyMismatch from None
        if record.status != record.Status.DONE:
            raise IdempotencyConflict from None
        return StoredResponse(record.response_status, record.response_body, record.response_headers, True)
    try:
        status, body, headers = run()
    except BaseException:
        manager.filter(pk=record.pk).delete()
        raise
    if status >= 500 or status == 400:
        manager.filter(pk=record.pk).delete()
    else:
        manager.filter(pk=record.pk).update(
            status=record.Status.DONE, response_status=status, response_body=body, response_headers=headers,
        )
    return StoredResponse(status, body, headers, False)


def idempotency_purge(*, model: type[AbstractIdempotencyRecord], keep: timedelta = IDEMPOTENCY_KEEP) -> int:
    """Delete the records older than `keep` (finished or abandoned); returns how many."""
    deleted, _by_model = model._default_manager.filter(created_at__lt=timezone.now() - keep).delete()
    return deleted
