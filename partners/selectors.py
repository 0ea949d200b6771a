"""Reads of partners and keys: the key behind a key text (checked), and what a key may do."""

from django.utils.translation import gettext as _

from grid.permissions import EVERYWHERE
from partners.keys import key_hash
from partners.models import ApiKey
from partners.scopes import scope_codenames

__all__ = ["KeyRefused", "api_key_check", "key_grants"]


class KeyRefused(Exception):
    """The key text is unknown, or its key revoked, expired or its partner inactive. `key` is the key
    when there is one (its refused requests are logged too)."""

    def __init__(self, message: str, key: ApiKey | None = None):
        super().__init__(message)
        self.key = key


def api_key_check(text: str) -> ApiKey:
    """The usable key whose text this is, with its partner, service user and node (one query)."""
    key = (
        ApiKey.objects.select_related("partner__user", "node").filter(key_hash=key_hash(text)).first()
        if text else None
    )
    if key is None:
        raise KeyRefused(_("Invalid API key."))
    if key.is_revoked:
        raise KeyRefused(_("This API key has been revoked."), key)
    if key.is_expired:
        raise KeyRefused(_("This API key has expired."), key)
    user = key.partner.user
    # A superuser's checks never read grants: such a user could not be limited to a key's scopes.
    if not key.partner.active or not user.is_active or user.is_superuser:
        raise KeyRefused(_("This partner's access is suspended."), key)
    return key


def key_grants(key: ApiKey) -> dict[str, list[str]]:
    """The node permissions the key's scopes carry, each on the key's subtree (or the whole tree)."""
    path = key.node.path if key.node is not None else EVERYWHERE
    return {codename: [path] for codename in scope_codenames(key.scopes)}
