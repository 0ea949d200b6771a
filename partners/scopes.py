"""What a key's scopes mean as node permissions.

partners knows nothing of cases, bills or bookings: the app that owns a scope's permissions
registers them from its AppConfig.ready(), e.g. issues:

    register_scope("cases.read", {"view_case", "view_gridnode"})

A key then acts with exactly those permissions, on its subtree (partners.selectors.key_grants),
through the one permission mechanism (grid.permissions). A scope nobody registered carries no node
permission: it only opens the endpoints that name it as their required_scope.
"""

from collections.abc import Iterable

__all__ = ["register_scope", "scope_codenames"]

_CODENAMES: dict[str, frozenset[str]] = {}


def register_scope(scope: str, codenames: Iterable[str]) -> None:
    from partners.models import Scope

    if scope not in Scope.values:
        raise ValueError(f"Unknown scope {scope!r}; the scopes are {', '.join(Scope.values)}.")
    _CODENAMES[scope] = _CODENAMES.get(scope, frozenset()) | frozenset(codenames)


def scope_codenames(scopes: Iterable[str]) -> frozenset[str]:
    """The node permissions a key with these scopes holds."""
    return frozenset().union(*(_CODENAMES.get(scope, frozenset()) for scope in scopes))
