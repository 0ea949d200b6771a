"""The one permission mechanism of Civic.

Staff are granted node permissions (django-guardian, direct-FK tables on GridNode). A grant on a
node covers the node's whole subtree and every record attached below it. Two functions answer
every question, in the API, the admin, the portal and the Celery tasks alike:

    scope(queryset, user, action)  -> the rows of queryset the user may <action>
    can(user, action, obj)         -> may the user <action> this object?

Each model that can be scoped registers a rule: how to reach a grid path from it, and which node
permission each action needs. Apps above grid (cases, bills, bookings) register their own models
from their AppConfig.ready(); grid itself knows nothing of them.

A user's grants are loaded once (one query) and kept on the user object for the request, so
per-row checks such as ID masking cost no further queries.
"""

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.backends.signals import connection_created
from django.db.models import Expression, F, Model, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.dispatch import receiver

if TYPE_CHECKING:
    from civic.types import Viewer

__all__ = [
    "EVERYWHERE",
    "PATH_END",
    "can",
    "forget_grants",
    "grant_paths",
    "has_any_grant",
    "held_roles",
    "is_within",
    "path_prefix_q",
    "register",
    "require",
    "rule_for",
    "scope",
    "scope_by_codename",
    "scope_q",
    "subtree_q",
    "use_grants",
]

# Greater than every character treebeard puts in a path (0-9, A-Z): [P, P + PATH_END) is P's subtree.
PATH_END = "~"
# The empty path is a prefix of every path: a grant on it covers the whole tree (see use_grants).
EVERYWHERE = ""
_CACHE_ATTR = "_civic_grants"
# Set by use_grants: the user acts with exactly the grants given, so owner rules do not apply.
_DELEGATED_ATTR = "_civic_delegated"
_OWNS_OUTSIDE_ATTR = "_civic_owns_outside"


@dataclass(frozen=True)
class ScopeRule:
    lookup: str  # ORM lookup from the model to a grid path, e.g. "grid_path" or "household__grid_path"
    actions: Mapping[str, str]  # action -> GridNode permission codename
    object_path: Callable[[Model], str] | None = field(default=None)
    # A user foreign key whose user may do `owner_actions` on the row without any grant (a
    # citizen and the cases they reported).
    owner: str | None = None
    owner_actions: frozenset[str] = frozenset()
    # More paths the grant must cover as well, each unless empty: a row about two records (a duplicate
    # registration of one ID number in two households) is for those who may see both.
    also: tuple[str, ...] = ()
    # The model's table has an index per level on its path's prefix (see grid.fields.SubtreeLookup):
    # subtree tests are then equalities on that prefix, which those indexes serve in any order.
    by_level_prefix: bool = False

    def subtree_q(self, path: str, lookup: str | None = None) -> Q:
        """Rows in the subtree at `path`, in the form the model's indexes serve best."""
        lookup = lookup or self.lookup
        if self.by_level_prefix and lookup == self.lookup:
            return Q(**{f"{lookup}__subtree": path})
        return subtree_q(lookup, path)

    def owns(self, user: "Viewer", obj: Model) -> bool:
        return (bool(self.owner) and user.is_authenticated and not _delegated(user)
                and getattr(obj, f"{self.owner}_id") == user.pk)

    def path_of(self, obj: Model) -> str:
        if self.object_path is not None:
            return self.object_path(obj)
        return _follow(obj, self.lookup)

    def also_paths_of(self, obj: Model) -> list[str]:
        return [path for path in (_follow(obj, lookup) for lookup in self.also) if path is not None]


def _follow(obj: Model, lookup: str) -> Any:
    """The value at the end of an ORM lookup path, or None where a nullable relation is empty."""
    value = obj
    for part in lookup.split("__"):
        value = getattr(value, part)
        if value is None:
            return None
    return value


_RULES: dict[type[Model], ScopeRule] = {}


def register(
    model: type[Model], *, lookup: str, actions: Mapping[str, str], object_path=None, owner=None, owner_actions=(),
    by_level_prefix: bool = False, also: tuple[str, ...] = (),
) -> None:
    _RULES[model] = ScopeRule(
        lookup=lookup, actions=dict(actions), object_path=object_path, owner=owner,
        owner_actions=frozenset(owner_actions), by_level_prefix=by_level_prefix, also=tuple(also),
    )


def rule_for(model: type[Model]) -> ScopeRule:
    try:
        return _RULES[model]
    except KeyError:
        raise LookupError(f"{model.__name__} has no scope rule; register one in its app's ready().") from None


#
# Grants
#


