"""Key texts: how they are made, hashed and recognised, and the validators of a key's fields."""

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

__all__ = ["KEY_PREFIX", "display_prefix", "key_hash", "key_new", "parse_rate", "validate_rate", "validate_scopes"]

KEY_PREFIX = "civic_"
PREFIX_LENGTH = 10
_KEY_TEXT = re.compile(r"^[A-Za-z0-9_\-.~]{16,128}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def key_new() -> str:
    """A new key text: 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(text: str) -> str:
    """HMAC-SHA256 of the whole key text. The secret (API_KEY_SECRET) keeps a stolen table of hashes
    from being tested offline; changing it invalidates every key."""
    return hmac.new(settings.API_KEY_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def display_prefix(text: str) -> str:
    return text[:PREFIX_LENGTH]


def validate_key_text(text: str) -> None:
    if not _KEY_TEXT.match(text or ""):
        raise ValidationError({"key": _("A key is 16 to 128 letters, digits or - _ . ~")})


def validate_scopes(value) -> None:
    from partners.models import Scope

    if not isinstance(value, list) or not value:
        raise ValidationError(_("Choose at least one scope."))
    unknown = [scope for scope in value if scope not in Scope.values]
    if unknown:
        raise ValidationError(_("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(map(str, unknown))})


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60): requests per period in seconds."""
    match = _RATE.match(rate or "")
    if match is None:
        raise ValueError(rate)
    return int(match[1]), _PERIODS[match[2][0]]


def validate_rate(value: str) -> None:
    if not value:
        return
    try:
        count, _period = parse_rate(value)
    except ValueError:
        raise ValidationError(_("Write a rate as requests/period, e.g. 600/min, 10/s, 5000/hour.")) from None
    if count < 1:
        raise ValidationError(_("A rate allows at least one request."))
