"""Partner organisations (the 12345 hotline, a utility, a contractor, another city's app), their API
keys, and the log of every request a key made.

A partner acts in Civic as its own service user (`Partner.user`), so every service that needs an
actor gets one; what that user may do through a key is the key's scopes and subtree (see
partners.selectors.key_grants), never more.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.models import GridNode
from partners.keys import validate_rate, validate_scopes

__all__ = ["ApiKey", "ApiRequest", "Partner", "Scope", "Webhook", "WebhookAttempt", "WebhookDelivery"]


class Scope(models.TextChoices):
    """What a key may be used for. The node permissions each scope carries are registered by the app
    that owns them (partners.scopes.register_scope); views name the scope they need (required_scope)."""

    CASES_READ = "cases.read", _("read cases")
    CASES_WRITE = "cases.write", _("read, report and handle cases")
    BILLING_PROVIDER = "billing.provider", _("billing provider")
    BOOKING_READ = "booking.read", _("read bookings")
    OPEN311 = "open311", _("Open311 service requests")


class Partner(models.Model):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    contact = models.TextField(_("contact"), blank=True, help_text=_("Who to call about this partner's systems."))
    active = models.BooleanField(_("active"), default=True, help_text=_("An inactive partner's keys are refused."))
    # The service user the partner acts as: reporter of what it reports, actor on the timeline.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("service user"), on_delete=models.PROTECT, related_name="partner",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["code"]

    def __str__(self):
        return self.name


class ApiKey(models.Model):
    """A partner's key: shown once at creation, stored as an HMAC-SHA256 of its whole text."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("What the key is for."))
    prefix = models.CharField(_("prefix"), max_length=12, editable=False,
                              help_text=_("The key's first characters, to recognise it."))
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, validators=[validate_scopes])
    node = models.ForeignKey(
        GridNode, verbose_name=_("limited to"), on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text=_("The subtree the key may act in; empty: the whole city."),
    )
    rate = models.CharField(
        _("rate limit"), max_length=20, blank=True, validators=[validate_rate],
        help_text=_("Requests per period, e.g. 600/min or 10/s; empty: the default (API_KEY_DEFAULT_RATE)."),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", editable=False,
    )

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.prefix}… ({self.partner_id and self.partner.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class ApiRequest(models.Model):
    """One request made with a key, written by partners.middleware after the response (one INSERT)."""

    key = models.ForeignKey(ApiKey, verbose_name=_("API key"), on_delete=models.PROTECT, related_name="requests",
                            db_index=False)
    at = models.DateTimeField(_("at"), default=timezone.now)
    method = models.CharField(_("method"), max_length=8)
    endpoint = models.CharField(_("endpoint"), max_length=255)
    status = models.PositiveSmallIntegerField(_("HTTP status"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))

    class Meta:
        verbose_name = _("partner request")
        verbose_name_plural = _("partner requests")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["key", "at"], name="partners_request_key_at"),
            # The admin's newest-first list and the retention sweep.
            models.Index(fields=["at"], name="partners_request_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.endpoint} {self.status}"


#
# Webhooks
#


class Webhook(models.Model):
    """A partner's subscription: the events it names, as far as its key's scopes and subtree reach, are
    POSTed to `url`, signed with `secret`. A revoked or expired key's webhooks receive nothing more."""

    key = models.ForeignKey(ApiKey, verbose_name=_("API key"), on_delete=models.PROTECT, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("events"), default=list)
    # Kept in clear: every delivery is signed with it. Shown to the partner when the webhook is made.
    secret = models.CharField(_("signing secret"), max_length=64, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-id"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook: written in the transaction of the change it tells of, sent after
    commit, retried with backoff until the receiver answers 2xx or the attempts run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    webhook = models.ForeignKey(Webhook, verbose_name=_("webhook"), on_delete=models.PROTECT,
                                related_name="deliveries")
    event_id = models.UUIDField(_("event id"))
    event_type = models.CharField(_("event"), max_length=64)
    # The exact bytes sent (as UTF-8) and signed: a retry or a replay sends the same body.
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(_("last latency (ms)"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    replay_of = models.ForeignKey("self", verbose_name=_("replay of"), on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="replays")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["webhook", "id"], name="partners_delivery_webhook"),
            # The dispatch sweep: pending deliveries by due time, and sends that never finished.
            models.Index(fields=["next_attempt_at"], name="partners_delivery_due",
                         condition=models.Q(status="pending")),
            models.Index(fields=["claimed_at"], name="partners_delivery_sending",
                         condition=models.Q(status="sending")),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.webhook_id} ({self.get_status_display()})"


class WebhookAttempt(models.Model):
    """One try at a delivery: what the receiver answered (or why it could not) and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE,
                                 related_name="tries")
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"))
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"
