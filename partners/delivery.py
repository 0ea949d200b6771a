"""Sending one webhook delivery: claim it, sign it, POST it to the address checked just before, record
the attempt, and schedule the next one with exponential backoff.

Headers of every delivery (the body is the JSON envelope {"id", "type", "created_at", "data"}):

    Content-Type: application/json; charset=utf-8
    X-Civic-Event: case.created                  the event type
    X-Civic-Event-Id: 8c0f…                      the same for every webhook and every retry of one event
    X-Civic-Delivery: 1234                       this delivery (a replay is a new delivery, same event id)
    X-Civic-Timestamp: 1767225600                Unix seconds when this attempt was signed
    X-Civic-Signature: v1=<hex>                  HMAC-SHA256(secret, "<timestamp>.<raw body>")

A receiver recomputes the signature over the raw body, compares in constant time and rejects a
timestamp more than five minutes from its clock (a replayed request). Delivery is at least once: a
worker that dies after the receiver answered, before the answer was recorded, leaves the delivery to
be sent again; receivers deduplicate on X-Civic-Event-Id.
"""

import hashlib
import hmac
import http.client
import socket
import ssl
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from partners.addresses import UnsafeAddress, resolve_target
from partners.models import WebhookAttempt, WebhookDelivery

__all__ = ["backoff", "delivery_attempt", "delivery_claim", "retry_schedule", "sign"]

_ANSWER_BYTES = 2048  # of the receiver's answer, kept for the record when it is not a success
USER_AGENT = "Civic-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: WEBHOOK_RETRY_BASE doubled each time, at most WEBHOOK_RETRY_MAX."""
    base = settings.WEBHOOK_RETRY_BASE.total_seconds()
    return timedelta(seconds=min(base * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX.total_seconds()))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address checked beforehand, not to whatever the name resolves to a moment later."""

    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the URL's host name, as if connected by name.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    host, port, address = resolve_target(url)
    parts = urlsplit(url)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, timeout=settings.WEBHOOK_TIMEOUT)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(_ANSWER_BYTES)
    finally:
        connection.close()


def delivery_claim(delivery_id: int) -> WebhookDelivery | None:
    """Take a pending delivery for sending (one worker only); None when it is not pending."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.SENDING, claimed_at=now
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


def delivery_attempt(delivery: WebhookDelivery) -> timedelta | None:
    """Send a claimed delivery once and record the outcome; the wait before the next try, or None when
    there is none (delivered, or out of attempts)."""
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Civic-Event": delivery.event_type,
        "X-Civic-Event-Id": str(delivery.event_id),
        "X-Civic-Delivery": str(delivery.pk),
        "X-Civic-Timestamp": str(timestamp),
        "X-Civic-Signature": sign(delivery.webhook.secret, timestamp, body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        status_code, answer = _post(delivery.webhook.url, body, headers)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {answer.decode('utf-8', 'replace')}"
    except UnsafeAddress as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, TLS, a garbled answer
        error = f"{type(exc).__name__}: {exc}"
    latency = round((time.monotonic() - started) * 1000)
    return _record(delivery, status_code, latency, error)


@transaction.atomic
def _record(delivery: WebhookDelivery, status_code: int | None, latency_ms: int, error: str) -> timedelta | None:
    now = timezone.now()
    WebhookAttempt.objects.create(delivery=delivery, at=now, status_code=status_code, latency_ms=latency_ms,
                                  error=error[:_ANSWER_BYTES])
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_latency_ms, delivery.last_error = status_code, latency_ms, error
    delivery.claimed_at = None
    wait = None
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.DELIVERED, now, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        wait = backoff(delivery.attempts)
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.PENDING, now + wait
    delivery.save(update_fields=["attempts", "last_status_code", "last_latency_ms", "last_error", "claimed_at",
                                 "status", "delivered_at", "next_attempt_at"])
    return wait


def retry_schedule() -> list[timedelta]:
    """When each attempt happens, counted from the first (for the README and the tests)."""
    at, schedule = timedelta(0), [timedelta(0)]
    for attempt in range(1, settings.WEBHOOK_MAX_ATTEMPTS):
        at += backoff(attempt)
        schedule.append(at)
    return schedule


def dispatch_due(*, now=None, grace: timedelta = timedelta(0), limit: int = 1000) -> list[int]:
    """The pending deliveries due `grace` ago or earlier (their task is late or lost, or their wait was too
    long to leave to a Celery countdown), leased for WEBHOOK_DISPATCH_LEASE so that the next sweep does
    not pick them again meanwhile; and sends that never finished, put back to pending first."""
    now = now or timezone.now()
    pending = WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING, claimed_at__lt=now - settings.WEBHOOK_SENDING_TIMEOUT
    ).update(status=pending, claimed_at=None, next_attempt_at=now - grace)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=pending, next_attempt_at__lte=now - grace)
            .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + settings.WEBHOOK_DISPATCH_LEASE)
    return ids
