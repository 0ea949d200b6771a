from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["User", "phone_validator"]

# Mainland mobile numbers: 11 digits starting with 1, optionally with the +86 country code.
phone_validator = RegexValidator(r"^(\+86)?1\d{10}$", _("Enter a mainland mobile number, e.g. 13800000000."))


class User(AbstractUser):
    phone = models.CharField(
        _("phone number"), max_length=14, blank=True, null=True, unique=True, validators=[phone_validator]
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"

    def clean(self):
        super().clean()
        # Blank phones are stored as NULL so that the unique constraint ignores them.
        self.phone = self.phone or None
