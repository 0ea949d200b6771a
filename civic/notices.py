"""The notices outbox: queue a message to a user on their channels, deliver it at most once, and
read the in-app ones.

Other apps call ``notice_queue`` (or ``notices_queue`` for many recipients at once) inside their own
transactions (a case transition, say); it renders the text in the recipient's language, stores one
row per channel and hands the e-mail and SMS rows to the workers in batches only once that
transaction commits. See ``notices_deliver`` for why a notice is never sent twice.
"""

import json
import logging
from collections.abc import Callable, Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.template import Context
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civic.models import Notice, User
from civic.sms import send_sms

__all__ = [
    "CHANNELS",
    "NoticeDeliveryError",
    "channels_sql",
    "default_channels",
    "deliver_after_commit",
    "notice_deliver",
    "notice_mark_read",
    "notice_queue",
    "notice_render",
    "notices_deliver",
    "notices_queue",
    "notices_for",
]

logger = logging.getLogger("civic.notices")


class NoticeDeliveryError(Exception):
    """A send failed and the notice went back to pending: the task retries on this error only."""


#
# Queueing
#


# Who hears from us where: per channel, the User field that says the user wants it (their preference,
# set on the portal's profile page) and the field holding their address for it (None: in-app needs
# none). default_channels reads it for one recipient and channels_sql for a set of them (issues.sweep).
CHANNELS = {
    Notice.Channel.IN_APP: ("notify_in_app", None),
    Notice.Channel.EMAIL: ("notify_email", "email"),
    Notice.Channel.SMS: ("notify_sms", "phone"),
}


def _address(recipient: User, channel: str) -> str | None:
    """Where a channel reaches the recipient; None when they have no address for it."""
    field = CHANNELS[channel][1]
    return (getattr(recipient, field) or None) if field else None


def default_channels(recipient: User) -> list[str]:
    """The channels the recipient wants and has an address for: where a notice goes unless its caller
    names the channels itself (a verification code goes where it must, whatever the preferences)."""
    return [
        channel for channel, (wanted, address) in CHANNELS.items()
        if getattr(recipient, wanted) and (address is None or getattr(recipient, address))
    ]


def channels_sql(user: str, channel: str) -> str:
    """default_channels as a SQL condition, for INSERT ... SELECT over many recipients at once: true
    where the user row aliased `user` wants the channel named by the expression `channel` and has an
    address for it."""
    quote = connection.ops.quote_name
    cases = []
    for name, (wanted, address) in CHANNELS.items():
        condition = f"{channel} = '{name}' AND {user}.{quote(User._meta.get_field(wanted).column)}"
        if address is not None:
            column = f"{user}.{quote(User._meta.get_field(address).column)}"
            condition += f" AND {column} IS NOT NULL AND {column} <> ''"
        cases.append(f"({condition})")
    return f"({' OR '.join(cases)})"


def notice_render(*, template: str, context: dict, language: str) -> tuple[str, str]:
    """Subject and body of ``notices/<template>.subject.txt`` and ``.body.txt`` in ``language``.

    The text is plain (e-mail bodies, SMS), so it is rendered without HTML autoescaping: a reason
    reading "A & B" must not arrive as "A &amp; B". The subject is folded onto one line because
    e-mail headers refuse newlines.
    """
    with translation.override(language):
        rendered = [
            get_template(f"notices/{template}.{part}.txt").template.render(Context(context, autoescape=False))
            for part in ("subject", "body")
        ]
    subject, body = rendered
    return " ".join(subject.split())[:255], body.strip()


def notice_queue(
    *, recipient: User, template: str, context: dict, dedupe_key: str, channels: Iterable[str] | None = None
) -> list[Notice]:
    """Store the notice for each channel (once per ``dedupe_key``) and deliver it after commit; returns
    the recipient's rows for that key (new or stored before), in channel order. ``notices_queue`` for
    many recipients at once."""
    keys = notices_queue(recipients=[recipient], template=template, context=context,
                         dedupe_key=lambda _user: dedupe_key, channels=channels)
    by_key = {notice.dedupe_key: notice for notice in Notice.objects.filter(dedupe_key__in=keys)}
    return [by_key[key] for key in keys if key in by_key]


