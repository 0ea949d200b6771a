"""The portal's own tables: a citizen's profile (verification) and the one-time codes that verify a
sign-up."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["Profile", "VerificationCode"]


class Profile(models.Model):
    """What the portal keeps about a citizen beyond civic.User: whether their phone or e-mail was
    verified. (The channels they want to hear from us on are civic.User's, which civic.notices reads.)"""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_profile", verbose_name=_("user")
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("citizen profile")
        verbose_name_plural = _("citizen profiles")

    def __str__(self):
        return str(self.user)


class VerificationCode(models.Model):
    """A 6-digit code sent to a citizen: stored only as a keyed hash, valid for a few minutes,
    a few attempts, and once.

    A code without a user is a decoy: issued when the phone or e-mail has no account to reset (or
    already has one at sign-up), sent to nobody, accepting no code. It behaves like a real one in every
    other way (attempts left, expiry, replacement), so the pages cannot tell who has an account.
    """

    class Purpose(models.TextChoices):
        SIGNUP = "signup", _("sign-up")
        PASSWORD_RESET = "reset", _("password reset")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verification_codes", verbose_name=_("user"),
        null=True, blank=True,
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    code_hash = models.CharField(_("code hash"), max_length=128)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("verification code")
        verbose_name_plural = _("verification codes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "purpose", "created_at"], name="portal_vcode_user_purpose")]

    def __str__(self):
        return f"{self.user or '-'} {self.purpose} {self.created_at:%Y-%m-%d %H:%M}"
