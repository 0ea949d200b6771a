"""Resident identity card numbers (GB 11643-1999): validation, masking and the keyed look-up hash."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

__all__ = ["check_digit", "id_number_hash", "make_id_number", "mask_id_number", "validate_id_number"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str) -> None:
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        raise ValidationError(_("An ID card number has 17 digits and a check digit (0-9 or X)."), code="invalid_id")
    if check_digit(value[:17]) != value[17]:
        raise ValidationError(_("The ID card number's check digit is wrong."), code="invalid_id")


def mask_id_number(value: str) -> str:
    """Keep the region prefix and the last four: 150102198001011234 → 1501**********1234."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def id_number_hash(value: str) -> str:
    """HMAC-SHA256 of the number under ID_NUMBER_HASH_KEY. The numbers are few enough (region, birth
    date, sequence) to hash them all in an afternoon: an unkeyed hash would be no protection at all."""
    return salted_hmac("civic.grid.id_number", (value or "").strip().upper(), secret=settings.ID_NUMBER_HASH_KEY,
                       algorithm="sha256").hexdigest()


def make_id_number(region: str, birth_date: str, sequence: int) -> str:
    """A well-formed number from a 6-digit region code, YYYYMMDD and a 3-digit sequence (demo data)."""
    first17 = f"{region}{birth_date}{sequence % 1000:03d}"
    return first17 + check_digit(first17)
