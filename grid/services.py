"""Writes to the grid: the tree, posts and the registry. Every write checks the actor's grants
through grid.permissions and runs in one transaction."""

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from civic.errors import AlreadyDone
from grid.fields import GridPathField
from grid.models import CODE_DIGITS, GridNode, Household, Level, Place, Post, Resident, Visit
from grid.permissions import forget_grants, is_within, require, subtree_q
from grid.roles import ROLE_PERMISSIONS

__all__ = [
    "household_save",
    "node_check_placement",
    "node_create",
    "node_delete",
    "node_move",
    "node_update",
    "post_create",
    "post_delete",
    "posts_sync_grants",
    "record_delete",
    "record_save",
    "visit_record",
]

# Any fixed 64-bit number: the advisory lock that serialises moves of the tree on PostgreSQL.
_TREE_LOCK = 0x6369766963_01


def _lock_tree() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_TREE_LOCK])


def _check_code(code: str, level: int, parent: GridNode | None) -> None:
    prefix = parent.code if parent else ""
    expected = len(prefix) + CODE_DIGITS[level]
    if not (code.startswith(prefix) and len(code) == expected and code.isdigit()):
        raise ValidationError(
            {"code": _("The code is the parent's code (%(prefix)s) followed by %(digits)d digits.")
             % {"prefix": prefix or "-", "digits": CODE_DIGITS[level]}}
        )


#
# The tree
#


def node_check_placement(*, parent: GridNode | None, level: int, code: str) -> None:
    """The level must follow the parent's, and the code extend the parent's code."""
    if parent is None and level != Level.CITY:
        raise ValidationError({"level": _("A node without a parent is a city.")})
    if parent is not None and level != parent.level + 1:
        if parent.level == Level.GRID:
            raise ValidationError({"parent": _("A grid is the lowest level: it has no children.")})
        raise ValidationError(
            {"level": _("Below a %(parent)s comes a %(child)s.")
             % {"parent": Level(parent.level).label, "child": Level(parent.level + 1).label}}
        )
    _check_code(code, level, parent)


@transaction.atomic
def node_create(*, actor, parent: GridNode | None, level: int, code: str, name: str, **fields) -> GridNode:
    if parent is None and not actor.is_superuser:
        raise ValidationError({"parent": _("Only a superuser creates a city.")})
    if parent is not None:
        require(actor, "add", parent)
    node_check_placement(parent=parent, level=level, code=code)
    node = GridNode(level=level, code=code, name=name, depth=level, path="0" * GridNode.steplen * level, **fields)
    node.full_clean(exclude=["path", "depth", "numchild"])
    _lock_tree()
    if parent is None:
        return GridNode.add_root(instance=node)
    parent.refresh_from_db()  # treebeard appends after the newest child: it needs a fresh numchild
    return parent.add_child(instance=node)


_EDITABLE = ("name", "centroid_lat", "centroid_lon", "boundary")


@transaction.atomic
def node_update(*, actor, node: GridNode, data: dict) -> GridNode:
    """Change a node's descriptive fields. Level, code and place in the tree change only by node_move."""
    require(actor, "change", node)
    unknown = set(data) - set(_EDITABLE)
    if unknown:
        raise ValidationError({field: _("This field cannot be changed here.") for field in unknown})
    for field, value in data.items():
        setattr(node, field, value)
    node.full_clean()
    node.save()
    return node


def _path_carriers() -> Iterable[tuple[type[models.Model], str]]:
    """Every table that copies a grid path (ours and those of apps above us), found by field type."""
    for model in apps.get_models():
        if model is GridNode:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, GridPathField):
                yield model, field.name


def _rewrite_prefix(queryset, field: str, old: str, new: str) -> None:
    queryset.filter(subtree_q(field, old)).update(
        **{field: Concat(Value(new), Substr(F(field), len(old) + 1), output_field=GridPathField())}
    )


@transaction.atomic
def node_move(*, actor, node: GridNode, parent: GridNode) -> GridNode:
    """Move a node (and its subtree) under another parent of the level above, re-coding the subtree."""
    _lock_tree()
    node.refresh_from_db()
    parent.refresh_from_db()
    require(actor, "change", node)
    require(actor, "add", parent)
    if is_within(parent.path, node.path):
        raise ValidationError({"parent": _("A node cannot move under itself or its own descendants.")})
    if parent.level != node.level - 1:
        raise ValidationError({"parent": _("The new parent must be one level above the node.")})
    if node.get_parent().pk == parent.pk:
        return node
    old_path, old_code = node.path, node.code
    new_code = parent.code + old_code[-CODE_DIGITS[node.level]:]
    if GridNode.objects.filter(code=new_code).exists():
        raise ValidationError(
            {"code": _("The new parent already has a child with code %(code)s.") % {"code": new_code}}
        )
    node.move(parent, pos="last-child")
    node.refresh_from_db()
    subtree = GridNode.objects.filter(subtree_q("path", node.path))
    subtree.update(code=Concat(Value(new_code), Substr(F("code"), Length(Value(old_code)) + 1)))
    for model, field in _path_carriers():
        _rewrite_prefix(model._base_manager.all(), field, old_path, node.path)
    node.refresh_from_db()
    return node


