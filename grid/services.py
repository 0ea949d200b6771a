"""Writes to the grid: the tree, posts and the registry. Every write checks the actor's grants
through grid.permissions and runs in one transaction."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from civic.audit import audit_record
from civic.errors import AlreadyDone
from civic.notices import notice_queue
from civic.ratelimit import ratelimit_hit
from grid.fields import GridPathField
from grid.idnumbers import id_number_hash
from grid.models import (
    CODE_DIGITS,
    Department,
    DuplicateRegistration,
    GridNode,
    Household,
    Level,
    Place,
    Post,
    Resident,
    Visit,
)
from grid.permissions import can, forget_grants, is_within, require, subtree_q
from grid.roles import ROLE_PERMISSIONS
from grid.selectors import id_number_holder

if TYPE_CHECKING:
    from civic.types import User

_Record = TypeVar("_Record", bound=models.Model)

__all__ = [
    "duplicate_registration_resolve",
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
    "resident_save",
    "residents_rehash",
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
def node_create(*, actor: "User", parent: GridNode | None, level: int, code: str, name: str, **fields) -> GridNode:
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
def node_update(*, actor: "User", node: GridNode, data: dict) -> GridNode:
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
def node_move(*, actor: "User", node: GridNode, parent: GridNode) -> GridNode:
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
def node_delete(*, actor: "User", node: GridNode) -> None:
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
def post_create(*, actor: "User", user: "User", role: str, node: GridNode | None = None,
                department: Department | None = None) -> Post:
    post = Post(user=user, role=role, node=node, department=department)
    if department is not None:
        post.node = department.node
    post.full_clean()
    require(actor, "add", post)
    post.save()
    for codename in ROLE_PERMISSIONS[role]:
        assign_perm(f"grid.{codename}", user, post.node)
    forget_grants(user)
    _audit_post(actor, post, "grant.post_created", sorted(ROLE_PERMISSIONS[role]))
    return post


@transaction.atomic
def post_delete(*, actor: "User", post: Post) -> None:
    require(actor, "delete", post)
    user, node = post.user, post.node
    post.delete()
    still_implied: set[str] = set()
    for role in Post.objects.filter(user=user, node=node).values_list("role", flat=True):
        still_implied |= ROLE_PERMISSIONS[role]
    revoked = ROLE_PERMISSIONS[post.role] - still_implied
    for codename in revoked:
        remove_perm(f"grid.{codename}", user, node)
    forget_grants(user)
    _audit_post(actor, post, "grant.post_deleted", sorted(revoked))


def _audit_post(actor: "User", post: Post, action: str, codenames: list[str]) -> None:
    audit_record(
        actor=actor, action=action, target=post.user,
        summary=f"{post.user} · {post.get_role_display()} · {post.node.name} ({post.node.code})",
        detail={"post": post.pk, "role": post.role, "node": post.node_id, "department": post.department_id,
                "permissions": codenames},
    )


#
# Registry and other scoped records
#


def _check_change(actor: "User", instance: _Record) -> _Record:
    """Changing a record needs the grant where it is now and where it goes; returns it as stored."""
    original = type(instance)._base_manager.get(pk=instance.pk)
    require(actor, "change", original)
    return original


def _changed_fields(original: models.Model | None, instance: models.Model) -> list[str]:
    fields = [f for f in instance._meta.concrete_fields if not f.primary_key and f.editable]
    return sorted(f.name for f in fields
                  if original is None or getattr(original, f.attname) != getattr(instance, f.attname))


# Registry records whose every change goes to the audit log: those about people.
_AUDITED = {Household: "household", Resident: "resident"}


def _audit_record_change(actor: "User", instance: models.Model, verb: str, **detail) -> None:
    noun = _AUDITED.get(type(instance))
    if noun is not None:
        audit_record(actor=actor, action=f"{noun}.{verb}", target=instance, summary=str(instance), detail=detail)


@transaction.atomic
def record_save(*, actor: "User", instance: models.Model) -> models.Model:
    original = _check_change(actor, instance) if instance.pk is not None else None
    instance.full_clean()
    require(actor, "change" if instance.pk else "add", instance)
    instance.save()
    _audit_record_change(actor, instance, "changed" if original else "created",
                         fields=_changed_fields(original, instance))
    return instance


@transaction.atomic
def record_delete(*, actor: "User", instance: models.Model) -> None:
    require(actor, "delete", instance)
    detail = {"residents": list(instance.residents.values_list("pk", flat=True))} if type(instance) is Household else {}
    _audit_record_change(actor, instance, "deleted", **detail)
    instance.delete()


@transaction.atomic
def household_save(*, actor: "User", household: Household, residents: list[dict[str, Any]] | None = None) -> Household:
    """Save a household and, when given, make its residents exactly `residents` (matched by id)."""
    record_save(actor=actor, instance=household)
    if residents is None:
        return household
    keep = [r["id"] for r in residents if r.get("id")]
    for gone in household.residents.exclude(pk__in=keep):
        record_delete(actor=actor, instance=gone)
    existing = {r.pk: r for r in household.residents.filter(pk__in=keep)}
    for data in residents:
        pk = data.get("id")
        if pk and pk not in existing:
            raise ValidationError({"residents": _("Resident %(id)s is not in this household.") % {"id": pk}})
        resident = existing[pk] if pk else Resident(household=household)
        for field, value in data.items():
            if field != "id":
                setattr(resident, field, value)
        resident_save(actor=actor, resident=resident)
    return household


#
# Residents and their ID numbers
#


@transaction.atomic
def resident_save(*, actor: "User", resident: Resident) -> Resident:
    """Save a resident of a household the actor may change.

    A new or changed ID number counts against the actor's hourly limit (ID_NUMBER_CHANGES_PER_HOUR),
    whatever comes of it (superusers, who see every registration, have none). A number another
    resident already holds is refused only when the actor can see that other registration; otherwise
    it is stored as a duplicate under review and the staff who see both households are told, while the
    actor gets the answer an unused number gets — so the registry cannot be probed for the numbers of
    people outside one's grid.
    """
    original = _check_change(actor, resident) if resident.pk is not None else None
    require(actor, "change" if original else "add", resident)
    resident.full_clean(validate_constraints=False)  # the number's uniqueness is decided below
    number_changed = original is None or original.id_number != resident.id_number
    duplicate_of = None
    if number_changed and not actor.is_superuser:  # a superuser sees every registration: nothing to probe
        ratelimit_hit("grid.id_number_change", str(actor.pk), limit=settings.ID_NUMBER_CHANGES_PER_HOUR,
                      window=timedelta(hours=1), actor=actor)
        duplicate_of = _store_number(actor, resident)
        _close_reviews(actor, resident, _("The new registration's ID number was changed."))
    else:
        resident.save()
    review = _review_open(actor, resident, duplicate_of) if duplicate_of is not None else None
    _audit_record_change(actor, resident, "changed" if original else "created",
                         fields=_changed_fields(original, resident), id_number_changed=number_changed,
                         duplicate_registration=review.pk if review else None)
    return resident


@transaction.atomic
def residents_rehash(*, batch: int = 2000) -> int:
    """Recompute every look-up hash under the current key; returns how many changed. Under the old key
    no number would be found again: run it right after changing the key, before the site takes writes."""
    changed = []
    for resident in Resident.objects.select_for_update().only("pk", "id_number", "id_number_hash").iterator(
            chunk_size=batch):
        digest = id_number_hash(resident.id_number)
        if digest != resident.id_number_hash:
            resident.id_number_hash = digest
            changed.append(resident)
    Resident.objects.bulk_update(changed, ["id_number_hash"], batch_size=batch)
    if changed:
        audit_record(actor=None, action="resident.rehashed", summary=f"{len(changed)} ID-number hashes recomputed")
    return len(changed)


def _store_number(actor: "User", resident: Resident) -> Resident | None:
    """Save `resident` with its new number; return the registration it duplicates (then it is flagged)."""
    resident.duplicate = False
    holder = id_number_holder(resident.id_number, exclude=resident)
    if holder is None:
        try:
            with transaction.atomic():
                resident.save()
            return None
        except IntegrityError:
            # Registered meanwhile by a parallel request: the unique index decided, now look at who holds it.
            holder = id_number_holder(resident.id_number, exclude=resident)
            if holder is None:
                raise
    if can(actor, "view", holder):
        raise ValidationError({"id_number": _("A resident with this ID number is already registered.")})
    resident.duplicate = True
    resident.save()
    return holder


def _close_reviews(actor: "User", resident: Resident, resolution: str) -> None:
    DuplicateRegistration.objects.filter(resident=resident, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=resolution)


def _covering_path(*paths: str) -> str:
    """The path of the lowest node whose subtree holds every one of `paths`."""
    common = paths[0]
    for path in paths[1:]:
        while not is_within(path, common):
            common = common[:-GridNode.steplen]
    return common


def _reviewers(resident: Resident, original: Resident) -> set["User"]:
    """Staff posted at the lowest node covering both households whose role lets them change the registry."""
    covering = _covering_path(resident.household.grid_path, original.household.grid_path)
    nodes = [covering[:end] for end in range(GridNode.steplen, len(covering) + 1, GridNode.steplen)]
    roles = [role for role, codenames in ROLE_PERMISSIONS.items() if "change_registry" in codenames]
    posts = (Post.objects.select_related("user", "node")
             .filter(node__path__in=nodes, role__in=roles, user__is_active=True).order_by("-node__depth"))
    deepest = None
    users: set[User] = set()
    for post in posts:
        if deepest is not None and post.node.depth != deepest:
            break
        deepest = post.node.depth
        users.add(post.user)
    return users


def _review_open(actor: "User", resident: Resident, original: Resident) -> DuplicateRegistration:
    review = DuplicateRegistration.objects.create(resident=resident, original=original, registered_by=actor)
    context = {"review": review.pk, "grid": resident.household.grid.name, "original_grid": original.household.grid.name}
    for user in _reviewers(resident, original):
        notice_queue(recipient=user, template="grid/duplicate_registration", context=context,
                     dedupe_key=f"grid/duplicate_registration:{review.pk}:{user.pk}")
    return review


@transaction.atomic
def duplicate_registration_resolve(*, actor: "User", review: DuplicateRegistration,
                                   resolution: str) -> DuplicateRegistration:
    """Close a review once one of the two registrations has been corrected or removed: the one left holds
    the number as an ordinary registration."""
    review = DuplicateRegistration.objects.select_for_update(of=("self",)).select_related(
        "resident__household", "original__household").get(pk=review.pk)
    require(actor, "change", review)
    if review.resolved_at is not None:
        raise ValidationError(_("This duplicate registration has already been resolved."))
    if not (resolution or "").strip():
        raise ValidationError({"resolution": _("Say what was done.")})
    resident = review.resident
    if resident.duplicate:
        if id_number_holder(resident.id_number, exclude=resident) is not None:
            raise ValidationError(_("Both registrations still hold this ID number: correct or remove one first."))
        resident.duplicate = False
        resident.save(update_fields=["duplicate"])
    review.resolved_at, review.resolved_by, review.resolution = timezone.now(), actor, resolution.strip()
    review.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    audit_record(actor=actor, action="resident.duplicate_resolved", target=resident, summary=str(resident),
                 detail={"duplicate_registration": review.pk, "resolution": review.resolution})
    return review


#
# Patrols
#


def _visit_target(household: Household | None, place: Place | None) -> Household | Place:
    targets = [record for record in (household, place) if record is not None]
    if len(targets) != 1:
        message = _("A visit is to one household or one place.")
        raise ValidationError({"household": message, "place": message})
    target = targets[0]
    # The visit lands where the record is registered now, whatever the caller's copy says.
    return type(target)._base_manager.select_related("grid").get(pk=target.pk)


@transaction.atomic
def visit_record(
    *, actor: "User", household: Household | None = None, place: Place | None = None, outcome: str, note: str = "",
    visited_at: datetime | None = None, client_key: UUID | None = None,
) -> Visit:
    """Record the actor's visit to a household or a place, in that record's grid. With a `client_key`
    the actor already used, nothing new is stored: AlreadyDone carries the visit recorded then."""
    target = _visit_target(household, place)
    visit = Visit(grid=target.grid, outcome=outcome, note=note,
                  household=target if isinstance(target, Household) else None,
                  place=target if isinstance(target, Place) else None)
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


def _raise_if_recorded(actor: "User", client_key: UUID | None) -> None:
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
    if added:
        audit_record(actor=None, action="grant.synced", summary=f"{added} grants added to existing posts",
                     detail={"added": added})
    return added
