"""Webhooks against a real HTTP receiver (a local http.server thread): subscribing, deliveries written
with the change they tell of, signatures a receiver can check, retries with backoff, a receiver down
for a day, lost tasks, replay from the admin, and addresses checked at subscription and at delivery."""

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import services as case_services
from issues.models import Case
from partners import tasks
from partners.delivery import retry_schedule
from partners.models import Webhook, WebhookAttempt, WebhookDelivery
from partners.services import api_key_revoke, webhook_create
from partners.webhooks import publish
from tests.grid.utils import admin_client, assert_error_shape
from tests.issues.helpers import point_in
from tests.partners.conftest import key_client

HOOKS = "/api/v1/partners/webhooks/"


#
# A receiver
#


class Receiver:
    """An HTTP server on a free local port that records what it receives and answers the status codes
    queued in `answers` (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/civic"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def sent():
    """Tasks are recorded instead of sent to the broker: the test runs them itself."""
    with mock.patch.object(tasks.deliver_webhook, "delay") as delay, \
            mock.patch.object(tasks.deliver_webhook, "apply_async") as later, \
            mock.patch.object(tasks.dispatch_webhooks, "delay") as dispatch:
        yield type("Sent", (), {"delay": delay, "later": later, "dispatch": dispatch})


def deliver(delivery_id: int) -> str:
    return tasks.deliver_webhook.apply(args=[delivery_id]).get()


def verify(secret: str, headers: dict, body: bytes, *, tolerance: int = 300) -> bool:
    """The receiver's check, as the README shows it."""
    timestamp = headers["X-Civic-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Civic-Signature"])


def _report(city, categories, grid="A1g1", user="worker"):
    lat, lon = point_in(city.nodes[grid])
    return case_services.case_report(actor=city.users[user], category=categories["city-management"],
                                     description=f"问题 {grid}", lat=lat, lon=lon)


@pytest.fixture
def hook(make_key, receiver):
    """A city-wide cases.read key subscribed to every case event; (webhook, secret)."""
    key, _text = make_key(["cases.read"])
    return webhook_create(actor=None, key=key, url=receiver.url,
                          events=["case.created", "case.status_changed", "case.escalated"])


#
# Subscribing
#


def test_a_partner_subscribes_with_its_key_and_gets_the_secret_once(db, make_key, receiver):
    _key, text = make_key(["cases.read"])
    client = key_client(text)
    created = client.post(HOOKS, {"url": receiver.url, "events": ["case.created"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["case.created"]
    listed = client.get(HOOKS).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"{HOOKS}{body['id']}/").json()


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("ftp://example.org/hook", ["case.created"]),
        ("javascript:alert(1)", ["case.created"]),
        ("http://10.0.0.8/hook", ["case.created"]),  # private
        ("http://169.254.169.254/latest/meta-data", ["case.created"]),  # link-local: cloud metadata
        ("http://[::1]:8000/hook", ["case.created"]),  # loopback, IPv6
        ("http://localhost/hook", ["case.created"]),
        ("RECEIVER", ["bill.paid"]),  # not registered
        ("RECEIVER", []),
    ],
)
def test_bad_subscriptions_are_400_and_store_nothing(db, make_key, receiver, settings, url, events):
    settings.WEBHOOK_ALLOWED_HOSTS = []  # the receiver's own loopback address is refused too, then
    _key, text = make_key(["cases.read"])
    response = key_client(text).post(HOOKS, {"url": url.replace("RECEIVER", receiver.url), "events": events},
                                     format="json")
    assert_error_shape(response, 400)
    assert not Webhook.objects.exists()


def test_a_key_subscribes_only_to_events_its_scopes_cover(db, make_key, receiver):
    from partners.webhooks import register_event

    register_event("bill.paid", scopes=["billing.provider"])  # as billing will, from its ready()
    _key, text = make_key(["cases.read"])
    error = assert_error_shape(key_client(text).post(HOOKS, {"url": receiver.url, "events": ["bill.paid"]},
                                                     format="json"), 400)
    assert "bill.paid" in error["fields"]["events"][0]