@transaction.atomic
def node_delete(*, actor, node: GridNode) -> None:
    require(actor, "delete", node)
    _lock_tree()
    node.refresh_from_db()
    if node.numchild:
        raise ValidationError(_("%(node)s still has %(n)d child nodes.") % {"node": node.name, "n": node.numchild})
    try:
        # treebeard's delete() would take the subtree with it; here the node is a leaf.
        models.Model.delete(node)
    except models.ProtectedError as exc:
        raise ValidationError(
            _("Records, posts or departments still refer to %(node)s.") % {"node": node.name}
        ) from exc
    GridNode.objects.filter(path=node.path[: -node.steplen]).update(numchild=F("numchild") - 1)


#
# Posts and the grants they imply
#


@transaction.atomic
def post_create(*, actor, user, role: str, node: GridNode | None = None, department=None) -> Post:
    post = Post(user=user, role=role, node=node, department=department)
    if department is not None:
        post.node = department.node
    post.full_clean()
    require(actor, "add", post)
    post.save()
    for codename in ROLE_PERMISSIONS[role]:
        assign_perm(f"grid.{codename}", user, post.node)
    forget_grants(user)
    return post


@transaction.atomic
def post_delete(*, actor, post: Post) -> None:
    require(actor, "delete", post)
    user, node = post.user, post.node
    post.delete()
    still_implied = set()
    for role in Post.objects.filter(user=user, node=node).values_list("role", flat=True):
        still_implied |= ROLE_PERMISSIONS[role]
    for codename in ROLE_PERMISSIONS[post.role] - still_implied:
        remove_perm(f"grid.{codename}", user, node)
    forget_grants(user)


#
# Registry and other scoped records
#


def _check_change(actor, instance: models.Model) -> None:
    """Changing a record needs the grant where it is now and where it goes."""
    original = type(instance)._base_manager.get(pk=instance.pk)
    require(actor, "change", original)


@transaction.atomic
def record_save(*, actor, instance: models.Model) -> models.Model:
    if instance.pk is not None:
        _check_change(actor, instance)
    instance.full_clean()
    require(actor, "change" if instance.pk else "add", instance)
    instance.save()
    return instance


@transaction.atomic
def record_delete(*, actor, instance: models.Model) -> None:
    require(actor, "delete", instance)
    instance.delete()


@transaction.atomic
def household_save(*, actor, household: Household, residents: list[dict] | None = None) -> Household:
    """Save a household and, when given, make its residents exactly `residents` (matched by id)."""
    record_save(actor=actor, instance=household)
    if residents is None:
        return household
    keep = [r["id"] for r in residents if r.get("id")]
    household.residents.exclude(pk__in=keep).delete()
    existing = {r.pk: r for r in household.residents.filter(pk__in=keep)}
    for data in residents:
        resident = existing.get(data.get("id")) or Resident(household=household)
        if data.get("id") and data["id"] not in existing:
            raise ValidationError({"residents": _("Resident %(id)s is not in this household.") % {"id": data["id"]}})
        for field, value in data.items():
            if field != "id":
                setattr(resident, field, value)
        resident.full_clean()
        resident.save()
    return household


#
# Patrols
#


def _visit_target(household: Household | None, place: Place | None) -> Household | Place:
    if (household is None) == (place is None):
        message = _("A visit is to one household or one place.")
        raise ValidationError({"household": message, "place": message})
    target = household or place
    # The visit lands where the record is registered now, whatever the caller's copy says.
    return type(target)._base_manager.select_related("grid").get(pk=target.pk)


@transaction.atomic
def visit_record(
    *, actor, household: Household | None = None, place: Place | None = None, outcome: str, note: str = "",
    visited_at: datetime | None = None, client_key: UUID | None = None,
) -> Visit:
    """Record the actor's visit to a household or a place, in that record's grid. With a `client_key`
    the actor already used, nothing new is stored: AlreadyDone carries the visit recorded then."""
    target = _visit_target(household, place)
    visit = Visit(grid=target.grid, outcome=outcome, note=note, **{target._meta.model_name: target})
    if visited_at is not None:
        visit.visited_at = visited_at
    require(actor, "add", visit)
    visit.visitor = actor  # only now: an anonymous actor cannot even be assigned
    visit.client_key = client_key
    # The foreign keys come from rows just read, and clean() checks the one-target rule: no
    # need for a query per key and another for the check constraint. The key is left to the
    # unique index, which also settles two copies arriving at once.
    visit.full_clean(exclude=["grid", "household", "place", "visitor", "client_key"])
    _raise_if_recorded(actor, client_key)
    try:
        with transaction.atomic():
            visit.save()
    except IntegrityError:
        _raise_if_recorded(actor, client_key)  # the same visit, committed meanwhile by a parallel request
        raise
    return visit


def _raise_if_recorded(actor, client_key: UUID | None) -> None:
    if client_key is not None:
        AlreadyDone.raise_if_stored(Visit.objects.filter(visitor=actor, client_key=client_key))


@transaction.atomic
def posts_sync_grants() -> int:
    """Give every post the grants its role implies now (roles gain permissions when apps are added);
    returns how many grants were added. Grants are only added: revoking stays an explicit act."""
    added = 0
    for post in Post.objects.select_related("user", "node"):
        held = set(get_perms(post.user, post.node))
        for codename in ROLE_PERMISSIONS[post.role] - held:
            assign_perm(f"grid.{codename}", post.user, post.node)
            added += 1
        forget_grants(post.user)
    return added
