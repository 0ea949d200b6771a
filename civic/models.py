"""The civic app's models: the user (with a phone number and a notice language) and the notices
outbox, which every app above civic writes to through civic.notices."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["AuditEvent", "Notice", "User", "phone_validator"]

# Mainland mobile numbers: 11 digits starting with 1, optionally with the +86 country code.
phone_validator = RegexValidator(r"^(\+86)?1\d{10}$", _("Enter a mainland mobile number, e.g. 13800000000."))


#
# Users
#


class User(AbstractUser):
    phone = models.CharField(
        _("phone number"), max_length=14, blank=True, null=True, unique=True, validators=[phone_validator]
    )
    # Notices are rendered once, when queued, in this language (not the sender's).
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    # The channels the user wants notices on; civic.notices.CHANNELS is the rule that reads them.
    notify_in_app = models.BooleanField(_("notify me in the portal"), default=True)
    notify_email = models.BooleanField(_("notify me by e-mail"), default=True)
    notify_sms = models.BooleanField(_("notify me by SMS"), default=True)

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"

    def clean(self):
        super().clean()
        # Blank phones are stored as NULL so that the unique constraint ignores them.
        self.phone = self.phone or None


#
# Notices
#


class Notice(models.Model):
    """One message to one recipient on one channel. Rows are written by civic.notices.notice_queue
    and delivered (at most once) by civic.notices.notice_deliver; see there for the state machine."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("e-mail")
        SMS = "sms", _("SMS")
        IN_APP = "in_app", _("in-app")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices", verbose_name=_("recipient")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    template = models.CharField(
        _("template"), max_length=100, help_text=_('A template key, e.g. "issues/case_escalated".')
    )
    # DjangoJSONEncoder: callers may pass dates, decimals and lazy labels, stored as their text.
    context = models.JSONField(_("context"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Rendered when queued, in the recipient's language, so what was sent stays auditable.
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When the last delivery attempt began: the sweep times stale "sending" rows and lost retries from it.
    attempted_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="%(app_label)s_%(class)s_dedupe_key"),
        ]
        indexes = [
            # The in-app inbox: a user's unread notices.
            models.Index(fields=["recipient", "channel", "read_at"], name="civic_notice_inbox"),
            # The retry sweep: pending/sending rows by age.
            models.Index(fields=["status", "created_at"], name="civic_notice_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.subject}"


# The working calendar and the audit log live in their own modules; importing them here registers them.
from civic.audit_models import AuditEvent  # noqa: E402, F401
from civic.calendar_models import CalendarDay  # noqa: E402, F401
