"""The grid hierarchy (city → district → street office → community → grid), the staff posted at
each level, and the registry of households, residents and places inside each grid.

Every record that hangs off a grid carries its grid's materialized path (``grid_path``) in C
collation, so that "everything under node N" is an index range scan on the record's own table.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from treebeard.mp_tree import MP_Node

from grid.fields import GridPathField
from grid.geo import bbox_of, validate_boundary
from grid.idnumbers import id_number_hash, validate_id_number

__all__ = [
    "Building",
    "Department",
    "DuplicateRegistration",
    "Estate",
    "GridNode",
    "GridNodeGroupObjectPermission",
    "GridNodeUserObjectPermission",
    "Household",
    "Level",
    "Place",
    "Post",
    "Resident",
    "Role",
    "Visit",
    "VisitOutcome",
]


class Level(models.IntegerChoices):
    CITY = 1, _("city")
    DISTRICT = 2, _("district")
    STREET_OFFICE = 3, _("street office")
    COMMUNITY = 4, _("community")
    GRID = 5, _("grid")


# Digits each level appends to its parent's code, after the 4-digit city prefix of the
# administrative division code (CJ/T 349 builds grid codes the same way, level by level).
CODE_DIGITS: dict[int, int] = {
    Level.CITY: 4, Level.DISTRICT: 2, Level.STREET_OFFICE: 3, Level.COMMUNITY: 3, Level.GRID: 3,
}


#
# The tree
#


class GridNode(MP_Node):
    # C collation makes the path's btree index serve prefix ranges (subtree scans).
    path = GridPathField(max_length=255, unique=True)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    code = models.CharField(
        _("code"), max_length=32, unique=True, validators=[RegexValidator(r"^\d+$", _("Digits only."))]
    )
    name = models.CharField(_("name"), max_length=100)
    centroid_lat = models.DecimalField(
        _("centroid latitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    centroid_lon = models.DecimalField(
        _("centroid longitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    boundary = models.JSONField(
        _("boundary"), null=True, blank=True, validators=[validate_boundary],
        help_text=_("GeoJSON Polygon or MultiPolygon, coordinates in [longitude, latitude] order."),
    )
    # Bounding box of the boundary, kept in step with it by save(); the SQL prefilter of locate().
    min_lat = models.FloatField(null=True, blank=True, editable=False)
    max_lat = models.FloatField(null=True, blank=True, editable=False)
    min_lon = models.FloatField(null=True, blank=True, editable=False)
    max_lon = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("grid node")
        verbose_name_plural = _("grid nodes")
        ordering = ["path"]
        indexes = [models.Index(fields=["level", "min_lat", "max_lat", "min_lon", "max_lon"], name="grid_node_bbox")]
        constraints = [
            models.CheckConstraint(condition=models.Q(level=models.F("depth")), name="grid_node_level_is_depth"),
        ]
        permissions = [
            ("view_registry", _("Can view the registry (households, residents, places)")),
            ("change_registry", _("Can change the registry")),
            ("view_personal_id", _("Can see unmasked resident ID numbers")),
            ("manage_posts", _("Can post staff")),
            ("record_visit", _("Can record patrol visits to households and places")),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        box = bbox_of(self.boundary) if self.boundary else (None,) * 4
        self.min_lon, self.min_lat, self.max_lon, self.max_lat = box
        super().save(*args, **kwargs)

    @property
    def is_grid(self) -> bool:
        return self.level == Level.GRID

    def ancestor_paths(self) -> list[str]:
        """Paths of every ancestor, root first: computed from the path, no query."""
        return [self.path[: self.steplen * depth] for depth in range(1, self.depth)]


class GridNodeUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian table: a user's grant on a node (covers its subtree)."""

    content_object = models.ForeignKey(GridNode, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("user grant on a node")
        verbose_name_plural = _("user grants on nodes")


class GridNodeGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(GridNode, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("group grant on a node")
        verbose_name_plural = _("group grants on nodes")


#
# Departments and posts
#


class Department(models.Model):
    """A functional department (city management, sanitation, water supply, ...) of a district or the city."""

    node = models.ForeignKey(GridNode, verbose_name=_("node"), on_delete=models.PROTECT, related_name="departments")
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("functional department")
        verbose_name_plural = _("functional departments")
        ordering = ["node__path", "name"]
        constraints = [models.UniqueConstraint(fields=["node", "name"], name="grid_department_node_name")]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.node_id and self.node.level not in (Level.CITY, Level.DISTRICT):
            raise ValidationError({"node": _("A functional department belongs to a district or the city.")})


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", _("grid worker")
    COMMUNITY_DIRECTOR = "community_director", _("community director")
    STREET_OFFICER = "street_officer", _("street officer")
    DISTRICT_COMMANDER = "district_commander", _("district commander")
    DEPARTMENT_STAFF = "department_staff", _("department staff")


# The level a role is held at; department staff are posted at their department's node.
ROLE_LEVEL = {
    Role.GRID_WORKER: Level.GRID,
    Role.COMMUNITY_DIRECTOR: Level.COMMUNITY,
    Role.STREET_OFFICER: Level.STREET_OFFICE,
    Role.DISTRICT_COMMANDER: Level.DISTRICT,
}


class Post(models.Model):
    """A user holding a role at a node (or in a department). The grants it implies are kept by grid.services."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="posts"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    node = models.ForeignKey(GridNode, verbose_name=_("node"), on_delete=models.PROTECT, related_name="posts")
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="posts", null=True, blank=True
    )
    since = models.DateField(_("since"), auto_now_add=True)

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        ordering = ["node__path", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "node"], name="grid_post_user_role_node"),
            models.CheckConstraint(
                condition=models.Q(role=Role.DEPARTMENT_STAFF, department__isnull=False)
                | (~models.Q(role=Role.DEPARTMENT_STAFF) & models.Q(department__isnull=True)),
                name="grid_post_department_iff_department_staff",
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} · {self.node.name}"

    def clean(self):
        super().clean()
        if self.role == Role.DEPARTMENT_STAFF:
            if not self.department_id:
                raise ValidationError({"department": _("Department staff must be posted to a department.")})
            self.node_id = self.department.node_id
            return
        if self.department_id:
            raise ValidationError({"department": _("Only department staff are posted to a department.")})
        if self.node_id and self.node.level != ROLE_LEVEL[self.role]:
            raise ValidationError(
                {"node": _("A %(role)s is posted at a %(level)s.") % {
                    "role": self.get_role_display(), "level": Level(ROLE_LEVEL[self.role]).label}}
            )


#
# Registry: what is inside a grid
#


class GridRecord(models.Model):
    """A record registered in one grid; carries the grid's path for index-only subtree scoping."""

    grid = models.ForeignKey(
        GridNode, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+",
        limit_choices_to={"level": Level.GRID},
    )
    grid_path = GridPathField(max_length=255, editable=False)

    class Meta:
        abstract = True
        # A btree in C collation serves the subtree ranges (no varchar_pattern_ops twin needed), and
        # with id second it also returns a scope's first page in order, whatever the scope's size.
        indexes = [models.Index(fields=["grid_path", "id"], name="%(app_label)s_%(class)s_path")]

    def save(self, *args, **kwargs):
        # The path follows the grid; grid.services.node_move rewrites it in bulk when a grid moves.
        self.grid_path = self.grid.path
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.grid_id and self.grid.level != Level.GRID:
            raise ValidationError({"grid": _("Records are registered in a grid, the lowest level.")})


class Estate(GridRecord):
    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(_("address"), max_length=200, blank=True)

    class Meta(GridRecord.Meta):
        verbose_name = _("estate")
        verbose_name_plural = _("estates")
        ordering = ["grid_path", "name"]
        constraints = [models.UniqueConstraint(fields=["grid", "name"], name="grid_estate_grid_name")]

    def __str__(self):
        return self.name


class Building(models.Model):
    estate = models.ForeignKey(Estate, verbose_name=_("estate"), on_delete=models.PROTECT, related_name="buildings")
    number = models.CharField(_("number"), max_length=20)
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["estate", "number"]
        constraints = [models.UniqueConstraint(fields=["estate", "number"], name="grid_building_estate_number")]

    def __str__(self):
        return _("%(estate)s building %(number)s") % {"estate": self.estate.name, "number": self.number}


class Household(GridRecord):
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, related_name="households", null=True, blank=True
    )
    address = models.CharField(_("address"), max_length=200)
    head_name = models.CharField(_("head of household"), max_length=50, blank=True)
    phone = models.CharField(_("phone number"), max_length=20, blank=True)
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    class Meta(GridRecord.Meta):
        verbose_name = _("household")
        verbose_name_plural = _("households")
        # Registry order: grid by grid, then as registered. It is the index order, so a page is
        # an index range walk; "newest first" over a district would have to read every row in it.
        ordering = ["grid_path", "id"]

    def __str__(self):
        return self.address

    def clean(self):
        super().clean()
        if self.building_id and self.grid_id and self.building.estate.grid_id != self.grid_id:
            raise ValidationError({"building": _("The building is in another grid.")})


class Resident(models.Model):
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.CASCADE, related_name="residents"
    )
    name = models.CharField(_("name"), max_length=50)
    id_number = models.CharField(_("ID card number"), max_length=18, validators=[validate_id_number])
    # Every look-up by ID number goes through this keyed hash (grid.idnumbers.id_number_hash), kept
    # in step with id_number by save(): no index of the numbers themselves exists to be read or probed.
    id_number_hash = models.CharField(_("ID number look-up hash"), max_length=64, editable=False)
    # A registration of a number another resident already holds, accepted and waiting for the review
    # of staff who see both (DuplicateRegistration); the registrar is not told (see grid.services).
    duplicate = models.BooleanField(_("duplicate registration under review"), default=False, editable=False)
    relation = models.CharField(_("relation to head"), max_length=20, blank=True)
    phone = models.CharField(_("phone number"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        ordering = ["household", "id"]
        constraints = [
            # One registration per ID number, besides those under review.
            models.UniqueConstraint(fields=["id_number_hash"], condition=models.Q(duplicate=False),
                                    name="grid_resident_id_number_once"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.id_number_hash = id_number_hash(self.id_number)
        super().save(*args, **kwargs)


class DuplicateRegistration(models.Model):
    """An ID number registered a second time, by someone who cannot see the first registration.

    The second registration is stored (flagged ``duplicate``) and this review is opened for the staff
    whose grants cover both households: the registrar gets the same answer as for an unused number,
    so the registry cannot be probed for numbers outside their grid.
    """

    resident = models.ForeignKey(
        Resident, verbose_name=_("new registration"), on_delete=models.CASCADE, related_name="+",
    )
    original = models.ForeignKey(
        Resident, verbose_name=_("earlier registration"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("resolved by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    resolution = models.CharField(_("resolution"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("duplicate registration")
        verbose_name_plural = _("duplicate registrations")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return _("Duplicate registration %(id)s") % {"id": self.pk}


class PlaceKind(models.TextChoices):
    BUSINESS = "business", _("business")
    PUBLIC_PLACE = "public_place", _("public place")


class Place(GridRecord):
    kind = models.CharField(_("kind"), max_length=20, choices=PlaceKind.choices)
    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    lat = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    lon = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)

    class Meta(GridRecord.Meta):
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering = ["grid_path", "id"]

    def __str__(self):
        return self.name


#
# Patrols: grid workers' visits to the households and places of their grid (入户走访)
#


# A phone's clock may run a little ahead of the server's; a visit later than this is a wrong date.
VISIT_CLOCK_SKEW = timedelta(minutes=5)


class VisitOutcome(models.TextChoices):
    ALL_WELL = "all_well", _("all well")
    PROBLEM_FOUND = "problem_found", _("problem found")
    NOBODY_HOME = "nobody_home", _("nobody home")


class Visit(GridRecord):
    """One patrol visit to a household or a place; its grid is the visited record's grid."""

    # The composite indexes below serve these foreign keys' lookups too, so they get none of their own.
    # A household or place taken off the registry takes its visits with it, as it does its residents.
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.CASCADE, related_name="visits",
        null=True, blank=True, db_index=False,
    )
    place = models.ForeignKey(
        Place, verbose_name=_("place"), on_delete=models.CASCADE, related_name="visits",
        null=True, blank=True, db_index=False,
    )
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("visitor"), on_delete=models.PROTECT, related_name="visits"
    )
    visited_at = models.DateTimeField(_("visited at"), default=timezone.now, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=VisitOutcome.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    # Made by the form the visitor filled in: a double tap or a resent form records one visit.
    client_key = models.UUIDField(_("client key"), null=True, blank=True, editable=False)

    class Meta(GridRecord.Meta):
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-visited_at", "-id"]
        # "The last visit of this household" (id breaks ties) is the first entry of its index range.
        indexes = [
            *GridRecord.Meta.indexes,
            models.Index(fields=["household", "-visited_at", "-id"], name="grid_visit_household_last",
                         condition=models.Q(household__isnull=False)),
            models.Index(fields=["place", "-visited_at", "-id"], name="grid_visit_place_last",
                         condition=models.Q(place__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(household__isnull=False, place__isnull=True)
                | models.Q(household__isnull=True, place__isnull=False),
                name="grid_visit_household_xor_place",
            ),
            models.UniqueConstraint(fields=["visitor", "client_key"], condition=models.Q(client_key__isnull=False),
                                    name="grid_visit_client_key_once"),
        ]

    def __str__(self):
        return f"{self.target} · {self.get_outcome_display()}"

    @property
    def target(self) -> Household | Place | None:
        return self.household if self.household_id else self.place

    def clean(self):
        super().clean()
        if bool(self.household_id) == bool(self.place_id):
            message = _("A visit is to one household or one place.")
            raise ValidationError({"household": message, "place": message})
        if self.grid_id and self.target.grid_id != self.grid_id:
            raise ValidationError({"grid": _("A visit is recorded in the grid of what was visited.")})
        if self.visited_at and self.visited_at > timezone.now() + VISIT_CLOCK_SKEW:
            raise ValidationError({"visited_at": _("A visit cannot be in the future.")})
