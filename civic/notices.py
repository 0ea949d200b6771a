"""The notices outbox: queue a message to a user on their channels, deliver it at most once, and
read the in-app ones.

Other apps call ``notice_queue`` inside their own transactions (a case transition, say); it renders
the text in the recipient's language, stores one row per channel and hands e-mail and SMS rows to
the ``deliver_notice`` task only once that transaction commits. See ``notice_deliver`` for why a
notice is never sent twice.
"""

import logging
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import QuerySet
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
    "notice_deliver",
    "notice_mark_read",
    "notice_queue",
    "notice_render",
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


@transaction.atomic
def notice_queue(
    *, recipient: User, template: str, context: dict, dedupe_key: str, channels: Iterable[str] | None = None
) -> list[Notice]:
    """Store the notice for each channel (once per ``dedupe_key``) and deliver it after commit. The
    channels are those the recipient wants and can be reached on (``default_channels``), unless the
    caller names them for a message that must arrive whatever the preferences (a verification code).

    Idempotent: each row's key is ``f"{dedupe_key}:{channel}"``, unique in the database, and rows
    that already exist are left alone, so a retried caller (a task run twice, a double-clicked
    transition) queues nothing new. Existing keys are skipped with ``INSERT ... ON CONFLICT DO
    NOTHING`` rather than by catching an IntegrityError, so a duplicate never poisons the caller's
    transaction, and a concurrent duplicate waits for the other transaction instead of failing.

    In-app rows are stored as sent: being stored is their delivery. A channel the recipient has no
    address for is stored as skipped, so the record shows who could not be reached. E-mail and SMS
    rows go to the ``deliver_notice`` task on commit of the outermost transaction: if the caller
    rolls back, neither the rows nor the sending survive.
    """
    channels = list(dict.fromkeys(channels if channels is not None else default_channels(recipient)))
    unknown = set(channels) - set(Notice.Channel.values)
    if unknown:
        raise ValueError(f"Unknown notice channels: {sorted(unknown)}")
    keys = {channel: f"{dedupe_key}:{channel}" for channel in channels}

    existing = set(Notice.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True))
    missing = [channel for channel in channels if keys[channel] not in existing]
    if missing:
        subject, body = notice_render(template=template, context=context, language=recipient.language)
        now = timezone.now()
        rows = []
        for channel in missing:
            notice = Notice(
                recipient=recipient, channel=channel, template=template, context=context,
                subject=subject, body=body, dedupe_key=keys[channel],
            )  # fmt: skip
            if channel == Notice.Channel.IN_APP:
                notice.status, notice.sent_at = Notice.Status.SENT, now
            elif _address(recipient, channel) is None:
                notice.status = Notice.Status.SKIPPED
                notice.last_error = _("The recipient has no address for this channel.")
            rows.append(notice)
        # ignore_conflicts: another transaction may have stored the same key since the check above.
        # Saved in the recipient's language too: lazy labels in the context are stored as text.
        with translation.override(recipient.language):
            Notice.objects.bulk_create(rows, ignore_conflicts=True)

    by_key = {n.dedupe_key: n for n in Notice.objects.filter(dedupe_key__in=keys.values())}
    notices = [by_key[keys[channel]] for channel in channels if keys[channel] in by_key]
    for notice in notices:
        # Only rows created by this call: an older pending row has its own task (or the sweep).
        if notice.dedupe_key not in existing and notice.status == Notice.Status.PENDING:
            _deliver_on_commit(notice.pk)
    return notices


def _deliver_on_commit(notice_id: int) -> None:
    # Imported here: civic.tasks imports this module for notice_deliver and NoticeDeliveryError.
    from civic.tasks import deliver_notice

    # robust: the caller's transaction has committed by then; a broker that is down must not turn
    # their request into an error. The row stays pending and retry_pending_notices enqueues it.
    transaction.on_commit(lambda: deliver_notice.delay(notice_id), robust=True)


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


def notice_deliver(*, notice_id: int) -> None:
    """Send one pending e-mail or SMS notice, at most once.

    The states: ``pending`` → ``sending`` → ``sent``, or back to ``pending`` after a failed send
    (until ``NOTICE_MAX_ATTEMPTS`` attempts, then ``failed``).

    1. Claim: in a transaction of its own, lock the row (``SELECT ... FOR UPDATE SKIP LOCKED``),
       return unless it is pending, mark it ``sending`` (attempts + 1) and commit. A concurrent
       call for the same notice either skips the locked row or finds it no longer pending, so of
       two workers (a duplicate task, a redelivered message, the sweep) only one sends.
    2. Send, outside any transaction: a slow gateway holds no lock and no connection state.
    3. Settle: ``sent``; or, when the backend raised, ``pending`` with ``last_error`` and a
       ``NoticeDeliveryError`` for the task to retry with backoff (``failed`` after the last attempt).

    A crash between 1 and 3 (worker killed, machine lost, a hard time limit) leaves the row in
    ``sending``. Nothing re-sends such a row: we cannot know whether the message went out, and a
    duplicate SMS about a case is worse than a missing one that a person follows up. The
    ``retry_pending_notices`` sweep marks rows ``sending`` for longer than ``NOTICE_SENDING_TIMEOUT``
    as ``failed`` and logs them for a human to look at. A soft time limit during the send is the
    same uncertainty, so it fails the notice at once rather than retrying it.

    Must run outside a transaction: the claim has to be committed before anything is sent.
    """
    with transaction.atomic(durable=True):
        notice = (
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk=notice_id)
            .first()
        )
        if notice is None or notice.status != Notice.Status.PENDING:
            return
        notice.status = Notice.Status.SENDING
        notice.attempts += 1
        notice.attempted_at = timezone.now()
        notice.save(update_fields=["status", "attempts", "attempted_at"])

    address = _address(notice.recipient, notice.channel)
    if address is None:
        # The address was removed after the notice was queued.
        _finish(notice.pk, Notice.Status.SKIPPED, last_error=_("The recipient has no address for this channel."))
        return
    try:
        _send(notice, address)
    except SoftTimeLimitExceeded:
        _finish(notice.pk, Notice.Status.FAILED, last_error="Timed out while sending; delivery unknown.")
        logger.error("Notice %s timed out while sending; not retried (delivery unknown)", notice.pk)
        return
    except Exception as exc:  # noqa: BLE001 - any backend error is a failed attempt; the row records it
        error = f"{type(exc).__name__}: {exc}"
        if notice.attempts < settings.NOTICE_MAX_ATTEMPTS:
            _finish(notice.pk, Notice.Status.PENDING, last_error=error)
            raise NoticeDeliveryError(f"notice {notice.pk}, attempt {notice.attempts}: {error}") from exc
        _finish(notice.pk, Notice.Status.FAILED, last_error=error)
        logger.error("Notice %s failed after %s attempts: %s", notice.pk, notice.attempts, error)
        return
    _finish(notice.pk, Notice.Status.SENT, sent_at=timezone.now(), last_error="")


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
