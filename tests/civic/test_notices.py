"""civic.notices: rendering per recipient language, channels, deduplication, delivery on commit,
at-most-once sending (also under a crash and under concurrency), retries, the sweep and the admin."""

import itertools
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext_lazy

from civic.models import Notice
from civic.notices import (
    NoticeDeliveryError,
    channels_sql,
    default_channels,
    notice_deliver,
    notice_mark_read,
    notice_queue,
    notice_render,
    notices_for,
)
from civic.sms import BaseSmsBackend
from civic.tasks import deliver_notice, retry_pending_notices
from config.celery import app as celery_app
from tests.factories import UserFactory
from tests.support.race import race

CASE_TEMPLATES = [
    "issues/case_reported",
    "issues/case_dispatched",
    "issues/case_escalated",
    "issues/case_overdue_flagged",
    "issues/case_resolved",
    "issues/case_returned",
]
CASE_CONTEXT = {
    "reference": "C-0001",
    "category": "占道经营",
    "grid": "星火巷网格1",
    "level": gettext_lazy("district"),
    "deadline": "2026-12-01 17:00",
    "reason": "超时未处置",
    "url": "https://civic.example/c/1",
}


class RecordingSmsBackend(BaseSmsBackend):
    """Test backend: keeps what it was asked to send."""

    sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


@pytest.fixture
def no_tasks():
    """Stands in for the broker: records the notice ids handed to the delivery task."""
    with mock.patch.object(deliver_notice, "delay") as delay:
        yield delay


@pytest.fixture
def reachable(db):
    return UserFactory(username="reachable", email="reachable@example.org", phone="13800000001", language="en")


def queue(user, key="case-1:reported", template="civic/test", **kwargs):
    context = kwargs.pop("context", {"reference": "R-1", "name": user.username})
    return notice_queue(recipient=user, template=template, context=context, dedupe_key=key, **kwargs)


def by_channel(notices):
    return {n.channel: n for n in notices}


#
# Rendering and channels
#


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        ("zh-hans", "测试通知 R-1", "alice，您好，这是一条测试通知。"),
        ("en", "Test notice R-1", "Hello alice, this is a test notice."),
    ],
)
def test_text_is_rendered_in_the_recipients_language(no_tasks, language, subject, body):
    user = UserFactory(username="alice", email="alice@example.org", language=language)
    notices = queue(user, context={"reference": "R-1", "name": "alice"})
    assert {(n.subject, n.body) for n in notices} == {(subject, body)}
    assert notices[0].context == {"reference": "R-1", "name": "alice"}


@pytest.mark.parametrize("template", CASE_TEMPLATES)
def test_case_templates_are_short_and_translated(template):
    zh_subject, zh_body = notice_render(template=template, context=CASE_CONTEXT, language="zh-hans")
    en_subject, en_body = notice_render(template=template, context=CASE_CONTEXT, language="en")
    assert "C-0001" in zh_subject and "C-0001" in en_subject
    assert "案件" in zh_subject and "Case" in en_subject
    assert "Case" not in zh_body and "案件" not in en_body
    assert CASE_CONTEXT["url"] in zh_body
    assert len(zh_body) <= 120 and len(en_body) <= 160  # about one SMS (70 Chinese characters) or two


def test_labels_in_the_context_follow_the_recipients_language():
    def body(language):
        return notice_render(template="issues/case_escalated", context=CASE_CONTEXT, language=language)[1]

    assert "已升级至区级" in body("zh-hans")
    assert "to the district level" in body("en")


@pytest.mark.django_db
def test_the_context_may_hold_dates_and_lazy_labels(no_tasks):
    user = UserFactory(username="zh", language="zh-hans")
    deadline = timezone.now()
    notice = queue(user, template="issues/case_escalated", context={**CASE_CONTEXT, "deadline": deadline})[0]
    notice.refresh_from_db()
    assert "已升级至区级" in notice.body
    # Stored as text, in the recipient's language like the subject and body.
    assert notice.context["level"] == "区" and notice.context["deadline"].startswith(str(deadline.date()))


