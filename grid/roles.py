"""What each role may do at the node it is posted to (and so in that node's subtree)."""

from grid.models import Role

__all__ = ["NODE_PERMISSIONS", "ROLE_PERMISSIONS", "extend_roles"]

# Every node permission a grant can carry; view_personal_id is never implied by a role: it is
# granted explicitly to the few who must see unmasked ID numbers.
NODE_PERMISSIONS = (
    "view_gridnode",
    "add_gridnode",
    "change_gridnode",
    "delete_gridnode",
    "view_registry",
    "change_registry",
    "view_personal_id",
    "manage_posts",
    "record_visit",
)

_FIELD = {"view_gridnode", "view_registry", "change_registry"}
_COMMUNITY = _FIELD | {"change_gridnode", "manage_posts"}
_STREET = _COMMUNITY | {"add_gridnode"}
_DISTRICT = _STREET | {"delete_gridnode"}
# Those who walk the grid visit its households and places: grid workers, and community staff.
_PATROL = {"record_visit"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.GRID_WORKER: frozenset(_FIELD | _PATROL),
    Role.COMMUNITY_DIRECTOR: frozenset(_COMMUNITY | _PATROL),
    Role.STREET_OFFICER: frozenset(_STREET),
    Role.DISTRICT_COMMANDER: frozenset(_DISTRICT),
    Role.DEPARTMENT_STAFF: frozenset({"view_gridnode", "view_registry"}),
}


def extend_roles(additions: dict[str, set[str]]) -> None:
    """Let an app above grid add its own node permissions to roles (from its AppConfig.ready()).

    The permissions must exist as Permission rows of GridNode; the app creates them after migrate.
    Posts created from then on carry them; `manage.py sync_grants` brings older posts up to date.
    """
    for role, codenames in additions.items():
        ROLE_PERMISSIONS[role] = ROLE_PERMISSIONS[role] | frozenset(codenames)
