"""Reads of cases and categories. Every case read starts from grid.permissions.scope (action "view"),
which lets a citizen see the cases they reported and staff the cases of their subtrees; the public
sees the public cases (``public_case_list``).

What a viewer may see *of* a case — its reporter, the actors of its timeline, its photos (which
copy) and the timeline's labels — is decided here once, by ``case_view``, for the API, the admin,
the portal, the field app and the photo files alike.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Case as SqlCase
from django.db.models import F, FloatField, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from grid.geo import Around, distance_m
from grid.models import GridNode, Level
from grid.permissions import can, rule_for, scope, scope_by_codename, scope_q
from grid.selectors import grid_centre, grid_paths_near
from issues.models import OPEN_STATUSES, Case, CaseEvent, CasePhoto, Category, Status
from issues.workflow import event_label

if TYPE_CHECKING:
    from civic.types import User, Viewer

__all__ = [
    "DUPLICATE_LIMIT",
    "HIDDEN_STATUSES",
    "CaseView",
    "NearCase",
    "TimelineEntry",
    "case_detail",
    "case_list",
    "case_photo",
    "case_view",
    "cases_near",
    "category_descendant_ids",
    "category_list",
    "duplicate_candidates",
    "is_public",
    "public_case_list",
    "public_location",
    "report_grid_list",
]


#
# Categories
#


def category_list(*, with_attributes: bool = False) -> QuerySet:
    """The categories a case may be reported in (any authenticated user may read them); with their
    parent and attributes for the callers that show those (the API, Open311)."""
    categories = Category.objects.filter(is_active=True)
    return categories.select_related("parent").prefetch_related("attributes") if with_attributes else categories


def category_descendant_ids(category: Category) -> list[int]:
    """The category and every category below it, at any depth (one query: the tree is small)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, todo = [], [category.pk]
    while todo:
        pk = todo.pop()
        found.append(pk)
        todo.extend(children.get(pk, []))
    return found


#
# Cases
#


def case_list(*, user: "Viewer") -> QuerySet:
    """The cases the user may see, with what a list row (and a permission check) reads joined in."""
    cases = Case.objects.select_related(
        "category", "grid", "handling_node", "handling_department", "reporter", "assignee"
    )
    return scope(cases, user, "view")


def case_detail(*, user: "Viewer") -> QuerySet:
    """case_list plus the timeline and the photos: a fixed number of queries whatever their length."""
    events = CaseEvent.objects.select_related("actor", "department").order_by("id")
    return case_list(user=user).prefetch_related(Prefetch("events", queryset=events), "photos")


#
# Where a case may be reported
#


def report_grid_list(*, user: "Viewer") -> QuerySet:
    """The grids where the user may report a case: those case_report's own permission check accepts."""
    grids = GridNode.objects.filter(level=Level.GRID).order_by("path")
    return scope_by_codename(grids, user, rule_for(Case).actions["add"])


#
# Public cases
#

# A public case: its citizen did not ask to keep it off public pages (reporter_public), and it was not
# rejected or marked as a duplicate. The same rule twice, as SQL and for one case in hand, kept together
# here (tests/issues/test_visibility.py checks that they agree).
HIDDEN_STATUSES = (Status.REJECTED, Status.DUPLICATE)
_PUBLIC = Q(reporter_public=True) & ~Q(status__in=HIDDEN_STATUSES)


def public_case_list() -> QuerySet:
    """The cases anyone may see (the portal shapes what of them it shows)."""
    return Case.objects.filter(_PUBLIC)


def is_public(case: Case) -> bool:
    return case.reporter_public and case.status not in HIDDEN_STATUSES


def public_location(case: Case) -> tuple[Decimal | None, Decimal | None, str, bool]:
    """(lat, lon, address, blurred) of a public case as anyone may see it: its own, or for a sensitive
    category its grid's centre (grid.selectors.grid_centre) and no address."""
    if case.category.sensitive:
        lat, lon = grid_centre(case.grid)
        return lat, lon, "", True
    return case.lat, case.lon, case.address, False


#
# What a viewer may see of a case
#