def test_plain_text_is_not_html_escaped():
    context = {**CASE_CONTEXT, "reason": "A & B <x>"}
    _, body = notice_render(template="issues/case_returned", context=context, language="en")
    assert "Reason: A & B <x>" in body


@pytest.mark.django_db
def test_default_channels_follow_the_addresses_the_recipient_has(no_tasks, reachable):
    notices = by_channel(queue(reachable))
    assert set(notices) == {"in_app", "email", "sms"}
    assert notices["in_app"].status == Notice.Status.SENT and notices["in_app"].sent_at is not None
    assert notices["email"].status == notices["sms"].status == Notice.Status.PENDING
    assert notices["sms"].dedupe_key == "case-1:reported:sms"

    silent = UserFactory(username="silent")
    assert [n.channel for n in queue(silent)] == ["in_app"]


@pytest.mark.django_db
@pytest.mark.parametrize(("off", "expected"), [
    ((), ["in_app", "email", "sms"]),
    (("notify_sms",), ["in_app", "email"]),
    (("notify_email", "notify_in_app"), ["sms"]),
    (("notify_in_app", "notify_email", "notify_sms"), []),
])
def test_default_channels_follow_the_recipients_preferences(no_tasks, reachable, off, expected):
    for field in off:
        setattr(reachable, field, False)
    reachable.save()
    assert [n.channel for n in queue(reachable)] == expected
    assert sorted(Notice.objects.values_list("channel", flat=True)) == sorted(expected)


@pytest.mark.django_db
def test_a_caller_naming_the_channels_overrides_the_preferences(no_tasks, reachable):
    """A verification code must arrive: its caller names the channels (portal.accounts.services)."""
    reachable.notify_sms = reachable.notify_email = False
    reachable.save()
    assert {n.channel: n.status for n in queue(reachable, channels=["sms", "email"])} == {
        "sms": Notice.Status.PENDING, "email": Notice.Status.PENDING}


@pytest.mark.django_db
def test_the_sql_rule_says_what_default_channels_says(reachable):
    """channels_sql (set-based inserts: issues.sweep) and default_channels are one rule: checked over
    every combination of preferences and addresses."""
    users = []
    for number, (in_app, email, sms, has_email, has_phone) in enumerate(itertools.product([True, False], repeat=5)):
        users.append(UserFactory(username=f"combo{number}", notify_in_app=in_app, notify_email=email,
                                 notify_sms=sms, email=f"c{number}@example.org" if has_email else "",
                                 phone=f"139{number:08d}" if has_phone else None))
    channels = " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in Notice.Channel.values)
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT u.id, ch.channel FROM {table} u CROSS JOIN ({channels}) ch"
                       f" WHERE u.username LIKE 'combo%%' AND {channels_sql('u', 'ch.channel')}")
        from_sql = set(cursor.fetchall())
    assert from_sql == {(user.pk, channel) for user in users for channel in default_channels(user)}
    assert len(from_sql) > 20


@pytest.mark.django_db
def test_a_requested_channel_without_an_address_is_stored_as_skipped(no_tasks):
    user = UserFactory(username="mailonly", email="m@example.org")
    notices = by_channel(queue(user, channels=["email", "sms"]))
    assert notices["email"].status == Notice.Status.PENDING
    assert notices["sms"].status == Notice.Status.SKIPPED and notices["sms"].last_error
    with pytest.raises(ValueError):
        queue(user, key="other", channels=["pigeon"])


#
# Deduplication and the caller's transaction
#


@pytest.mark.django_db
def test_queueing_the_same_key_twice_creates_nothing_new(no_tasks, reachable):
    first = queue(reachable)
    again = queue(reachable)
    assert [n.pk for n in again] == [n.pk for n in first]
    assert Notice.objects.count() == 3


@pytest.mark.django_db
def test_a_duplicate_leaves_the_callers_transaction_usable(no_tasks, reachable):
    with transaction.atomic():
        queue(reachable)
        queue(reachable)
        # After a swallowed IntegrityError PostgreSQL would refuse this query until rollback.
        UserFactory(username="after-duplicate")
        assert Notice.objects.filter(recipient=reachable).count() == 3
    assert Notice.objects.count() == 3


