"""Which endpoints a key may call: the view names the scope it needs.

    class BillViewSet(...):
        permission_classes = [IsAuthenticated, ApiKeyScope]
        required_scope = "billing.provider"
        # or per kind of request, each a scope or a tuple of scopes any of which will do:
        required_scope = {"read": ("cases.read", "cases.write"), "write": "cases.write"}

Requests authenticated otherwise (a session, a token) pass through: their grants decide. A view
without `required_scope` refuses every key. This only opens the door: what the key may see and
change behind it is still its grants (grid.permissions), which its scopes and subtree make.
"""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from partners.models import ApiKey

__all__ = ["ApiKeyScope", "required_scopes"]


def required_scopes(view, method: str) -> tuple[str, ...]:
    """The scopes any one of which lets a key make this request; () when keys are not accepted."""
    required = getattr(view, "required_scope", None)
    if isinstance(required, Mapping):
        required = required.get("read" if method in SAFE_METHODS else "write")
    if not required:
        return ()
    return (required,) if isinstance(required, str) else tuple(required)


class ApiKeyScope(BasePermission):
    message = _("This API key's scopes do not include this endpoint.")

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        return any(scope in key.scopes for scope in required_scopes(view, request.method))
