"""Writes to cases: report, every workflow transition, and the overdue sweep.

Each call is one transaction: the case row, its timeline event, its photos' rows and its notices
commit together or not at all. Permission checks use grid.permissions, like every other layer.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import MaxLengthValidator, URLValidator
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civic.errors import AlreadyDone, ConflictError
from civic.images import process_photo
from civic.notices import notices_queue
from civic.workcal import add_working_time
from grid.geo import distance_to_area_m
from grid.models import Department, GridNode, Level, Post, Role
from grid.permissions import can, grant_paths, held_roles, is_within
from grid.selectors import grid_centre, locate
from issues.attributes import attributes_clean
from issues.events import publish_case_change
from issues.models import Case, CaseEvent, CasePhoto, CaseSequence, Category, ReporterKind, Status
from issues.workflow import TRANSITIONS, Transition

if TYPE_CHECKING:
    from civic.types import User, Viewer

__all__ = ["AlreadyReported", "StaleVersion", "case_report", "case_transition", "can_handle", "transitions_for"]

REFERENCE_PREFIX = "XC"  # Xincheng district; one prefix per deployment


class StaleVersion(ConflictError):
    """The client changed a case it had read at an older version: nothing was changed (HTTP 409)."""


class AlreadyReported(AlreadyDone):
    """This reporter's client sent this report before (same client key); `case` is what it created."""

    @property
    def case(self) -> Case:
        return self.instance


#
# Who may act
#


def can_handle(user: "Viewer", case: Case) -> bool:
    """Whoever holds the case now: a grant covering the handling node, or a post in the handling department."""
    if not user.is_active:
        return False
    if case.handling_department_id and Post.objects.filter(
        user=user, role=Role.DEPARTMENT_STAFF, department_id=case.handling_department_id
    ).exists():
        return True
    paths = grant_paths(user, "handle_case")
    if paths is None:
        return True
    return any(is_within(case.handling_node.path, granted) for granted in paths)


def _allowed(user: "Viewer", case: Case, transition: Transition) -> bool:
    if transition.action == "handle":
        return can(user, "view", case) and can_handle(user, case)
    if transition.action == "verify":
        return can(user, "verify", case)
    return can(user, "view", case)


def transitions_for(user: "Viewer", case: Case) -> list[Transition]:
    """What this user may do to this case now: what the API, the admin and the portal offer."""
    # The answer depends only on the transition's action: ask once per action (can_handle costs a
    # query for a department's case, and most transitions need "handle").
    answers: dict[str, bool] = {}

    def allowed(t: Transition) -> bool:
        if t.action not in answers:
            answers[t.action] = _allowed(user, case, t)
        return answers[t.action]

    return [t for t in TRANSITIONS.values() if case.status in t.sources and allowed(t)]


#
# Helpers
#


def _next_reference(now: datetime) -> str:
    year = timezone.localtime(now).year  # the local year: 1 January starts at 16:00 UTC in Hohhot
    table = connection.ops.quote_name(CaseSequence._meta.db_table)
    # One statement: the year's first report creates the row, every other one increments it under the
    # row lock the UPDATE takes, so concurrent reports get distinct numbers.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (prefix, year, last) VALUES (%s, %s, 1)"
            f" ON CONFLICT (prefix, year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [REFERENCE_PREFIX, year],
        )
        (last,) = cursor.fetchone()
    return f"{REFERENCE_PREFIX}-{year}-{last:06d}"


def _ancestor_at(grid: GridNode, level: int) -> GridNode:
    return GridNode.objects.get(path=grid.path[: GridNode.steplen * level])


def _coordinate(value) -> Decimal:
    """Degrees to the micro-degree (about 0.1 m) the column stores; phones send more digits."""
    try:
        return Decimal(str(value)).quantize(Decimal("0.000001"))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({"lat": _("Latitude and longitude are numbers in degrees.")}) from exc


def _reporter_kind(user: "User") -> str:
    if Role.GRID_WORKER in held_roles(user):
        return ReporterKind.GRID_WORKER
    return ReporterKind.STAFF if grant_paths(user, "view_gridnode") != [] else ReporterKind.CITIZEN


def _handlers(case: Case) -> set["User"]:
    """The staff to tell about a case that has just arrived where it is now."""
    posts = Post.objects.select_related("user").filter(user__is_active=True)
    if case.handling_department_id:
        posts = posts.filter(department_id=case.handling_department_id)
    else:
        posts = posts.filter(node_id=case.handling_node_id).exclude(role=Role.DEPARTMENT_STAFF)
    return {post.user for post in posts}