@pytest.mark.django_db
def test_email_and_sms_are_handed_to_the_task_after_commit(no_tasks, reachable, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        notices = by_channel(queue(reachable))
        no_tasks.assert_not_called()  # not before the caller commits
    assert len(callbacks) == 2
    assert sorted(c.args[0] for c in no_tasks.call_args_list) == sorted([notices["email"].pk, notices["sms"].pk])

    no_tasks.reset_mock()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue(reachable)
    assert callbacks == [] and not no_tasks.called


@pytest.mark.django_db
def test_a_rolled_back_caller_leaves_no_notice_and_sends_nothing(
    no_tasks, reachable, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks(execute=True)
    with capture as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        queue(reachable)
        raise RuntimeError("the case transition failed")
    assert callbacks == []
    assert not Notice.objects.exists()
    no_tasks.assert_not_called()
    assert mail.outbox == []


@pytest.mark.django_db
def test_an_unreachable_broker_does_not_fail_the_committed_caller(reachable, django_capture_on_commit_callbacks):
    broker_down = mock.patch.object(deliver_notice, "delay", side_effect=ConnectionError("broker down"))
    with broker_down, django_capture_on_commit_callbacks(execute=True):
        notices = queue(reachable)
    # Still pending: retry_pending_notices enqueues it later.
    assert by_channel(notices)["email"].status == Notice.Status.PENDING


#
# Delivery
#


@pytest.mark.django_db
def test_delivery_end_to_end_sends_each_email_once(reachable, settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = f"{__name__}.RecordingSmsBackend"
    RecordingSmsBackend.sent = []
    worker = mock.patch.object(deliver_notice, "delay", side_effect=lambda pk: deliver_notice.apply(args=[pk]))
    with worker, django_capture_on_commit_callbacks(execute=True):
        notices = by_channel(queue(reachable))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert (message.subject, message.body) == ("Test notice R-1", "Hello reachable, this is a test notice.")
    assert message.to == ["reachable@example.org"] and message.from_email == settings.DEFAULT_FROM_EMAIL
    assert RecordingSmsBackend.sent == [("13800000001", "Hello reachable, this is a test notice.")]
    for channel in ("email", "sms"):
        notices[channel].refresh_from_db()
        assert notices[channel].status == Notice.Status.SENT
        assert notices[channel].attempts == 1 and notices[channel].sent_at is not None


@pytest.mark.django_db
def test_delivering_twice_sends_once(no_tasks, reachable):
    email = by_channel(queue(reachable))["email"]
    notice_deliver(notice_id=email.pk)
    notice_deliver(notice_id=email.pk)
    assert len(mail.outbox) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.SENT, 1)


@pytest.mark.django_db
def test_in_app_skipped_and_missing_notices_are_not_sent(no_tasks, reachable):
    notices = by_channel(queue(reachable, channels=["in_app"]))
    notice_deliver(notice_id=notices["in_app"].pk)
    notice_deliver(notice_id=0)
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_crash_mid_send_is_never_resent(no_tasks, reachable):
    email = by_channel(queue(reachable))["email"]
    # The worker dies after claiming the notice: whether the message left is unknown.
    with mock.patch("civic.notices.send_mail", side_effect=SystemExit("worker killed")), pytest.raises(SystemExit):
        notice_deliver(notice_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.SENDING, 1)

    notice_deliver(notice_id=email.pk)  # a redelivered task message
    assert mail.outbox == []
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.SENDING, 1)


@pytest.mark.django_db
def test_the_recipient_losing_the_address_skips_the_notice(no_tasks, reachable):
    email = by_channel(queue(reachable))["email"]
    reachable.email = ""
    reachable.save()
    notice_deliver(notice_id=email.pk)
    email.refresh_from_db()
    assert email.status == Notice.Status.SKIPPED and mail.outbox == []


@pytest.mark.django_db
def test_a_failing_backend_is_retried_then_fails(no_tasks, reachable, settings):
    settings.NOTICE_MAX_ATTEMPTS = 3
    email = by_channel(queue(reachable))["email"]
    with mock.patch("civic.notices.send_mail", side_effect=OSError("SMTP down")):
        for attempt in (1, 2):
            with pytest.raises(NoticeDeliveryError):
                notice_deliver(notice_id=email.pk)
            email.refresh_from_db()
            assert (email.status, email.attempts) == (Notice.Status.PENDING, attempt)
            assert email.last_error == "OSError: SMTP down"
        notice_deliver(notice_id=email.pk)  # the last attempt: no retry
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.FAILED, 3)

    notice_deliver(notice_id=email.pk)
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_retry_that_succeeds_sends_once(no_tasks, reachable):
    email = by_channel(queue(reachable))["email"]
    with mock.patch("civic.notices.send_mail", side_effect=OSError("SMTP down")), pytest.raises(NoticeDeliveryError):
        notice_deliver(notice_id=email.pk)
    notice_deliver(notice_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Notice.Status.SENT, 2, "")
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_soft_time_limit_during_the_send_fails_without_retry(no_tasks, reachable):
    from celery.exceptions import SoftTimeLimitExceeded

    email = by_channel(queue(reachable))["email"]
    with mock.patch("civic.notices.send_mail", side_effect=SoftTimeLimitExceeded()):
        notice_deliver(notice_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.FAILED, 1)


