"""Keeps the staff areas (STAFF_2FA_AREAS) closed to a session that has not given its second factor.

A password alone signs a user in, but in the admin and the field app every page then leads to the
area's code page (or set-up page, for one who must and has none yet), and the API treats such a
session as not signed in. Login, logout and the pages marked ``second_factor_exempt`` stay open.
Must come after django_otp's OTPMiddleware, which tells whether the session gave its code.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse

from civic.twofactor import session_needs_second_factor

__all__ = ["SecondFactorMiddleware", "second_factor_exempt"]

_OPEN_URL_NAMES = {"login", "logout", "jsi18n"}


def second_factor_exempt(view):
    """Mark a view of a staff area as reachable before the second factor (the code page itself)."""
    view.second_factor_exempt = True
    return view


def _area(path: str) -> str | None:
    return next((prefix for prefix in settings.STAFF_2FA_AREAS if path.startswith(prefix)), None)


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        area = _area(request.path_info)
        view_class = getattr(view_func, "view_class", None)
        if area is None or getattr(view_func, "second_factor_exempt", False) or getattr(
                view_class, "second_factor_exempt", False):
            return None
        if request.resolver_match.url_name in _OPEN_URL_NAMES:
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified() or not session_needs_second_factor(request):
            return None
        page = settings.STAFF_2FA_AREAS[area]
        if page is None:  # the API: a session without its second factor signs nobody in
            request.user = AnonymousUser()
            return None
        return redirect_to_login(request.get_full_path(), reverse(page))
