"""Account operations used by the views: creating a citizen, sending and checking codes."""

import re
import secrets
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from civic.models import Notice
from civic.notices import notice_queue
from portal.models import Profile, VerificationCode

__all__ = [
    "CODE_LIFETIME",
    "CODE_MAX_ATTEMPTS",
    "CodeError",
    "account_create",
    "account_verify",
    "code_check",
    "code_send",
    "normalize_phone",
    "users_with_identifier",
]

CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_TEMPLATE = "portal/verification_code"

User = get_user_model()


class CodeError(Exception):
    """A code that cannot be accepted; the message says why, for the form field."""


def normalize_phone(value: str) -> str:
    """Spaces and dashes dropped, and the +86 prefix too: phones are compared as 11 digits."""
    value = re.sub(r"[\s-]", "", value or "")
    return value[3:] if value.startswith("+86") else value


def users_with_identifier(identifier: str):
    """Users whose phone (with or without +86) or e-mail (any case) is ``identifier``."""
    identifier = (identifier or "").strip()
    if not identifier:
        return User.objects.none()
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier)
    phone = normalize_phone(identifier)
    return User.objects.filter(Q(phone=phone) | Q(phone="+86" + phone))


def _username_for(*, phone: str, email: str) -> str:
    base = f"p{phone}" if phone else "e-" + re.sub(r"[^\w.+-]", "", email.split("@")[0])[:30]
    username = base
    while User.objects.filter(username=username).exists():
        username = f"{base}-{uuid.uuid4().hex[:6]}"
    return username


@transaction.atomic
def account_create(*, phone: str, email: str, password: str, language: str) -> User:
    """An inactive citizen (active once verified) with a profile; a stale unverified account holding
    the same phone or e-mail is replaced, since its owner never proved it was theirs."""
    phone, email = normalize_phone(phone), (email or "").strip()
    for identifier in filter(None, (phone, email)):
        users_with_identifier(identifier).filter(is_active=False, portal_profile__verified_at__isnull=True).delete()
    user = User(username=_username_for(phone=phone, email=email), phone=phone or None, email=email,
                language=language, is_active=False)  # fmt: skip
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    Profile.objects.create(user=user)
    return user


def _hash(code_id: int, code: str) -> str:
    return salted_hmac("portal.accounts.verification_code", f"{code_id}:{code}", algorithm="sha256").hexdigest()


@transaction.atomic
def code_send(*, user, purpose: str = VerificationCode.Purpose.SIGNUP) -> VerificationCode:
    """A fresh 6-digit code by SMS (when the user has a phone) and/or e-mail; earlier codes for the
    same purpose stop working."""
    now = timezone.now()
    VerificationCode.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = VerificationCode.objects.create(user=user, purpose=purpose, code_hash="-", expires_at=now + CODE_LIFETIME)
    row.code_hash = _hash(row.pk, code)
    row.save(update_fields=["code_hash"])
    channels = [c for c, address in ((Notice.Channel.SMS, user.phone), (Notice.Channel.EMAIL, user.email)) if address]
    notice_queue(
        recipient=user, template=CODE_TEMPLATE, channels=channels, dedupe_key=f"{CODE_TEMPLATE}:{row.pk}",
        context={"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)},
    )  # fmt: skip
    return row


def code_check(*, user, code: str, purpose: str = VerificationCode.Purpose.SIGNUP) -> VerificationCode:
    """Accept ``code`` once, or raise CodeError. Each wrong try counts; the code dies after the last."""
    with transaction.atomic():
        row = (
            VerificationCode.objects.select_for_update()
            .filter(user=user, purpose=purpose)
            .order_by("-created_at", "-id")
            .first()
        )
        if row is None or row.used_at is not None:
            raise CodeError(_("This code has already been used or replaced. Request a new code."))
        if row.expires_at <= timezone.now():
            raise CodeError(_("This code has expired. Request a new code."))
        if row.attempts >= CODE_MAX_ATTEMPTS:
            raise CodeError(_("Too many wrong attempts. Request a new code."))
        if not constant_time_compare(row.code_hash, _hash(row.pk, (code or "").strip())):
            row.attempts += 1
            row.save(update_fields=["attempts"])
            left = CODE_MAX_ATTEMPTS - row.attempts
            if left <= 0:
                error = CodeError(_("Too many wrong attempts. Request a new code."))
            else:
                error = CodeError(_("The code is wrong. Attempts left: %(left)s.") % {"left": left})
        else:
            row.used_at = timezone.now()
            row.save(update_fields=["used_at"])
            error = None
    # Raised outside the atomic block so the counted attempt is committed.
    if error is not None:
        raise error
    return row


def account_verify(*, user, code: str) -> None:
    """Check the sign-up code and activate the account. Not one transaction: a wrong code's counted
    attempt must be committed even though CodeError propagates."""
    code_check(user=user, code=code)
    Profile.objects.update_or_create(user=user, defaults={"verified_at": timezone.now()})
    user.is_active = True
    user.save(update_fields=["is_active"])