def _collapse(paths: Iterable[str]) -> list[str]:
    """Drop every path that lies under another one: the outer grant covers it."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not kept or not path.startswith(kept[-1]):
            kept.append(path)
    return kept


def _grants_sql() -> str:
    from django.contrib.auth.models import Permission

    from grid.models import GridNode, GridNodeGroupObjectPermission, GridNodeUserObjectPermission, Post

    user_table = GridNodeUserObjectPermission._meta.db_table
    group_table = GridNodeGroupObjectPermission._meta.db_table
    membership = get_user_model().groups.through._meta.db_table
    # The user's posts come with the grants, as "post:<role>" rows (held_roles): who reports a case
    # (a grid worker?) is known without a query of its own.
    return (
        f"SELECT p.codename, n.path FROM {user_table} g"
        f" JOIN {Permission._meta.db_table} p ON p.id = g.permission_id"
        f" JOIN {GridNode._meta.db_table} n ON n.id = g.content_object_id WHERE g.user_id = %s"
        " UNION "
        f"SELECT p.codename, n.path FROM {group_table} g JOIN {membership} m ON m.group_id = g.group_id"
        f" JOIN {Permission._meta.db_table} p ON p.id = g.permission_id"
        f" JOIN {GridNode._meta.db_table} n ON n.id = g.content_object_id WHERE m.user_id = %s"
        " UNION "
        f"SELECT '{_POST}' || p.role, n.path FROM {Post._meta.db_table} p"
        f" JOIN {GridNode._meta.db_table} n ON n.id = p.node_id WHERE p.user_id = %s"
    )


_POST = "post:"


_PREPARED = "civic_grants"
# Set on the database connection (an attribute of ours, hence setattr) once the statement is prepared.
_PREPARED_ATTR = "civic_grants_prepared"


@receiver(connection_created)
def _new_session(sender, connection, **kwargs):
    setattr(connection, _PREPARED_ATTR, False)  # a prepared statement lives as long as its session


def _fetch_grants(user: "Viewer") -> list[tuple[str, str]]:
    # Runs on every request of every staff user, so it is a fixed statement without the ORM's
    # compile cost; on PostgreSQL it is also prepared once per session, because planning this
    # four-table union takes longer than running it (0.8 ms against 0.4 ms prepared).
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(_grants_sql(), [user.pk] * 3)
            return cursor.fetchall()
        if not getattr(connection, _PREPARED_ATTR, False):
            cursor.execute(f"PREPARE {_PREPARED}(bigint) AS " + _grants_sql().replace("%s", "$1"))
            setattr(connection, _PREPARED_ATTR, True)
        cursor.execute(f"EXECUTE {_PREPARED}(%s)", [user.pk])
        return cursor.fetchall()


def _load_grants(user: "Viewer") -> dict[str, list[str]]:
    rows = _fetch_grants(user)
    grants: dict[str, list[str]] = {}
    for codename, path in rows:
        grants.setdefault(codename, []).append(path)
    return {codename: _collapse(paths) for codename, paths in grants.items()}


def _grants(user: "Viewer") -> dict[str, list[str]]:
    grants = getattr(user, _CACHE_ATTR, None)
    if grants is None:
        grants = _load_grants(user)
        setattr(user, _CACHE_ATTR, grants)
    return grants


def grant_paths(user: "Viewer | None", codename: str) -> list[str] | None:
    """Paths of the subtrees where the user holds `codename`; None means everywhere (a superuser, or a
    grant on EVERYWHERE given by use_grants)."""
    if not user or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    paths = _grants(user).get(codename, [])
    return None if paths == [EVERYWHERE] else paths


def held_roles(user: "Viewer | None") -> set[str]:
    """The roles (grid.models.Role) of the user's posts, read with the grants (superusers' too)."""
    if not user or not user.is_authenticated or not user.is_active:
        return set()
    return {key.removeprefix(_POST) for key in _grants(user) if key.startswith(_POST)}


def use_grants(user: "Viewer", grants: Mapping[str, Iterable[str]]) -> None:
    """Make `user` act with exactly `grants` (codename -> subtree paths; EVERYWHERE for the whole tree)
    instead of the grants of its posts, for as long as this user object lives (one request).

    For a credential that stands for less than its user: an API key acts for its partner's service
    user with what the key's scopes and subtree allow. Owner rules (a reporter and their own cases)
    do not apply then either: the key's grants are all it holds.
    """
    setattr(user, _CACHE_ATTR, {codename: _collapse(paths) for codename, paths in grants.items()})
    setattr(user, _DELEGATED_ATTR, True)


def _delegated(user: "Viewer") -> bool:
    return getattr(user, _DELEGATED_ATTR, False)


def forget_grants(user: "Viewer") -> None:
    """Call after changing a user's grants, so that the next check reloads them. Grants given with
    use_grants do not come from posts and stay."""
    if hasattr(user, _CACHE_ATTR) and not _delegated(user):
        delattr(user, _CACHE_ATTR)
    user.__dict__.pop(_OWNS_OUTSIDE_ATTR, None)


def has_any_grant(user: "Viewer | None") -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    paths = grant_paths(user, "view_gridnode")
    return paths is None or bool(paths)


def path_prefix_q(lookup: str, paths: Iterable[str]) -> Q:
    """Rows whose path at `lookup` lies in any of the subtrees: one index range per path."""
    return reduce(operator.or_, (subtree_q(lookup, p) for p in paths))


def subtree_q(lookup: str, path: str | Expression | F) -> Q:
    """Rows whose path at `lookup` lies in the subtree at `path` (a path, or an expression such as
    OuterRef("path")), its root included: one index range, rather than LIKE, so that every database
    uses the path's btree index the same way."""
    end = path + PATH_END if isinstance(path, str) else Concat(path, Value(PATH_END))
    return Q(**{f"{lookup}__gte": path, f"{lookup}__lt": end})


