from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.utils.translation import gettext as _
from django_otp import user_has_device
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.settings import api_settings

from civic.twofactor import second_factor_needed, second_factor_verify

__all__ = ["ObtainTokenView"]


class TokenRequestSerializer(AuthTokenSerializer):
    otp_token = serializers.CharField(
        required=False, write_only=True,
        help_text="For accounts with two-factor authentication: the authenticator's current code, or a "
        "recovery code.",
    )  # fmt: skip


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class ObtainTokenView(ObtainAuthToken):
    """POST username and password, get {"token": "..."} for the Authorization: Token header.

    An account locked out by django-axes (too many failed logins, on any login page) answers 429 with
    Retry-After, before its password is even looked at: a right password tells nothing while locked.
    An account with two-factor authentication (required, or set up) also sends ``otp_token``; one
    that must have it but has not set it up yet does so in the admin or the field app first.
    """

    serializer_class = TokenRequestSerializer
    # ObtainAuthToken names DRF's own parsers; the site's refuse deep JSON and NUL (civic.api.parsers).
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer)
    def post(self, request, *args, **kwargs):
        credentials = {"username": request.data.get("username")}
        if AxesProxyHandler.is_locked(request._request, credentials):
            wait = int(get_cool_off(request._request).total_seconds())
            raise exceptions.Throttled(wait=wait, detail=_("Too many failed logins: this account is locked for a "
                                                           "while."), code="locked_out")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if second_factor_needed(user):
            self._check_second_factor(user, serializer.validated_data.get("otp_token", ""))
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @staticmethod
    def _check_second_factor(user, code: str) -> None:
        if not user_has_device(user):
            message = _("This account needs two-factor authentication: set it up in the admin or the field app "
                        "first.")
        elif second_factor_verify(user=user, token=code) is None:
            message = _("Give the code your authenticator app shows now, or a recovery code.")
        else:
            return
        raise exceptions.ValidationError({"otp_token": [message]})
