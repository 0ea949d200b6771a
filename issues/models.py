"""Cases: problems reported in a grid and routed level by level until they are closed.

The closed loop of Chinese grid management — collect → register → dispatch → handle → feed back →
verify on site → close — is the state machine in issues.workflow; this module only stores it.
"""

from pathlib import PurePosixPath
from uuid import uuid4

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Substr
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from grid.fields import GridPathField
from grid.models import Department, GridNode, Level

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "Case",
    "CaseEvent",
    "CasePhoto",
    "CaseSequence",
    "Category",
    "CategoryAttribute",
    "Priority",
    "ReporterKind",
    "Status",
]


class Priority(models.IntegerChoices):
    LOW = 1, _("low")
    NORMAL = 2, _("normal")
    HIGH = 3, _("high")
    URGENT = 4, _("urgent")


#
# Categories
#


class Category(models.Model):
    """What kind of problem: a small tree (城市管理 → 市容环卫维护, ...) with routing and deadlines."""

    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    first_level = models.PositiveSmallIntegerField(
        _("handled first at"), choices=[(level.value, level.label) for level in Level if level != Level.CITY],
        default=Level.COMMUNITY,
    )
    department = models.ForeignKey(
        Department, verbose_name=_("responsible department"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="categories",
    )
    accept_within = models.DurationField(_("accept within (working time)"), help_text=_("e.g. 2:00:00 for two hours"))
    resolve_within = models.DurationField(
        _("resolve within (working time)"), help_text=_("per level, e.g. 1 day, 0:00:00")
    )
    default_priority = models.PositiveSmallIntegerField(_("default priority"), choices=Priority.choices,
                                                        default=Priority.NORMAL)
    sensitive = models.BooleanField(
        _("sensitive"), default=False, help_text=_("Exact locations are blurred to the grid in public (e.g. disputes).")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["code"]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name if (get_language() or "zh-hans").startswith("zh") else self.name_en



class CategoryAttribute(models.Model):
    """An extra field a category asks for when a case is reported by a machine (the API, Open311's
    service definition), e.g. how many households a water outage affects. Reports from the portal and
    the field app describe the problem in words and carry no attributes."""

    class Datatype(models.TextChoices):
        STRING = "string", _("one line of text")
        TEXT = "text", _("text")
        NUMBER = "number", _("number")
        DATETIME = "datetime", _("date and time")
        SINGLEVALUELIST = "singlevaluelist", _("one of a list")
        MULTIVALUELIST = "multivaluelist", _("several of a list")

    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.CASCADE,
                                 related_name="attributes")
    code = models.SlugField(_("code"), max_length=50, help_text=_("Sent as attribute[code] on Open311."))
    datatype = models.CharField(_("type"), max_length=16, choices=Datatype.choices, default=Datatype.STRING)
    required = models.BooleanField(_("required"), default=False)
    order = models.PositiveSmallIntegerField(_("order"), default=1)
    description = models.CharField(_("question (Chinese)"), max_length=200)
    description_en = models.CharField(_("question (English)"), max_length=200)
    # For the list types: [{"key": "building", "name": "整栋楼", "name_en": "the whole building"}, ...]
    values = models.JSONField(_("values"), default=list, blank=True,
                              help_text=_('For the list types: [{"key": ..., "name": ..., "name_en": ...}, ...]'))

    class Meta:
        verbose_name = _("category attribute")
        verbose_name_plural = _("category attributes")
        ordering = ["category", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="issues_attribute_code_once"),
        ]

    def __str__(self):
        return self.code

    @property
    def question(self) -> str:
        return self.description if (get_language() or "zh-hans").startswith("zh") else self.description_en

    def value_name(self, value: dict) -> str:
        english = not (get_language() or "zh-hans").startswith("zh")
        return str(value.get("name_en") or value.get("name")) if english else str(value.get("name"))

    def clean(self):
        from django.core.exceptions import ValidationError

        lists = (self.Datatype.SINGLEVALUELIST, self.Datatype.MULTIVALUELIST)
        values = self.values if isinstance(self.values, list) else None
        well_formed = values is not None and all(isinstance(v, dict) and v.get("key") and v.get("name")
                                                 for v in values)
        if self.datatype in lists and not (well_formed and values):
            raise ValidationError({"values": _('A list needs values: [{"key": ..., "name": ...}, ...].')})
        if self.datatype not in lists and values:
            raise ValidationError({"values": _("Only the list types have values.")})

#
# Cases
#