def _notify(case: Case, template: str, users: Iterable["User"], key: str, **extra) -> None:
    context = {
        "reference": case.reference, "category": case.category.name, "grid": case.grid.name,
        "level": str(Level(case.handling_level).label), "deadline": case.due_at.isoformat() if case.due_at else "",
        **extra,
    }
    notices_queue(recipients=users, template=template, context=context,
                  dedupe_key=lambda user: f"case:{case.pk}:{key}:{user.pk}")


def _store_photos(case: Case, event: CaseEvent, photos: Sequence, kind: str, user: "User") -> list[CasePhoto]:
    return [
        CasePhoto.objects.create(
            case=case, event=event, kind=kind, image=processed.original, display=processed.display,
            width=processed.width, height=processed.height, uploaded_by=user,
        )
        for processed in photos
    ]


def _validated_photos(uploads: Sequence[UploadedFile]) -> list:
    """Every upload checked before anything is written, so a bad photo changes nothing."""
    processed, errors = [], []
    for upload in uploads:
        try:
            processed.append(process_photo(upload))
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"photos": errors})
    return processed


def _event(case: Case, actor: "User", action: str, from_status: str, from_level: int | None, comment: str = "",
           **extra) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, actor=actor, action=action, from_status=from_status, to_status=case.status,
        from_level=from_level, to_level=case.handling_level, department=case.handling_department,
        comment=comment, **extra,
    )


#
# Report
#


def case_report(
    *, actor: "User", category: Category, description: str, lat, lon, address: str = "", grid: GridNode | None = None,
    photos: Sequence[UploadedFile] = (), reporter_public: bool = True, priority: int | None = None,
    resolve_on_spot: bool = False, resolution: str = "", after_photos: Sequence[UploadedFile] = (),
    client_key: UUID | None = None, attributes: Mapping | None = None, media_url: str = "",
) -> Case:
    """Register a problem where it was seen; optionally handled on the spot by the grid worker.

    The case lands in the grid containing the point; a `grid` sent with the point must contain it
    (give or take REPORT_GRID_TOLERANCE_M). Only staff set a `priority`: a citizen's report takes
    the category's default, and a citizen sending one is refused. With a `client_key`, a report this
    reporter already sent raises AlreadyReported instead of storing a second case, also when both
    copies arrive at the same moment.

    `attributes` answers the category's attributes (issues.attributes): None where a channel collects
    none (the portal and the field app, where a person describes the problem in words); a mapping is
    checked whole, its required answers included. `media_url` is an http(s) link to the reporter's
    own copy of a photo (Open311).
    """
    _raise_if_reported(actor, client_key)
    description = (description or "").strip()
    lat, lon = _coordinate(lat), _coordinate(lon)
    errors = {}
    if not description:
        errors["description"] = [_("Describe the problem.")]
    try:
        # full_clean() does not check a TextField's max_length; this is Django's own (translated) message.
        MaxLengthValidator(Case._meta.get_field("description").max_length)(description)
    except ValidationError as exc:
        errors["description"] = exc.messages
    if not category.is_active:
        errors["category"] = [_("This category is no longer in use.")]
    located = locate(lat, lon) if grid is None else grid
    if located is None or located.level != Level.GRID:
        errors["lat"] = [_("The location lies outside every grid of the city.")]
    elif grid is not None and not _lies_in(grid, lat, lon):
        errors["grid"] = [_("The location lies more than %(metres)s m outside this grid.")
                          % {"metres": f"{settings.REPORT_GRID_TOLERANCE_M:g}"}]
    kind = _reporter_kind(actor)
    if priority is not None and kind == ReporterKind.CITIZEN:
        errors["priority"] = [_("Only staff set a case's priority.")]
    if resolve_on_spot and not resolution.strip():
        errors["resolution"] = [_("Say how the problem was handled.")]
    if resolve_on_spot and not after_photos:
        errors["after_photos"] = [_("Add a photo taken after handling.")]
    answers = {}
    if attributes is not None:
        try:
            answers = attributes_clean(category, attributes)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    media_url = (media_url or "").strip()
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            errors["media_url"] = [_("The media URL must be an http(s) URL.")]
    if errors:
        raise ValidationError(errors)
    processed = _validated_photos(photos)
    processed_after = _validated_photos(after_photos)
    now = timezone.now()
    handling_level = category.first_level
    case = Case(
        category=category, description=description, lat=lat, lon=lon, address=address, grid=located,
        reporter=actor, reporter_kind=kind, reporter_public=reporter_public or kind != ReporterKind.CITIZEN,
        priority=priority or category.default_priority, handling_level=handling_level,
        due_at=add_working_time(now, category.accept_within),
    )
    if kind != ReporterKind.CITIZEN and not can(actor, "add", case):
        raise PermissionDenied(_("You may report only in your own area."))
    if resolve_on_spot and kind != ReporterKind.GRID_WORKER:
        raise PermissionDenied(_("Only grid workers handle problems on the spot."))
    case.client_key, case.attributes, case.media_url = client_key, answers, media_url
    try:
        return _save_report(case, actor, now, processed, processed_after, resolve_on_spot, resolution.strip())
    except IntegrityError:
        _raise_if_reported(actor, client_key)  # the same report, committed meanwhile by a parallel request
        raise