@pytest.mark.django_db
def test_the_task_retries_up_to_the_limit(no_tasks, reachable, monkeypatch):
    # apply() runs the retries inline (no backoff wait); without propagation it handles each Retry
    # itself instead of raising it to us.
    monkeypatch.setitem(celery_app.conf, "CELERY_TASK_EAGER_PROPAGATES", False)  # the CELERY_ namespace
    email = by_channel(queue(reachable))["email"]
    with mock.patch("civic.notices.send_mail", side_effect=OSError("SMTP down")) as send:
        deliver_notice.apply(args=[email.pk])
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Notice.Status.FAILED, django_settings.NOTICE_MAX_ATTEMPTS)
    assert send.call_count == django_settings.NOTICE_MAX_ATTEMPTS


def test_the_delivery_task_is_configured_for_at_most_once_retries():
    assert deliver_notice.acks_late is True
    assert deliver_notice.autoretry_for == (NoticeDeliveryError,)
    assert deliver_notice.retry_backoff is True and deliver_notice.retry_backoff_max == 600
    assert deliver_notice.max_retries == django_settings.NOTICE_MAX_ATTEMPTS
    entry = django_settings.CELERY_BEAT_SCHEDULE["retry-pending-notices"]
    assert entry["task"] == retry_pending_notices.name


#
# The sweep
#


@pytest.mark.django_db
def test_the_sweep_requeues_lost_notices_and_fails_stale_sending_ones(no_tasks):
    user = UserFactory(username="swept", email="s@example.org")
    now = timezone.now()

    def make(key, channel="email", age=timedelta(0), **fields):
        notice = queue(user, key=key, channels=[channel])[0]
        Notice.objects.filter(pk=notice.pk).update(created_at=now - age, **fields)
        return notice.pk

    lost = make("lost", age=timedelta(minutes=2))
    fresh = make("fresh")
    in_app = make("in-app", channel="in_app", age=timedelta(hours=1))
    hour, long_ago, lately = timedelta(hours=1), now - timedelta(minutes=20), now - timedelta(minutes=2)
    retry_lost = make("retry-lost", age=hour, attempts=1, attempted_at=long_ago)
    retry_waiting = make("retry-waiting", age=hour, attempts=1, attempted_at=lately)
    stale = make("stale", age=hour, status="sending", attempts=1, attempted_at=long_ago)
    busy = make("busy", age=hour, status="sending", attempts=1, attempted_at=lately)
    no_tasks.reset_mock()

    assert retry_pending_notices() == {"requeued": 2, "failed": 1}

    assert sorted(c.args[0] for c in no_tasks.call_args_list) == sorted([lost, retry_lost])
    status = dict(Notice.objects.values_list("pk", "status"))
    assert status[stale] == Notice.Status.FAILED and "delivery unknown" in Notice.objects.get(pk=stale).last_error
    assert status[busy] == Notice.Status.SENDING
    assert {status[fresh], status[retry_waiting], status[lost]} == {Notice.Status.PENDING}
    assert status[in_app] == Notice.Status.SENT