def test_webhooks_are_for_keys_only_and_each_key_sees_its_own(city, make_key, receiver, hook):
    webhook, _secret = hook
    _other, other_text = make_key(["cases.read"])
    assert key_client(other_text).get(HOOKS).json()["results"] == []
    assert_error_shape(key_client(other_text).get(f"{HOOKS}{webhook.pk}/"), 404)
    assert_error_shape(key_client(other_text).delete(f"{HOOKS}{webhook.pk}/"), 404)
    staff = admin_client(city.users["admin"])
    assert staff.get(HOOKS).status_code == 403


def test_deleting_a_webhook_deactivates_it(db, make_key, receiver):
    _key, text = make_key(["cases.read"])
    client = key_client(text)
    webhook_id = client.post(HOOKS, {"url": receiver.url, "events": ["case.created"]}, format="json").json()["id"]
    assert client.delete(f"{HOOKS}{webhook_id}/").status_code == 204
    assert Webhook.objects.get(pk=webhook_id).active is False
    assert client.get(HOOKS).json()["results"] == []


#
# Publishing
#


def test_a_report_writes_its_delivery_in_its_own_transaction(city, categories, hook, sent,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case = _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "case.created" and delivery.status == "pending"
    sent.delay.assert_called_once_with(delivery.pk)  # after commit
    envelope = json.loads(delivery.body)
    assert envelope["type"] == "case.created" and envelope["id"] == str(delivery.event_id)
    assert envelope["data"]["id"] == case.pk and envelope["data"]["reference"] == case.reference
    assert "description" not in envelope["data"]  # thin payloads: the partner reads the case with its key


def test_a_change_rolled_back_leaves_no_delivery(city, categories, hook, sent):
    with pytest.raises(RuntimeError), transaction.atomic():
        _report(city, categories)
        raise RuntimeError("the caller fails after reporting")
    assert not Case.objects.exists() and not WebhookDelivery.objects.exists()


def test_transitions_publish_status_changes_and_escalations(city, categories, hook, sent):
    case = _report(city, categories)
    case = case_services.case_transition(actor=city.users["director"], case=case, name="accept", version=1)
    case_services.case_transition(actor=city.users["director"], case=case, name="escalate", version=2,
                                  comment="超出社区能力")
    events = list(WebhookDelivery.objects.order_by("id").values_list("event_type", flat=True))
    assert events == ["case.created", "case.status_changed", "case.status_changed", "case.escalated"]
    escalated = json.loads(WebhookDelivery.objects.get(event_type="case.escalated").body)["data"]
    assert escalated["previous_level"] == 4 and escalated["handling_level"] == 3 and escalated["flagged"] is False


def test_events_reach_only_keys_whose_subtree_holds_the_case(city, categories, make_key, receiver, sent):
    street_a, _ = make_key(["cases.read"], node=city.nodes["A"])
    webhook_create(actor=None, key=street_a, url=receiver.url, events=["case.created"])
    _report(city, categories, grid="B1g1", user="worker2")
    assert not WebhookDelivery.objects.exists()
    _report(city, categories, grid="A2g1", user="admin")
    assert WebhookDelivery.objects.count() == 1


def test_revoked_keys_and_inactive_partners_receive_nothing(city, categories, hook, partner, sent):
    webhook, _secret = hook
    api_key_revoke(actor=None, key=webhook.key)
    _report(city, categories)
    assert not WebhookDelivery.objects.exists()


def test_an_unregistered_event_cannot_be_published(db):
    with pytest.raises(LookupError):
        publish("case.teleported", {"id": 1})


#
# Delivering
#


def test_a_delivery_is_signed_and_a_receiver_can_check_it(city, categories, hook, receiver, sent):
    webhook, secret = hook
    case = _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    assert deliver(delivery.pk) == "delivered"

    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/hooks/civic"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Civic-Event"] == "case.created" and headers["X-Civic-Event-Id"] == str(delivery.event_id)
    assert headers["X-Civic-Delivery"] == str(delivery.pk)
    assert verify(secret, headers, body)
    assert not verify("whsec_wrong", headers, body)
    assert not verify(secret, headers, body.replace(case.reference.encode(), b"XC-0000-000000"))
    stale = {**headers, "X-Civic-Timestamp": str(int(headers["X-Civic-Timestamp"]) - 301)}
    assert not verify(secret, stale, body)  # a replay older than five minutes

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 200 and attempt.latency_ms >= 0 and attempt.error == ""