def _lies_in(grid: GridNode, lat: Decimal, lon: Decimal) -> bool:
    """A point sent with a grid must lie in it, give or take REPORT_GRID_TOLERANCE_M: a GPS fix taken
    near a boundary may land just across it. The grid's own centre stands for a report made without a
    fix (grid_centre), so it always does, even where a concave grid's centre falls outside its shape."""
    if (lat, lon) == grid_centre(grid):
        return True
    if not grid.boundary:
        return False
    return distance_to_area_m(grid.boundary, lat, lon) <= settings.REPORT_GRID_TOLERANCE_M


def _raise_if_reported(actor: "User", client_key: UUID | None) -> None:
    if client_key is not None:
        AlreadyReported.raise_if_stored(Case.objects.filter(reporter=actor, client_key=client_key))


@transaction.atomic
def _save_report(case: Case, actor: "User", now: datetime, photos: list, after_photos: list, resolve_on_spot: bool,
                 resolution: str) -> Case:
    case.handling_node = _ancestor_at(case.grid, case.handling_level)
    case.reference = _next_reference(now)
    # The grid and the reporter are rows just read (no lookups to prove they exist; the category, from
    # the caller, may be gone); the client key is left to its unique index (a parallel duplicate must
    # reach the IntegrityError path) and the check constraint to the database.
    case.full_clean(exclude=["reference", "grid_path", "handling_node", "client_key", "grid", "reporter"],
                    validate_unique=False, validate_constraints=False)
    case.save()
    event = _event(case, actor, "report", "", None)
    photos = _store_photos(case, event, photos, CasePhoto.KIND_REPORT, actor)
    events = [event]
    if resolve_on_spot:
        case.status, case.resolved_at, case.due_at = Status.RESOLVED, now, None
        case.version += 1
        case.save(update_fields=["status", "resolved_at", "due_at", "version", "updated_at"])
        event = _event(case, actor, "resolve", Status.REPORTED, case.handling_level, comment=resolution)
        photos += _store_photos(case, event, after_photos, CasePhoto.KIND_AFTER, actor)
        events.append(event)
        # The community still closes the loop: it verifies and closes what was handled on the spot.
        _notify(case, "issues/case_resolved", _handlers(case), "resolved")
    else:
        _notify(case, "issues/case_reported", _handlers(case), "reported")
    publish_case_change(case, created=True, previous_status=Status.REPORTED)
    # The timeline and photos as written: whoever answers with the new case need not read them back.
    # Django's own prefetch cache (what prefetch_related fills), which django-stubs does not declare.
    case._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "events": _as_read(case.events, events), "photos": _as_read(case.photos, photos),
    }
    return case


def _as_read(manager, rows: list):
    """The manager's queryset holding `rows` as if prefetched (what prefetch_related stores)."""
    queryset = manager.all()
    queryset._result_cache, queryset._prefetch_done = rows, True
    return queryset


#
# Transitions
#


def case_transition(
    *, actor: "User", case: Case, name: str, version: int | None = None, comment: str = "",
    photos: Sequence[UploadedFile] = (), level: int | None = None, department: Department | None = None,
    assignee: "User | None" = None, duplicate_of: Case | None = None,
) -> Case:
    """Apply one transition of issues.workflow. `version` is the version the client read: if the case
    has changed since, StaleVersion is raised and nothing changes. A comment (not `versioned`) reads no
    version and leaves it as it is: it adds to the timeline without changing the case."""
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise ValidationError({"action": _("Unknown action.")})
    comment = (comment or "").strip()
    if transition.needs_comment and not comment:
        raise ValidationError({"comment": _("Give a reason or a comment.")})
    processed = _validated_photos(photos)
    with transaction.atomic():
        case = Case.objects.select_for_update().select_related("category", "grid", "handling_node").get(pk=case.pk)
        if transition.versioned and case.version != version:
            raise StaleVersion
        if not can(actor, "view", case):
            raise PermissionDenied  # before the state check, which would tell its status
        if case.status not in transition.sources:
            raise ValidationError(
                {"action": _("“%(action)s” is not possible while the case is %(status)s.")
                 % {"status": case.get_status_display(), "action": transition.label}}
            )
        if not _allowed(actor, case, transition):
            raise PermissionDenied
        from_status, from_level = case.status, case.handling_level
        extra = _APPLY[name](
            case, actor=actor, comment=comment, level=level, department=department, assignee=assignee,
            duplicate_of=duplicate_of,
        ) or {}
        if transition.target:
            case.status = transition.target
        if transition.versioned:
            case.version += 1
            case.save()
        event = _event(case, actor, name, from_status, from_level, comment=comment)
        _store_photos(case, event, processed, CasePhoto.KIND_AFTER if name == "resolve" else CasePhoto.KIND_COMMENT,
                      actor)
        if extra.get("notify"):
            template, users = extra["notify"]
            _notify(case, template, users, f"{name}:{case.version}")
        publish_case_change(case, previous_status=from_status, previous_level=from_level,
                            escalated=name == "escalate")
    return case