@dataclass(frozen=True)
class TimelineEntry:
    event: CaseEvent
    actor: "User | None"  # the user as this viewer may see them: None for the system and a hidden reporter
    by_reporter: bool
    label: str
    photos: list[CasePhoto]


class CaseView:
    """What one viewer (a user, or anonymous) may see of one case.

    - The reporter is shown unless the citizen asked not to be (``reporter_public=False``); then only to
      the reporter themself — to no member of staff, superusers included: the case is handled without
      knowing who reported it (their notices reach them all the same), and a promise that depended on
      who holds the admin role would be none. The same holds for the reporter's own timeline events and
      photos: their actor and uploader are hidden alike, while ``by_reporter`` still says whose side acted.
    - Photos: whoever may see the whole case (grid.permissions "view": the reporter, staff whose grants
      cover it, superusers) opens both copies, the original and the display copy; anyone else opens the
      display copy of a public case that is not in a sensitive category, and nothing else.
    - Labels: issues.workflow.event_label, the one table of the timeline's names.
    """

    VARIANTS = ("display", "original")

    def __init__(self, user: "Viewer", case: Case):
        self.user = user
        self.case = case

    @cached_property
    def sees_case(self) -> bool:
        return can(self.user, "view", self.case)

    @property
    def is_reporter(self) -> bool:
        return self.user.is_authenticated and self.user.pk == self.case.reporter_id

    @property
    def reporter_shown(self) -> bool:
        return self.case.reporter_public or self.is_reporter

    @property
    def reporter(self) -> "User | None":
        return self.case.reporter if self.reporter_shown else None

    def shows_person(self, user_id: int | None) -> bool:
        """Whether this viewer may see who the user of a timeline event or a photo is."""
        return user_id is not None and (user_id != self.case.reporter_id or self.reporter_shown)

    def by_reporter(self, event: CaseEvent) -> bool:
        return event.actor_id is not None and event.actor_id == self.case.reporter_id

    def actor(self, event: CaseEvent) -> "User | None":
        return event.actor if self.shows_person(event.actor_id) else None

    def uploader(self, photo: CasePhoto) -> "User | None":
        return photo.uploaded_by if self.shows_person(photo.uploaded_by_id) else None

    @staticmethod
    def label(event: CaseEvent) -> str:
        return event_label(event.action)

    @cached_property
    def photo_variants(self) -> tuple[str, ...]:
        if self.sees_case:
            return self.VARIANTS
        if is_public(self.case) and not self.case.category.sensitive:
            return ("display",)
        return ()

    def may_open(self, variant: str) -> bool:
        return variant in self.photo_variants

    def photos(self) -> list[CasePhoto]:
        """The case's photos this viewer may open at all (prefetched by case_detail)."""
        return list(self.case.photos.all()) if self.photo_variants else []

    def timeline(self) -> list[TimelineEntry]:
        """The events, oldest first, each with what this viewer may see of it (case_detail prefetches them)."""
        by_event: dict[int | None, list[CasePhoto]] = {}
        for photo in self.photos():
            by_event.setdefault(photo.event_id, []).append(photo)
        return [
            TimelineEntry(event=event, actor=self.actor(event), by_reporter=self.by_reporter(event),
                          label=self.label(event), photos=by_event.get(event.pk, []))
            for event in self.case.events.all()
        ]


def case_view(*, user: "Viewer", case: Case) -> CaseView:
    return CaseView(user, case)


def case_photo(*, user: "Viewer", pk: int, variant: str) -> CasePhoto | None:
    """The photo if this user may open this copy of it, else None (to the caller: not found)."""
    if variant not in CaseView.VARIANTS:
        return None
    photo = CasePhoto.objects.select_related("case__category", "case__grid").filter(pk=pk).first()
    if photo is None or not case_view(user=user, case=photo.case).may_open(variant):
        return None
    return photo


#
# Near a point
#

DUPLICATE_LIMIT = 10  # suggestions offered while reporting: a screen's worth