class Status(models.TextChoices):
    REPORTED = "reported", _("reported")
    ACCEPTED = "accepted", _("accepted")
    DISPATCHED = "dispatched", _("dispatched")
    IN_PROGRESS = "in_progress", _("in progress")
    RETURNED = "returned", _("returned")
    RESOLVED = "resolved", _("resolved")
    VERIFIED = "verified", _("verified")
    CLOSED = "closed", _("closed")
    REJECTED = "rejected", _("rejected")
    DUPLICATE = "duplicate", _("duplicate")
    REOPENED = "reopened", _("reopened")


# Statuses in which a level is on the clock: the overdue sweep looks only at these.
OPEN_STATUSES = (
    Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RETURNED, Status.REOPENED,
)
# Statuses a case never leaves: its personal data is anonymised some time after (issues.retention).
FINAL_STATUSES = (Status.CLOSED, Status.REJECTED, Status.DUPLICATE)


class ReporterKind(models.TextChoices):
    GRID_WORKER = "grid_worker", _("grid worker")
    STAFF = "staff", _("staff")
    CITIZEN = "citizen", _("citizen")


class CaseSequence(models.Model):
    """The last reference number handed out per prefix and year; incremented under a row lock."""

    prefix = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "year"], name="issues_sequence_prefix_year")]

    def __str__(self):
        return f"{self.prefix}-{self.year}: {self.last}"


# Levels whose subtrees users are scoped to, below the city (a grid is its whole path: grid_path itself).
_SCOPE_LEVELS = (Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY)


def _prefix(level: int) -> Substr:
    return Substr("grid_path", 1, GridNode.steplen * level)


class Case(models.Model):
    reference = models.CharField(_("reference"), max_length=24, unique=True, editable=False)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="cases")
    # Open311's limit: a GeoReport client may send this much.
    description = models.TextField(_("description"), max_length=4000)
    lat = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6,
                              validators=[MinValueValidator(-90), MaxValueValidator(90)])
    lon = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6,
                              validators=[MinValueValidator(-180), MaxValueValidator(180)])
    address = models.CharField(_("address"), max_length=200, blank=True)
    # No index of its own: grid_path's index serves every lookup by grid (and the sweep writes fewer).
    grid = models.ForeignKey(
        GridNode, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    grid_path = GridPathField(max_length=255, editable=False)

    # Indexed with the path (issues_case_reporter_path): "my cases", and "mine outside my scope?".
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reporter"), on_delete=models.PROTECT, related_name="reported_cases",
        db_index=False,
    )
    reporter_kind = models.CharField(_("reported by"), max_length=16, choices=ReporterKind.choices)
    reporter_public = models.BooleanField(
        _("show the reporter publicly"), default=True, help_text=_("A citizen may ask not to be shown.")
    )
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REPORTED)
    # Who has the case now: a level of the grid's own chain (its node), or a functional department.
    handling_level = models.PositiveSmallIntegerField(_("handling level"), choices=Level.choices)
    handling_node = models.ForeignKey(
        GridNode, verbose_name=_("handling node"), on_delete=models.PROTECT, related_name="+"
    )
    handling_department = models.ForeignKey(
        Department, verbose_name=_("handling department"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="cases",
    )
    dispatched_from_level = models.PositiveSmallIntegerField(
        _("dispatched from level"), choices=Level.choices, null=True, blank=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="assigned_cases",
    )
    # The current level's deadline (to accept while reported, to resolve once dispatched).
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    escalation_count = models.PositiveSmallIntegerField(_("escalations"), default=0)
    flagged_at = models.DateTimeField(_("flagged to the command centre at"), null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self", verbose_name=_("duplicate of"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="duplicates", db_index=False,
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    # Generated by the reporter's client per report, so a report resent from a phone's offline queue
    # (or a double-tapped form) is stored once.
    client_key = models.UUIDField(_("client key"), null=True, blank=True, editable=False)
    # Answers to the category's attributes, by code (CategoryAttribute), checked by issues.services.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    media_url = models.URLField(_("media URL"), max_length=500, blank=True,
                                help_text=_("A photo or video the reporter's system keeps (Open311 media_url)."))
    created_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # When the retention task removed the reporter, the free text and the original photos (issues.retention).
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["grid_path", "id"], name="issues_case_path"),
            models.Index(fields=["status", "grid_path"], name="issues_case_status_path"),
            models.Index(fields=["reporter", "grid_path"], name="issues_case_reporter_path"),
            # The overdue sweep reads only open cases whose deadline passed.
            models.Index(
                fields=["due_at"], name="issues_case_open_due",
                condition=models.Q(status__in=OPEN_STATUSES, flagged_at__isnull=True),
            ),
            # A scope is a subtree at some level: these serve "newest first" and "soonest deadline first"
            # within any subtree by reading one page of index entries (grid.fields.SubtreeLookup).
            *[models.Index(_prefix(level), "id", name=f"issues_case_l{level}_id") for level in _SCOPE_LEVELS],
            # ... and "newest first with this status", the desk's everyday filter (a status is a fifth of a
            # district's cases, spread over its whole id range: without these, the page sorts them all).
            *[models.Index(_prefix(level), "status", "id", name=f"issues_case_l{level}_status_id")
              for level in _SCOPE_LEVELS],
            # The id too: deadlines tie (a category's cases reported in one batch), and the page's order
            # is (deadline, id).
            *[models.Index(_prefix(level), "due_at", "id", name=f"issues_case_l{level}_open_due",
                           condition=models.Q(status__in=OPEN_STATUSES)) for level in _SCOPE_LEVELS],
            models.Index(fields=["grid_path", "due_at", "id"], name="issues_case_grid_open_due",
                         condition=models.Q(status__in=OPEN_STATUSES)),
            # The retention task reads only final cases still holding personal data, by their last change.
            models.Index(
                fields=["updated_at"], name="issues_case_retention",
                condition=models.Q(status__in=FINAL_STATUSES, anonymised_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(handling_level__gte=Level.DISTRICT,
                                                      handling_level__lte=Level.GRID),
                                   name="issues_case_handling_level_in_chain"),
            models.UniqueConstraint(fields=["reporter", "client_key"], condition=models.Q(client_key__isnull=False),
                                    name="issues_case_client_key_once"),
        ]

    def __str__(self):
        return self.reference

    def save(self, *args, **kwargs):
        self.grid_path = self.grid.path
        super().save(*args, **kwargs)

    @property
    def is_overdue(self) -> bool:
        return self.status in OPEN_STATUSES and self.due_at is not None and self.due_at < timezone.now()