def _restart_clock(case: Case, within) -> None:
    case.due_at = add_working_time(timezone.now(), within)
    # A flag answers one expired deadline; with a new one the overdue sweep watches the case again.
    case.flagged_at = None


def _move_to(case: Case, *, level: int | None = None, department: Department | None = None) -> None:
    # A department works for the case's district command centre, whether it is a district's or the city's.
    if department is not None:
        level = Level.DISTRICT
    elif level is None:
        raise ValueError("A case moves to a level of its chain or to a department.")
    case.handling_department = department
    case.handling_level = level
    case.handling_node = _ancestor_at(case.grid, case.handling_level)


def _target(case: Case, level, department) -> dict:
    if department is None and level is None:
        department = case.category.department
        level = None if department else case.handling_level
    # Grid workers report and verify; handling starts at the community.
    if department is None and not (Level.DISTRICT <= int(level) <= Level.COMMUNITY):
        raise ValidationError({"level": _("Choose a level of the case's own chain, from community to district.")})
    if department is not None and not is_within(case.grid_path, department.node.path):
        raise ValidationError({"department": _("This department does not serve the case's district.")})
    return {"level": int(level) if department is None else None, "department": department}


def _accept(case, **kw):
    _restart_clock(case, case.category.resolve_within)


def _dispatch(case, *, level, department, **kw):
    case.dispatched_from_level = case.handling_level
    _move_to(case, **_target(case, level, department))
    _restart_clock(case, case.category.resolve_within)
    return {"notify": ("issues/case_dispatched", _handlers(case))}


def _return(case, **kw):
    _move_to(case, level=case.dispatched_from_level or case.category.first_level)
    _restart_clock(case, case.category.accept_within)
    return {"notify": ("issues/case_returned", _handlers(case))}


def _escalate(case, **kw):
    if case.handling_department_id:
        _move_to(case, level=Level.DISTRICT)
    elif case.handling_level > Level.DISTRICT:
        _move_to(case, level=case.handling_level - 1)
    else:
        raise ValidationError({"action": _("The case is already with the district: it cannot go higher.")})
    case.escalation_count += 1
    _restart_clock(case, case.category.resolve_within)
    return {"notify": ("issues/case_escalated", _handlers(case))}


def _resolve(case, **kw):
    case.resolved_at, case.due_at = timezone.now(), None
    return {"notify": ("issues/case_resolved", [case.reporter])}


def _close(case, **kw):
    case.closed_at = timezone.now()


def _reopen(case, **kw):
    case.resolved_at = None
    _restart_clock(case, case.category.resolve_within)
    return {"notify": ("issues/case_dispatched", _handlers(case))}


def _stop_clock(case, **kw):
    case.due_at = None


def _mark_duplicate(case, *, duplicate_of, **kw):
    if duplicate_of is None or duplicate_of.pk == case.pk:
        raise ValidationError({"duplicate_of": _("Name the original case.")})
    case.duplicate_of, case.due_at = duplicate_of, None


def _assign(case: Case, *, assignee: "User | None", **kw: Any) -> dict[str, Any]:
    if assignee is None:
        raise ValidationError({"assignee": _("Choose who handles the case.")})
    if not can_handle(assignee, case):
        raise ValidationError({"assignee": _("This person cannot handle cases at the current level.")})
    case.assignee = assignee
    return {"notify": ("issues/case_dispatched", [assignee])}


def _nothing(case, **kw):
    return None


# Each returns what to tell whom ({"notify": (template, users)}) or None; `kw` holds every argument
# of case_transition a handler may need (actor, comment, level, department, assignee, duplicate_of).
_APPLY: dict[str, Callable[..., dict[str, Any] | None]] = {
    "accept": _accept, "dispatch": _dispatch, "transfer": _dispatch, "start": _nothing, "return": _return,
    "escalate": _escalate, "resolve": _resolve, "verify": _nothing, "reopen": _reopen, "close": _close,
    "reject": _stop_clock, "mark_duplicate": _mark_duplicate, "assign": _assign, "comment": _nothing,
}