def notices_queue(
    *, recipients: Iterable[User], template: str, context: dict, dedupe_key: Callable[[User], str],
    channels: Iterable[str] | None = None,
) -> list[str]:
    """Store one notice per recipient and channel in a single statement and deliver the new e-mail and
    SMS rows after commit; returns every row's key. The channels are those each recipient wants and
    can be reached on (``default_channels``), unless the caller names them for a message that must
    arrive whatever the preferences (a verification code).

    One statement, so it needs no transaction of its own: called inside the caller's, its rows commit
    or roll back with the caller's work.

    Idempotent: each row's key is ``f"{dedupe_key(recipient)}:{channel}"``, unique in the database,
    and rows that already exist are left alone (``INSERT ... ON CONFLICT DO NOTHING``), so a retried
    caller (a task run twice, a double-clicked transition) queues nothing new, a duplicate never
    poisons the caller's transaction, and a concurrent duplicate waits for the other transaction
    instead of failing.

    In-app rows are stored as sent: being stored is their delivery. A channel the recipient has no
    address for is stored as skipped, so the record shows who could not be reached. E-mail and SMS
    rows are handed to the workers in batches once the outermost transaction commits
    (``deliver_after_commit``): if the caller rolls back, neither the rows nor the sending survive.
    """
    named = list(dict.fromkeys(channels)) if channels is not None else None
    unknown = set(named or ()) - set(Notice.Channel.values)
    if unknown:
        raise ValueError(f"Unknown notice channels: {sorted(unknown)}")
    now = timezone.now()
    rendered: dict[str, tuple[str, str, dict]] = {}
    rows = []
    for recipient in recipients:
        if recipient.language not in rendered:
            rendered[recipient.language] = _rendered(template, context, recipient.language)
        subject, body, stored_context = rendered[recipient.language]
        for channel in named if named is not None else default_channels(recipient):
            notice = Notice(recipient=recipient, channel=channel, template=template, context=stored_context,
                            subject=subject, body=body, dedupe_key=f"{dedupe_key(recipient)}:{channel}",
                            created_at=now)
            if channel == Notice.Channel.IN_APP:
                notice.status, notice.sent_at = Notice.Status.SENT, now
            elif _address(recipient, channel) is None:
                notice.status = Notice.Status.SKIPPED
                notice.last_error = _("The recipient has no address for this channel.")
            rows.append(notice)
    if rows:
        deliver_after_commit(_insert_new(rows))
    return [row.dedupe_key for row in rows]


def _rendered(template: str, context: dict, language: str) -> tuple[str, str, dict]:
    """Subject, body and the context as stored (lazy labels become text), in the recipient's language."""
    subject, body = notice_render(template=template, context=context, language=language)
    with translation.override(language):
        stored = json.loads(json.dumps(context, cls=DjangoJSONEncoder))
    return subject, body, stored


def _insert_new(rows: list[Notice]) -> list[int]:
    """INSERT the rows, skipping keys that exist; the ids of the new pending ones (one statement)."""
    fields = [field for field in Notice._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows for field in fields]
    table = quote(Notice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({quote('dedupe_key')}) DO NOTHING"
            f" RETURNING {quote('id')}, {quote('status')}", params,
        )
        return [pk for pk, status in cursor.fetchall() if status == Notice.Status.PENDING]


def deliver_after_commit(notice_ids: Iterable[int]) -> None:
    """Hand pending e-mail/SMS notices to the workers once the outermost transaction commits: one
    message per NOTICE_BATCH notices, however many calls of one transaction queued them (a broker
    round trip per notice cost the overdue sweep three quarters of its time)."""
    notice_ids = list(notice_ids)
    if not notice_ids:
        return
    batch = getattr(connection, "civic_notice_batch", None)
    # A transaction that rolled back took the batch's callback with it: this transaction starts a new one.
    if batch is None or not any(func == batch.send for _ids, func, _robust in connection.run_on_commit):
        batch = _Batch()
        connection.civic_notice_batch = batch
        # robust: the caller's transaction has committed by then; a broker that is down must not turn
        # their request into an error. The rows stay pending and retry_pending_notices enqueues them.
        transaction.on_commit(batch.send, robust=True)
    batch.ids.extend(notice_ids)


class _Batch:
    def __init__(self):
        self.ids: list[int] = []

    def send(self) -> None:
        # Imported here: civic.tasks imports this module.
        from civic.tasks import deliver_notices

        size = settings.NOTICE_BATCH
        for start in range(0, len(self.ids), size):
            deliver_notices.delay(self.ids[start:start + size])


#
# Delivery
#


def _send(notice: Notice, address: str) -> None:
    if notice.channel == Notice.Channel.EMAIL:
        send_mail(notice.subject, notice.body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)
    elif notice.channel == Notice.Channel.SMS:
        send_sms(address, notice.body)
    else:
        raise ValueError(f"{notice.channel} notices are not sent")


def _finish(notice_id: int, status: str, **fields) -> None:
    # Conditional on "sending": only the attempt that claimed the row may settle it.
    Notice.objects.filter(pk=notice_id, status=Notice.Status.SENDING).update(status=status, **fields)


