from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authtoken.views import ObtainAuthToken

__all__ = ["ObtainTokenView"]


class ObtainTokenView(ObtainAuthToken):
    """POST username and password, get {"token": "..."} for the Authorization: Token header.

    An account locked out by django-axes (too many failed logins, on any login page) answers 429 with
    Retry-After, before its password is even looked at: a right password tells nothing while locked.
    """

    def post(self, request, *args, **kwargs):
        credentials = {"username": request.data.get("username")}
        if AxesProxyHandler.is_locked(request._request, credentials):
            wait = int(get_cool_off(request._request).total_seconds())
            raise exceptions.Throttled(wait=wait, detail=_("Too many failed logins: this account is locked for a "
                                                           "while."), code="locked_out")
        return super().post(request, *args, **kwargs)