def test_failures_are_retried_with_exponential_backoff(city, categories, hook, receiver, sent):
    receiver.answers = [503, 500]
    _report(city, categories)
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 503 and "try later" in delivery.last_error
    assert timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert sent.later.call_args.kwargs == {"countdown": 30.0}

    assert deliver(delivery.pk) == "pending"
    assert sent.later.call_args.kwargs == {"countdown": 60.0}
    assert deliver(delivery.pk) == "delivered"
    assert list(delivery.tries.values_list("status_code", flat=True)) == [503, 500, 200]
    assert len(receiver.requests) == 3
    bodies = {request["body"] for request in receiver.requests}
    assert len(bodies) == 1  # the same body every time, signed afresh


def test_a_receiver_down_for_a_day_still_gets_the_event(city, categories, hook, receiver, sent):
    """The schedule outlasts a day; every attempt within it fails without giving up, the next one after
    the receiver is back delivers. Waits are skipped by moving the delivery's due time back."""
    schedule = retry_schedule()
    assert schedule[-1] > timedelta(hours=30) and len(schedule) == settings.WEBHOOK_MAX_ATTEMPTS
    within_a_day = sum(1 for at in schedule if at <= timedelta(hours=24))
    assert within_a_day < settings.WEBHOOK_MAX_ATTEMPTS

    receiver.stop()
    _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    for _ in range(within_a_day):
        assert deliver(delivery.pk) == "pending"
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery.refresh_from_db()
    assert delivery.attempts == within_a_day and "ConnectionRefusedError" in delivery.last_error

    back = Receiver()  # the receiver is up again (on a new port: the webhook follows it)
    try:
        Webhook.objects.filter(pk=delivery.webhook_id).update(url=back.url)
        assert deliver(delivery.pk) == "delivered"
        assert len(back.requests) == 1
    finally:
        back.stop()


def test_a_delivery_gives_up_after_the_last_attempt(city, categories, hook, receiver, sent, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.answers = [500, 500, 500]
    _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    assert deliver(delivery.pk) == "pending"
    assert deliver(delivery.pk) == "failed"
    assert deliver(delivery.pk) == "not pending"
    assert len(receiver.requests) == 2


def test_a_delivery_is_sent_once_however_often_its_task_arrives(city, categories, hook, receiver, sent):
    _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    assert [deliver(delivery.pk) for _ in range(3)] == ["delivered", "not pending", "not pending"]
    assert len(receiver.requests) == 1


def test_the_sweep_sends_what_a_lost_task_left_behind(city, categories, hook, receiver, sent):
    _report(city, categories)
    _report(city, categories, grid="A1g2", user="director")
    lost, stuck = WebhookDelivery.objects.order_by("id")
    now = timezone.now()
    # lost: its task never ran (the broker was down at commit); stuck: its worker died mid-send.
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=now - timedelta(minutes=2))
    WebhookDelivery.objects.filter(pk=stuck.pk).update(status="sending", claimed_at=now - timedelta(minutes=6))

    assert tasks.dispatch_webhooks.apply().get() == 2
    assert sorted(call.args[0] for call in sent.delay.call_args_list[-2:]) == [lost.pk, stuck.pk]
    # Leased: the next sweep, a minute later, does not enqueue them again.
    assert tasks.dispatch_webhooks.apply().get() == 0
    assert [deliver(lost.pk), deliver(stuck.pk)] == ["delivered", "delivered"]


def test_the_sweep_leaves_deliveries_whose_task_is_on_its_way(city, categories, hook, sent):
    _report(city, categories)  # due now, its task just enqueued
    assert tasks.dispatch_webhooks.apply().get() == 0


