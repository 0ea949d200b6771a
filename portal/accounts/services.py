"""Account operations used by the views: creating a citizen, sending and checking codes.

Nothing here tells an anonymous visitor whether a phone number or e-mail address has an account:
where there is none to send a code to (a password reset), or one already (a sign-up), a decoy code
takes the real one's place and the pages answer exactly as they would otherwise; the owner of a
taken address learns of the sign-up attempt by SMS or e-mail. Code requests are limited per address
and per client (CODE_REQUESTS_* settings), counted before anything is looked up.
"""

import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from civic.models import Notice
from civic.notices import notice_queue
from civic.ratelimit import ratelimit_hit
from portal.models import Profile, VerificationCode

__all__ = [
    "CODE_LIFETIME",
    "CODE_MAX_ATTEMPTS",
    "CodeError",
    "account_create",
    "account_verify",
    "code_check",
    "code_decoy",
    "code_requests_hit",
    "code_send",
    "normalize_phone",
    "signup_attempt_notify",
    "signup_taken",
    "users_with_identifier",
]

CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_TEMPLATE = "portal/verification_code"

if TYPE_CHECKING:
    from civic.models import User
else:
    User = get_user_model()


class CodeError(Exception):
    """A code that cannot be accepted; the message says why, for the form field."""


def normalize_phone(value: str) -> str:
    """Spaces and dashes dropped, and the +86 prefix too: phones are compared as 11 digits."""
    value = re.sub(r"[\s-]", "", value or "")
    return value[3:] if value.startswith("+86") else value


def users_with_identifier(identifier: str) -> "QuerySet[User]":
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


def code_requests_hit(*, addresses: Iterable[str], client: str | None) -> None:
    """Count one code request for each phone/e-mail given and for the client's address; raise
    civic.ratelimit.RateLimited when one of them has had its share (before anything is looked up)."""
    window = settings.CODE_REQUESTS_WINDOW
    for address in filter(None, addresses):
        key = address.lower() if "@" in address else normalize_phone(address)
        ratelimit_hit("portal.code.address", key, limit=settings.CODE_REQUESTS_PER_ADDRESS, window=window)
    if client:
        ratelimit_hit("portal.code.client", client, limit=settings.CODE_REQUESTS_PER_CLIENT, window=window)


def _issue(*, user: "User | None", purpose: str, replaces: int | None) -> tuple[VerificationCode, str]:
    now = timezone.now()
    earlier = Q(pk=replaces) if replaces else Q(pk__in=[])
    if user is not None:
        earlier |= Q(user=user, purpose=purpose)
    VerificationCode.objects.filter(earlier, used_at__isnull=True).update(used_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = VerificationCode.objects.create(user=user, purpose=purpose, code_hash="-", expires_at=now + CODE_LIFETIME)
    row.code_hash = _hash(row.pk, code)
    row.save(update_fields=["code_hash"])
    return row, code


@transaction.atomic
def code_decoy(*, purpose: str, replaces: int | None = None) -> VerificationCode:
    """A code for nobody: it goes nowhere and accepts nothing, but answers like a real one."""
    return _issue(user=None, purpose=purpose, replaces=replaces)[0]


@transaction.atomic
def code_send(*, user: "User", purpose: str = VerificationCode.Purpose.SIGNUP, replaces: int | None = None
              ) -> VerificationCode:
    """A fresh 6-digit code by SMS (when the user has a phone) and/or e-mail; earlier codes for the
    same purpose stop working."""
    row, code = _issue(user=user, purpose=purpose, replaces=replaces)
    channels = [c for c, address in ((Notice.Channel.SMS, user.phone), (Notice.Channel.EMAIL, user.email)) if address]
    notice_queue(
        recipient=user, template=CODE_TEMPLATE, channels=channels, dedupe_key=f"{CODE_TEMPLATE}:{row.pk}",
        context={"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)},
    )  # fmt: skip
    return row


def code_check(*, code: str, user: "User | None" = None, code_id: int | None = None,
               purpose: str = VerificationCode.Purpose.SIGNUP) -> VerificationCode:
    """Accept ``code`` once, or raise CodeError. Each wrong try counts; the code dies after the last.
    The code is the user's latest, or the one ``code_id`` names (which may be a decoy: never right)."""
    with transaction.atomic():
        rows = VerificationCode.objects.select_for_update().filter(purpose=purpose)
        rows = rows.filter(pk=code_id) if code_id is not None else rows.filter(user=user)
        row = rows.order_by("-created_at", "-id").first()
        if row is None or row.used_at is not None:
            raise CodeError(_("This code has already been used or replaced. Request a new code."))
        if row.expires_at <= timezone.now():
            raise CodeError(_("This code has expired. Request a new code."))
        if row.attempts >= CODE_MAX_ATTEMPTS:
            raise CodeError(_("Too many wrong attempts. Request a new code."))
        matches = constant_time_compare(row.code_hash, _hash(row.pk, (code or "").strip()))
        if not matches or row.user_id is None:
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


def account_verify(*, code_id: int, code: str) -> "User":
    """Check the sign-up code and activate its account; returns the user. Not one transaction: a wrong
    code's counted attempt must be committed even though CodeError propagates."""
    user = code_check(code_id=code_id, code=code).user
    assert user is not None  # code_check accepts no code without a user (a decoy's)
    Profile.objects.update_or_create(user=user, defaults={"verified_at": timezone.now()})
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def signup_taken(*, phone: str, email: str) -> list["User"]:
    """The active accounts already holding the phone or e-mail of a sign-up."""
    found = []
    for identifier in filter(None, (normalize_phone(phone), (email or "").strip())):
        found += [user for user in users_with_identifier(identifier).filter(is_active=True) if user not in found]
    return found


SIGNUP_ATTEMPT_TEMPLATE = "portal/signup_attempt"


def signup_attempt_notify(*, owner: "User", phone: str, email: str) -> None:
    """Tell an account's owner that someone tried to sign up with their phone or e-mail, on that channel."""
    channels = [channel for channel, given, held in (
        (Notice.Channel.SMS, normalize_phone(phone), normalize_phone(owner.phone or "")),
        (Notice.Channel.EMAIL, (email or "").strip().lower(), (owner.email or "").lower()),
    ) if given and given == held]
    notice_queue(recipient=owner, template=SIGNUP_ATTEMPT_TEMPLATE, channels=channels, context={},
                 dedupe_key=f"{SIGNUP_ATTEMPT_TEMPLATE}:{owner.pk}:{uuid.uuid4().hex}")