@dataclass(frozen=True)
class NearCase:
    """A case near a point, as the viewer may place it: `lat`/`lon` is the point measured from."""

    case: Case
    lat: float
    lon: float
    distance_m: float
    seen_in_full: bool  # the viewer sees the whole case (their own; staff: their scope)

    @property
    def blurred(self) -> bool:
        """The point is the grid's centre, and the address is not to be shown."""
        return not self.seen_in_full and self.case.category.sensitive


def _point(own: str, centroid: str, low: str, high: str, full: Q | bool) -> SqlCase | Cast:
    """One coordinate of the point a viewer may see of a case: its own where they see the case in full
    (`full`) or its category is not sensitive; else its grid's centroid, else the middle of the grid's
    bounding box (grid.selectors.grid_centre, in SQL)."""
    exact = Cast(own, FloatField())
    if full is True:
        return exact
    whens = [When(full, then=exact)] if isinstance(full, Q) else []
    return SqlCase(
        *whens,
        When(category__sensitive=False, then=exact),
        When(grid__centroid_lat__isnull=False, grid__centroid_lon__isnull=False,
             then=Cast(f"grid__{centroid}", FloatField())),
        default=(F(f"grid__{low}") + F(f"grid__{high}")) / 2.0,
        output_field=FloatField(),
    )


def _seen_in_full(full: Q | bool):
    if isinstance(full, Q):
        return SqlCase(When(full, then=Value(True)), default=Value(False))
    return Value(full)


def cases_near(cases: QuerySet, lat: float, lon: float, *, radius_m: float, limit: int,
               full: Q | bool = False) -> list[NearCase]:
    """The cases of `cases` whose point lies within `radius_m` of (lat, lon), nearest first, at most `limit`.

    The point is the one the public may see (a sensitive category's case stands at its grid's centre, so
    its distance tells no more than its grid does), except for the cases where `full` holds (True: all),
    which the viewer sees in full anyway. Two queries: the grids near the point, then their cases, filtered
    and ordered by an equirectangular distance (grid.geo.Around); the distance returned is the great-circle
    one. Cases' own coordinates are not indexed; their grid_path is.
    """
    around = Around(lat, lon, radius_m)
    paths = grid_paths_near(around)
    lon_scale = around.lon_scale
    nearness = (F("point_lat") - lat) * (F("point_lat") - lat) + (
        (F("point_lon") - lon) * lon_scale * (F("point_lon") - lon) * lon_scale
    )
    found = (
        # The paths as a list (not a subquery) and on both tables: PostgreSQL then reads the cases and
        # the grids they join through their path indexes, rather than scanning either table whole.
        cases.filter(grid_path__in=paths, grid__path__in=paths)
        .annotate(point_lat=_point("lat", "centroid_lat", "min_lat", "max_lat", full),
                  point_lon=_point("lon", "centroid_lon", "min_lon", "max_lon", full),
                  seen_in_full=_seen_in_full(full))
        .annotate(nearness=nearness)
        .filter(nearness__lte=around.half_lat * around.half_lat)
        .order_by("nearness", "-created_at", "-id")[:limit]
    )
    return [NearCase(case=case, lat=case.point_lat, lon=case.point_lon, seen_in_full=case.seen_in_full,
                     distance_m=distance_m(lat, lon, case.point_lat, case.point_lon)) for case in found]


def duplicate_candidates(*, user: "Viewer", lat: float, lon: float, category: Category, radius_m: float | None = None,
                         limit: int = DUPLICATE_LIMIT) -> list[NearCase]:
    """Open cases of `category` near a point being reported, that the reporter could follow instead of
    filing the problem twice: the public ones, measured from their public point, and those the user sees
    in full (their own; staff: their scope), from their own point. Three queries with the grants."""
    in_scope = scope_q(Case, user, "view")
    visible = Q() if in_scope is None else _PUBLIC | in_scope
    cases = Case.objects.select_related("category", "grid").filter(visible, category=category,
                                                                  status__in=OPEN_STATUSES)
    radius = settings.CASE_DUPLICATE_RADIUS_M if radius_m is None else radius_m
    return cases_near(cases, lat, lon, radius_m=radius, limit=limit, full=True if in_scope is None else in_scope)
