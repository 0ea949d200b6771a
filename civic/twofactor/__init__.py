"""Staff two-factor authentication (TOTP through django-otp, recovery codes as its static device).

Who must use it: with STAFF_2FA_REQUIRED on, superusers and whoever a rule registered by an app above
says (grid: a post at street-office level or above). Who else is asked for a code: anyone who has
set up a device. The staff areas (STAFF_2FA_AREAS: the admin, the field app, the API's sessions) let a
signed-in user through only once a code was given in that session: see civic.twofactor.middleware.
"""

import time
from base64 import b32encode
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from civic.audit import audit_record

__all__ = [
    "RECOVERY_CODES",
    "recovery_codes_renew",
    "register_requirement",
    "second_factor_needed",
    "second_factor_required",
    "second_factor_verify",
    "session_needs_second_factor",
    "totp_pending",
    "totp_secret",
]

RECOVERY_CODES = 10
SESSION_KEY = "civic_2fa_needed"
# How long a session trusts its answer to "does this user need a second factor?": a post given or a
# setting turned on takes effect within this time without a query on every request.
RECHECK_SECONDS = 300

_REQUIREMENTS: list[Callable] = []


def register_requirement(rule: Callable) -> None:
    """An app above civic says who must use a second factor (called from its AppConfig.ready())."""
    _REQUIREMENTS.append(rule)


def second_factor_required(user) -> bool:
    if not settings.STAFF_2FA_REQUIRED or not user.is_authenticated:
        return False
    return user.is_superuser or any(rule(user) for rule in _REQUIREMENTS)


def second_factor_needed(user) -> bool:
    """Required, or set up by choice: either way a code is asked for."""
    return second_factor_required(user) or user_has_device(user)


def session_needs_second_factor(request) -> bool:
    """second_factor_needed for the signed-in user, kept in the session for RECHECK_SECONDS."""
    now = int(time.time())
    cached = request.session.get(SESSION_KEY)
    if cached and cached[1] == request.user.pk and now - cached[2] < RECHECK_SECONDS:
        return cached[0]
    needed = second_factor_needed(request.user)
    request.session[SESSION_KEY] = [needed, request.user.pk, now]
    return needed


@receiver(user_logged_in)
def _remember_at_login(sender, request, user, **kwargs):
    # Decided once at login, so the pages that follow cost no query for it.
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = [second_factor_needed(user), user.pk, int(time.time())]


def totp_pending(user) -> TOTPDevice:
    """The authenticator being set up: unconfirmed until its first code is given."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def totp_secret(device: TOTPDevice) -> str:
    """The key as the apps let one type it: base32 in groups of four."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


@transaction.atomic
def second_factor_verify(*, user, token: str):
    """The device that accepts `token` (a TOTP code or a recovery code), or None. A user without a
    confirmed device confirms the authenticator being set up with its first code. Failures count
    towards django-otp's throttling of each device."""
    token = "".join((token or "").split()).lower()
    if not token:
        return None
    devices = list(devices_for_user(user, confirmed=True, for_verify=True))
    for device in devices:
        if device.verify_token(token):
            if isinstance(device, StaticDevice):
                audit_record(actor=user, action="twofactor.recovery_code_used", target=user,
                             detail={"left": device.token_set.count()})
            return device
    if devices:
        return None
    pending = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
    if pending is None or not pending.verify_token(token):
        return None
    pending.confirmed = True
    pending.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    audit_record(actor=user, action="twofactor.enrolled", target=user)
    return pending


@transaction.atomic
def recovery_codes_renew(*, user) -> list[str]:
    """Ten new single-use recovery codes; the old ones stop working. Shown once, stored as given
    (django-otp's static device), each deleted when used."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    audit_record(actor=user, action="twofactor.recovery_codes_renewed", target=user)
    return codes