#
# The in-app inbox and the admin
#


@pytest.mark.django_db
def test_inbox_and_marking_read(no_tasks, reachable):
    other = UserFactory(username="other")
    first = by_channel(queue(reachable, key="a"))["in_app"]
    second = by_channel(queue(reachable, key="b"))["in_app"]
    queue(other, key="c")

    assert list(notices_for(user=reachable)) == [second, first]
    notice_mark_read(notice=first, user=reachable)
    assert list(notices_for(user=reachable, unread_only=True)) == [second]
    read_at = Notice.objects.get(pk=first.pk).read_at
    assert read_at is not None
    assert notice_mark_read(notice=first, user=reachable).read_at == read_at

    with pytest.raises(PermissionDenied):
        notice_mark_read(notice=second, user=other)
    with pytest.raises(ValidationError):
        notice_mark_read(notice=by_channel(queue(reachable, key="a"))["email"], user=reachable)


@pytest.mark.django_db
def test_admin_shows_staff_only_their_own_in_app_notices(no_tasks):
    me = UserFactory(username="me", email="me@example.org", language="en")
    someone = UserFactory(username="someone", language="en")
    boss = UserFactory(username="boss", is_superuser=True)
    mine = queue(me, key="mine", context={"reference": "MINE", "name": "me"})
    theirs = by_channel(queue(someone, key="theirs", context={"reference": "THEIRS", "name": "x"}))["in_app"]

    client = Client()
    client.force_login(me)
    assert "/admin/civic/notice/" in client.get("/admin/").content.decode()
    page = client.get("/admin/civic/notice/", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1  # the in-app one; e-mail copies are for the audit
    assert "Test notice MINE" in page.content.decode() and "THEIRS" not in page.content.decode()
    assert client.get(f"/admin/civic/notice/{theirs.pk}/change/").status_code == 302  # "does not exist"
    assert client.get("/admin/civic/notice/add/").status_code == 403

    response = client.post(
        "/admin/civic/notice/", {"action": "mark_as_read", "_selected_action": [n.pk for n in mine]}, follow=True
    )
    assert response.status_code == 200
    assert Notice.objects.get(recipient=me, channel="in_app").read_at is not None
    assert Notice.objects.get(recipient=me, channel="email").read_at is None

    client.force_login(boss)
    assert client.get("/admin/civic/notice/").context["cl"].result_count == 3

    citizen = UserFactory(username="plain", is_staff=False)
    client.force_login(citizen)
    assert client.get("/admin/civic/notice/").status_code == 302


#
# Concurrency (PostgreSQL: SQLite has no row locks)
#


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_each_notice_once(postgres, no_tasks):
    from django.core.mail import send_mail as real_send_mail

    user = UserFactory(username="racer", email="racer@example.org")
    ids = [queue(user, key=f"race-{i}", channels=["email"])[0].pk for i in range(5)]

    def slow_send_mail(*args, **kwargs):
        time.sleep(0.05)  # keep the first sender busy while the second one tries its claim
        return real_send_mail(*args, **kwargs)

    with mock.patch("civic.notices.send_mail", side_effect=slow_send_mail):
        outcomes = [race(lambda _index, pk=pk: notice_deliver(notice_id=pk), 2) for pk in ids]

    assert [outcome.errors for outcome in outcomes] == [[]] * len(ids)
    assert len(mail.outbox) == len(ids)
    assert set(Notice.objects.filter(pk__in=ids).values_list("status", "attempts")) == {(Notice.Status.SENT, 1)}