def notices_deliver(*, notice_ids: Iterable[int]) -> list[Notice]:
    """Send the pending e-mail and SMS notices among ``notice_ids``, each at most once; returns those
    whose send failed and that may be tried again (``pending`` again, for a retry with backoff).

    The states: ``pending`` → ``sending`` → ``sent``, or back to ``pending`` after a failed send
    (until ``NOTICE_MAX_ATTEMPTS`` attempts, then ``failed``).

    1. Claim: in a transaction of its own, lock the rows (``SELECT ... FOR UPDATE SKIP LOCKED``),
       keep the pending ones, mark them ``sending`` (attempts + 1) and commit. A concurrent call for
       the same notices either skips the locked rows or finds them no longer pending, so of two
       workers (a duplicate task, a redelivered message, the sweep) only one sends each.
    2. Send each, outside any transaction: a slow gateway holds no lock and no connection state.
    3. Settle each: ``sent``; or, when the backend raised, ``pending`` with ``last_error``
       (``failed`` after the last attempt).

    A crash between 1 and 3 (worker killed, machine lost, a hard time limit) leaves rows in
    ``sending``. Nothing re-sends such a row: we cannot know whether the message went out, and a
    duplicate SMS about a case is worse than a missing one that a person follows up. The
    ``retry_pending_notices`` sweep marks rows ``sending`` for longer than ``NOTICE_SENDING_TIMEOUT``
    as ``failed`` and logs them for a human to look at. A soft time limit during a send is the
    same uncertainty, so it fails that notice at once rather than retrying it; the rest of the batch,
    never tried, goes back to ``pending``.

    Must run outside a transaction: the claim has to be committed before anything is sent.
    """
    claimed = _claim(list(notice_ids))
    retry = []
    for index, notice in enumerate(claimed):
        try:
            if not _send_claimed(notice):
                retry.append(notice)
        except SoftTimeLimitExceeded:
            # Out of time: the notices not yet tried were never sent, so they go back to pending.
            untried = [n.pk for n in claimed[index + 1:]]
            Notice.objects.filter(pk__in=untried, status=Notice.Status.SENDING).update(status=Notice.Status.PENDING)
            break
    return retry


def notice_deliver(*, notice_id: int) -> None:
    """notices_deliver for one notice, raising NoticeDeliveryError when it may be tried again."""
    for notice in notices_deliver(notice_ids=[notice_id]):
        raise NoticeDeliveryError(f"notice {notice.pk}, attempt {notice.attempts}: {notice.last_error}")


def _claim(notice_ids: list[int]) -> list[Notice]:
    now = timezone.now()
    with transaction.atomic(durable=True):
        notices = list(
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk__in=notice_ids, status=Notice.Status.PENDING)
            .order_by("pk")
        )
        Notice.objects.filter(pk__in=[n.pk for n in notices]).update(
            status=Notice.Status.SENDING, attempts=F("attempts") + 1, attempted_at=now
        )
    for notice in notices:
        notice.status, notice.attempts, notice.attempted_at = Notice.Status.SENDING, notice.attempts + 1, now
    return notices


def _send_claimed(notice: Notice) -> bool:
    """Send a claimed notice and settle it; False when it failed and may be tried again."""
    address = _address(notice.recipient, notice.channel)
    if address is None:
        # The address was removed after the notice was queued.
        _finish(notice.pk, Notice.Status.SKIPPED, last_error=_("The recipient has no address for this channel."))
        return True
    try:
        _send(notice, address)
    except SoftTimeLimitExceeded:
        _finish(notice.pk, Notice.Status.FAILED, last_error="Timed out while sending; delivery unknown.")
        logger.error("Notice %s timed out while sending; not retried (delivery unknown)", notice.pk)
        raise
    except Exception as exc:  # noqa: BLE001 - any backend error is a failed attempt; the row records it
        notice.last_error = f"{type(exc).__name__}: {exc}"
        if notice.attempts < settings.NOTICE_MAX_ATTEMPTS:
            _finish(notice.pk, Notice.Status.PENDING, last_error=notice.last_error)
            return False
        _finish(notice.pk, Notice.Status.FAILED, last_error=notice.last_error)
        logger.error("Notice %s failed after %s attempts: %s", notice.pk, notice.attempts, notice.last_error)
        return True
    _finish(notice.pk, Notice.Status.SENT, sent_at=timezone.now(), last_error="")
    return True


#
# The in-app inbox
#


def notices_for(*, user: User, unread_only: bool = False) -> QuerySet[Notice]:
    """The user's in-app notices, newest first."""
    qs = Notice.objects.filter(recipient=user, channel=Notice.Channel.IN_APP)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notice_mark_read(*, notice: Notice, user: User) -> Notice:
    """Mark an in-app notice read; only its recipient may. Marking it again changes nothing."""
    if notice.recipient_id != user.pk:
        raise PermissionDenied(_("Only the recipient may mark a notice read."))
    if notice.channel != Notice.Channel.IN_APP:
        raise ValidationError(_("Only in-app notices can be marked read."))
    if notice.read_at is None:
        notice.read_at = timezone.now()
        notice.save(update_fields=["read_at"])
    return notice
