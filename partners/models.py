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

__all__ = ["ApiKey", "ApiRequest", "Partner", "Scope"]


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