def is_within(path: str, root: str) -> bool:
    """Does `path` lie in the subtree at `root` (the root itself included)?"""
    return path.startswith(root)


#
# The two questions
#


def scope(queryset: QuerySet, user: "Viewer", action: str = "view") -> QuerySet:
    rule = rule_for(queryset.model)
    owner = rule.owner if action in rule.owner_actions and not _delegated(user) else None
    return _scoped(queryset, user, rule, rule.actions[action], owner)


def scope_by_codename(queryset: QuerySet, user: "Viewer", codename: str) -> QuerySet:
    """Rows lying where the user holds the node permission `codename` (e.g. grids to register households in)."""
    return _scoped(queryset, user, rule_for(queryset.model), codename, None)


def scope_q(model: type[Model], user: "Viewer", action: str = "view") -> Q | None:
    """The condition scope() filters by, to combine with another one (e.g. "public, or in my scope"):
    None means every row; a user without grants gets a condition that no row meets."""
    rule = rule_for(model)
    owner = rule.owner if action in rule.owner_actions else None
    conditions = _conditions(user, rule, rule.actions[action], owner, model)
    if conditions is None:
        return None
    return reduce(operator.or_, conditions) if conditions else Q(pk__in=[])


def _conditions(user: "Viewer", rule: ScopeRule, codename: str, owner: str | None, model: type[Model],
                using: str | None = None) -> list[Q] | None:
    paths = grant_paths(user, codename)
    if paths is None:
        return None
    conditions = [_covered_q(rule, paths)] if paths else []
    if owner and user.is_authenticated and (not paths or _owns_outside(user, model, rule, owner, paths, using)):
        conditions.append(Q(**{owner: user}))
    return conditions


def _owns_outside(user: "Viewer", model: type[Model], rule: ScopeRule, owner: str, paths: list[str],
                  using: str | None) -> bool:
    """Does the user own rows outside the subtrees their grants cover? Mostly not (staff report inside
    their own scope), and then the owner clause is dropped: "in my subtrees OR mine" is a condition no
    ordered index serves, so every page would read and sort the whole scope (a district's newest-first
    page: a scan of a million cases, against 51 index entries without the OR). Asked once per user
    object (a request), through the model's (owner, path) index, on the database the list reads
    (a replica's list asks the replica)."""
    answers = user.__dict__.setdefault(_OWNS_OUTSIDE_ATTR, {})
    key = (model._meta.label, using, tuple(paths))
    if key not in answers:
        rows = model._default_manager.db_manager(using).filter(Q(**{owner: user}) & ~_covered_q(rule, paths))
        answers[key] = rows.exists()
    return answers[key]


def _scoped(queryset: QuerySet, user: "Viewer", rule: ScopeRule, codename: str, owner: str | None) -> QuerySet:
    conditions = _conditions(user, rule, codename, owner, queryset.model, queryset.db)
    if conditions is None:
        return queryset
    if not conditions:
        return queryset.none()
    return queryset.filter(reduce(operator.or_, conditions))


def _covered_q(rule: ScopeRule, paths: list[str]) -> Q:
    covered = reduce(operator.or_, (rule.subtree_q(path) for path in paths))
    for lookup in rule.also:
        covered &= Q(**{f"{lookup}__isnull": True}) | path_prefix_q(lookup, paths)
    return covered


def can(user: "Viewer", action: str, obj: Model) -> bool:
    rule = rule_for(type(obj))
    if action in rule.owner_actions and rule.owns(user, obj):
        return True
    paths = grant_paths(user, rule.actions[action])
    if paths is None:
        return True
    path = rule.path_of(obj)
    return bool(path) and all(any(is_within(p, granted) for granted in paths)
                              for p in [path, *rule.also_paths_of(obj)])


def require(user: "Viewer", action: str, obj: Model) -> None:
    if not can(user, action, obj):
        raise PermissionDenied
