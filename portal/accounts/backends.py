"""Authentication backends: login by phone or e-mail, and django-axes' lockout check."""

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

from portal.accounts.services import normalize_phone, users_with_identifier

__all__ = ["LockoutBackend", "PhoneOrEmailBackend", "axes_username"]


class PhoneOrEmailBackend(BaseBackend):
    """The citizen logs in with their phone number (with or without +86) or e-mail (any case), and
    their password. Only active users: a sign-up becomes active once its code is verified. An
    identifier shared by several accounts (e-mail is not unique) logs nobody in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or password is None:
            return None
        users = list(users_with_identifier(username)[:2])
        if len(users) != 1:
            # Spend the hashing time anyway, so the response time does not tell who has an account.
            get_user_model()().set_password(password)
            return None
        user = users[0]
        if user.check_password(password) and user.is_active:
            return user
        return None

    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


class LockoutBackend(AxesStandaloneBackend):
    """AxesStandaloneBackend for web logins. A call without a request (``client.login`` in tests, a
    shell, a management command) is not a login attempt from the web: it is let through unchecked
    instead of raising AxesBackendRequestParameterRequired."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def axes_username(request, credentials):
    """The account an attempt targets, so "+86138…", "138 …" and "A@B.cn"/"a@b.cn" count together."""
    value = (credentials or {}).get("username") if credentials else None
    if value is None and request is not None:
        value = request.POST.get("username") if hasattr(request, "POST") else None
    value = (value or "").strip()
    return value.lower() if "@" in value else normalize_phone(value)