def _random_name(folder: str, filename: str) -> str:
    """cases/<year>/<month>/<folder>/<32 random hex digits>.<ext>: a name nobody can guess, so that no
    photo is found by trying names should the files ever be reachable around the access check."""
    suffix = PurePosixPath(filename).suffix.lower()
    return f"cases/{timezone.now():%Y/%m}/{folder}{uuid4().hex}{suffix}"


def photo_original_name(instance, filename: str) -> str:
    return _random_name("", filename)


def photo_display_name(instance, filename: str) -> str:
    return _random_name("display/", filename)


class CasePhoto(models.Model):
    KIND_REPORT = "report"
    KIND_AFTER = "after"
    KIND_COMMENT = "comment"
    KINDS = [(KIND_REPORT, _("reported")), (KIND_AFTER, _("after handling")), (KIND_COMMENT, _("comment"))]

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="photos")
    event = models.ForeignKey("CaseEvent", verbose_name=_("event"), on_delete=models.CASCADE, null=True,
                              blank=True, related_name="photos")
    kind = models.CharField(_("kind"), max_length=10, choices=KINDS, default=KIND_REPORT)
    # Served only through the photo view (issues.api.views.CasePhotoFileView), which applies the case's rules.
    image = models.ImageField(_("image"), upload_to=photo_original_name)
    display = models.ImageField(_("display image"), upload_to=photo_display_name)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["id"]

    def __str__(self):
        return self.image.name

    def file(self, variant: str):
        """The stored copy: "display" (at most PHOTO_DISPLAY_SIZE px) or "original"."""
        return self.display if variant == "display" else self.image

    def url(self, variant: str) -> str:
        return reverse("case-photo", kwargs={"id": self.pk, "variant": variant})

    @property
    def display_url(self) -> str:
        return self.url("display")

    @property
    def original_url(self) -> str:
        return self.url("original")


class CaseEvent(models.Model):
    """The append-only timeline: every transition, who made it, from what to what, and why."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", help_text=_("Empty for the system (e.g. the overdue sweep)."),
    )
    action = models.CharField(_("action"), max_length=24)
    from_status = models.CharField(_("from status"), max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=16, choices=Status.choices)
    from_level = models.PositiveSmallIntegerField(_("from level"), choices=Level.choices, null=True, blank=True)
    to_level = models.PositiveSmallIntegerField(_("to level"), choices=Level.choices, null=True, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    comment = models.TextField(_("comment"), blank=True)
    # For escalations: the deadline that expired. Unique per case, so a deadline escalates once.
    expired_deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("timeline")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "expired_deadline"], name="issues_event_one_escalation_per_deadline",
                condition=models.Q(expired_deadline__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.case_id} {self.action}"