def test_the_address_is_checked_again_at_delivery(city, categories, hook, receiver, sent, settings):
    _report(city, categories)
    delivery = WebhookDelivery.objects.get()
    settings.WEBHOOK_ALLOWED_HOSTS = []  # 127.0.0.1 is no longer allowed
    assert deliver(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert "private or local address" in delivery.last_error and delivery.last_status_code is None
    assert receiver.requests == []


def test_a_name_that_resolves_elsewhere_by_delivery_time_is_refused(city, categories, make_key, receiver, sent,
                                                                     settings):
    """DNS rebinding: public when subscribed, loopback when sent. The connection goes to the address
    checked, never to a second lookup's answer."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    real = socket.getaddrinfo
    answers = {"hooks.partner.example": "93.184.215.14"}

    def fake(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    key, _text = make_key(["cases.read"])
    with mock.patch("socket.getaddrinfo", fake):
        webhook_create(actor=None, key=key, url="http://hooks.partner.example/civic", events=["case.created"])
        _report(city, categories)
        answers["hooks.partner.example"] = "127.0.0.1"
        assert deliver(WebhookDelivery.objects.get().pk) == "pending"
    assert "127.0.0.1" in WebhookDelivery.objects.get().last_error
    assert receiver.requests == []


#
# The overdue sweep: set-based
#


def test_the_overdue_sweep_publishes_in_a_fixed_number_of_statements(city, categories, hook, sent):
    from issues.sweep import escalate_overdue

    def sweep_with(count: int) -> tuple[int, int]:
        for _ in range(count):
            _report(city, categories)
        later = timezone.now() + timedelta(days=30)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            escalate_overdue(now=later)
        deliveries = WebhookDelivery.objects.filter(event_type="case.escalated").count()
        WebhookDelivery.objects.all().delete()
        Case.objects.filter(status__in=["dispatched", "reported"]).update(status="closed")
        return len(queries), deliveries

    few, many = sweep_with(2), sweep_with(12)
    assert (few[1], many[1]) == (2, 12)
    assert few[0] == many[0]


def test_the_sweep_reads_nothing_for_webhooks_when_none_listens(city, categories, sent):
    from issues.sweep import escalate_overdue

    _report(city, categories)
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        escalate_overdue(now=timezone.now() + timedelta(days=30))
    assert not [q for q in queries.captured_queries if "issues_caseevent" in q["sql"] and "SELECT" in q["sql"][:10]]
    assert not WebhookDelivery.objects.exists()


#
# Replay and the record, in the admin and the API
#


def test_a_delivery_is_replayed_from_the_admin(city, categories, hook, receiver, sent,
                                               django_capture_on_commit_callbacks):
    _report(city, categories)
    original = WebhookDelivery.objects.get()
    deliver(original.pk)
    client = admin_client(city.users["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/partners/webhookdelivery/",
                               {"action": "replay", "_selected_action": [original.pk]})
    assert response.status_code == 302
    replay = WebhookDelivery.objects.get(replay_of=original)
    assert (replay.event_id, replay.body, replay.status) == (original.event_id, original.body, "pending")
    assert deliver(replay.pk) == "delivered"
    first, second = receiver.requests
    assert first["headers"]["X-Civic-Event-Id"] == second["headers"]["X-Civic-Event-Id"]
    assert first["headers"]["X-Civic-Delivery"] != second["headers"]["X-Civic-Delivery"]
    page = client.get(f"/admin/partners/webhookdelivery/{original.pk}/change/").content.decode()
    assert "200" in page  # the attempt, with its status code


def test_staff_without_the_permission_cannot_replay(city, categories, hook, sent):
    from partners.services import delivery_replay

    _report(city, categories)
    with pytest.raises(PermissionDenied):
        delivery_replay(actor=city.users["street"], delivery=WebhookDelivery.objects.get())
    assert WebhookDelivery.objects.count() == 1


def test_a_partner_reads_its_deliveries(city, categories, make_key, receiver, sent):
    _key, text = make_key(["cases.read"])
    client = key_client(text)
    webhook_id = client.post(HOOKS, {"url": receiver.url, "events": ["case.created"]}, format="json").json()["id"]
    receiver.answers = [502]
    _report(city, categories)
    deliver(WebhookDelivery.objects.get().pk)
    rows = client.get(f"{HOOKS}{webhook_id}/deliveries/").json()["results"]
    assert [(r["event_type"], r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [
        ("case.created", "pending", 1, 502)
    ]
