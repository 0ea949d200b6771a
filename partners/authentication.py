"""`Authorization: Api-Key <key>` on the REST API.

A key authenticates as its partner's service user, with `request.auth` the ApiKey; the user then acts
with exactly the key's grants (partners.selectors.key_grants) through grid.permissions, whatever
posts the service user might hold. An unknown, revoked or expired key is a 401 in the API's error
shape, like a bad token (DRF answers a failed authentication so when the first authentication class
sends a WWW-Authenticate header, as TokenAuthentication does).
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from grid.permissions import use_grants
from partners.models import ApiKey
from partners.permissions import ApiKeyScope
from partners.selectors import KeyRefused, api_key_check, key_grants

__all__ = ["KEYWORD", "ApiKeyAuthentication", "attach_key", "attached_key", "authenticate_key"]

KEYWORD = "Api-Key"
_REQUEST_ATTR = "partner_api_key"


def attach_key(request, key: ApiKey) -> None:
    """Remember the key on the Django request, for the request log (partners.middleware)."""
    setattr(getattr(request, "_request", request), _REQUEST_ATTR, key)


def attached_key(http_request) -> ApiKey | None:
    return getattr(http_request, _REQUEST_ATTR, None)


def authenticate_key(request, text: str) -> tuple:
    """(user, key) for a key text, the user acting with the key's grants; KeyRefused otherwise.

    Open311's `api_key` parameter comes through here too."""
    try:
        key = api_key_check(text)
    except KeyRefused as refused:
        if refused.key is not None:
            attach_key(request, refused.key)
        raise
    attach_key(request, key)
    user = key.partner.user
    use_grants(user, key_grants(key))
    return user, key


class ApiKeyAuthentication(BaseAuthentication):
    """Also the guard that makes keys opt-in per endpoint: a view whose permissions do not include
    ApiKeyScope (which checks the view's required_scope) refuses every key with a 403, so an endpoint
    written without partners in mind is never opened to them by accident."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the key as: Authorization: Api-Key <key>."))
        try:
            user, key = authenticate_key(request, parts[1].decode("latin-1"))
        except KeyRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None and ApiKeyScope not in getattr(view, "permission_classes", ()):
            raise exceptions.PermissionDenied(_("This endpoint does not accept API keys."))
        return user, key

    def authenticate_header(self, request):
        return KEYWORD
