"""Serializers of the cases API: categories, case rows and details (with the timeline), and the
request bodies of reporting and of each workflow transition."""

import math
from functools import cache

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from grid.models import Department, GridNode, Level
from issues.models import Case, CaseEvent, CasePhoto, Category, CategoryAttribute, Priority
from issues.selectors import CaseView, case_view
from issues.services import transitions_for
from issues.workflow import TRANSITIONS

__all__ = [
    "CaseDetailSerializer",
    "CaseListSerializer",
    "CasePhotosSerializer",
    "CaseReportMultipartSerializer",
    "CaseReportSerializer",
    "CategorySerializer",
    "NearbyCaseSerializer",
    "NearbyQuerySerializer",
    "transition_serializer",
]


#
# Fields
#


@extend_schema_field(OpenApiTypes.INT)
class SecondsField(serializers.Field):
    """A duration as whole seconds."""

    def to_representation(self, value):
        return int(value.total_seconds())


class FormBooleanField(serializers.BooleanField):
    """A boolean whose absence from a multipart form means its default, not False as DRF assumes."""

    default_empty_html = empty


@extend_schema_field({"type": "string", "description": "A username or a user id."})
class UserField(serializers.Field):
    default_error_messages = {"does_not_exist": _("No active user has this username or id.")}

    def to_internal_value(self, data):
        users = get_user_model().objects.filter(is_active=True)
        text = str(data).strip()
        lookup = {"pk": int(text)} if text.isdigit() else {"username": text}
        user = users.filter(**lookup).first()
        if user is None:
            self.fail("does_not_exist")
        return user

    def to_representation(self, user):
        return user.username


@extend_schema_field(OpenApiTypes.INT)
class VisibleCasePrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A case id among the cases the requesting user may see: the others read as 'does not exist'."""

    def get_queryset(self):
        from issues.selectors import case_list

        return case_list(user=self.context["request"].user)


# Each choice set appears once as a named enum in the schema (LevelEnum from the grid API, StatusEnum,
# PriorityEnum): the other fields holding the same values are plain numbers or strings, so that
# drf-spectacular neither names one set twice nor warns (manage.py check --deploy fails on warnings).
_LEVELS = "1 city, 2 district, 3 street office, 4 community, 5 grid (see LevelEnum)."


def _level(**kwargs):
    return serializers.IntegerField(read_only=True, help_text=_LEVELS, **kwargs)


def _status(**kwargs):
    return serializers.CharField(read_only=True, help_text="A case status (see StatusEnum).", **kwargs)


def _photo_list(**kwargs):
    return serializers.ListField(child=serializers.FileField(), required=False, **kwargs)


#
# Categories
#


class CategoryAttributeSerializer(serializers.ModelSerializer):
    question = serializers.CharField(read_only=True, help_text="In the request's language.")
    values = serializers.SerializerMethodField(help_text="For the list types: the keys to send, with their names.")

    class Meta:
        model = CategoryAttribute
        fields = ["code", "datatype", "required", "order", "question", "values"]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "object", "properties": {
        "key": {"type": "string"}, "name": {"type": "string"}}}})
    def get_values(self, attribute):
        return [{"key": str(v["key"]), "name": attribute.value_name(v)} for v in attribute.values]


class CategorySerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True,
                                 help_text="In the request's language (Chinese unless Accept-Language says en).")
    name_zh = serializers.CharField(source="name", read_only=True)
    default_priority = serializers.IntegerField(read_only=True, help_text="1 low … 4 urgent (see PriorityEnum).")
    accept_within = SecondsField(read_only=True, help_text="Working seconds to accept a new case.")
    resolve_within = SecondsField(read_only=True, help_text="Working seconds per level to resolve a case.")
    attributes = CategoryAttributeSerializer(many=True, read_only=True,
                                             help_text="Extra answers a report in this category may carry.")

    class Meta:
        model = Category
        fields = [
            "id", "parent", "code", "name", "name_zh", "name_en", "first_level", "department", "accept_within",
            "resolve_within", "default_priority", "sensitive", "attributes",
        ]
        read_only_fields = fields


#
# Cases: output
#


def _view(serializer: serializers.Serializer, case: Case) -> CaseView:
    return case_view(user=serializer.context["request"].user, case=case)


class CaseListSerializer(serializers.ModelSerializer):
    """A row of the list: no timeline, no photos (a fixed number of queries per page)."""

    category_name = serializers.CharField(source="category.display_name", read_only=True)
    grid_name = serializers.CharField(source="grid.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    reporter = serializers.SerializerMethodField(help_text="Null when the reporter asked not to be shown.")
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_overdue = serializers.BooleanField(read_only=True)
    handling_level = _level()
    version = serializers.IntegerField(
        read_only=True, help_text="Counts the changes of the case itself (status, level, assignee …); send it back "
                                  "with a transition, or the ETag in If-Match. Comments and added photos join the "
                                  "timeline without changing it.",
    )

    class Meta:
        model = Case
        fields = [
            "id", "reference", "status", "status_display", "category", "category_name", "priority", "grid",
            "grid_name", "lat", "lon", "address", "handling_level", "handling_node", "handling_department",
            "assignee", "reporter", "reporter_kind", "created_at", "due_at", "is_overdue", "version",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reporter(self, case):
        reporter = _view(self, case).reporter
        return reporter.username if reporter is not None else None


class CasePhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="The display copy (at most 1280 px on the long side), served with the API's authentication."
    )
    original_url = serializers.SerializerMethodField(help_text="The photo as uploaded (without its metadata); "
                                                               "null when you may open only the display copy.")

    class Meta:
        model = CasePhoto
        fields = ["id", "kind", "url", "original_url", "width", "height", "event", "uploaded_at"]
        read_only_fields = fields

    def _url(self, photo, variant: str) -> str | None:
        if not self.context["case_view"].may_open(variant):
            return None
        request = self.context.get("request")
        url = photo.url(variant)
        return request.build_absolute_uri(url) if request else url

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, photo):
        return self._url(photo, "display")

    @extend_schema_field(serializers.URLField(
        allow_null=True, help_text="Null for a viewer who may not open the original, and once the retention period "
                                   "removed it."))
    def get_original_url(self, photo):
        return self._url(photo, "original") if photo.image else None


class CaseEventSerializer(serializers.ModelSerializer):
    """An event of the timeline as issues.selectors.CaseView lets the requesting user see it."""

    label = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField(
        help_text="Null for the system, and for the reporter when they asked not to be shown."
    )
    by_reporter = serializers.SerializerMethodField()
    photos = serializers.SerializerMethodField()
    from_status = _status()
    to_status = _status()
    from_level = _level(allow_null=True)
    to_level = _level(allow_null=True)

    class Meta:
        model = CaseEvent
        fields = [
            "id", "action", "label", "actor", "by_reporter", "from_status", "to_status", "from_level", "to_level",
            "department", "comment", "created_at", "photos",
        ]
        read_only_fields = fields

    def to_representation(self, entry):
        self._entry = entry  # a TimelineEntry: the event and what the user may see of it
        return super().to_representation(entry.event)

    @extend_schema_field(OpenApiTypes.STR)
    def get_label(self, event):
        return self._entry.label

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, event):
        return self._entry.actor.username if self._entry.actor is not None else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_by_reporter(self, event):
        return self._entry.by_reporter

    @extend_schema_field(CasePhotoSerializer(many=True))
    def get_photos(self, event):
        return CasePhotoSerializer(self._entry.photos, many=True, context=self.context).data


class CaseDetailSerializer(CaseListSerializer):
    """A case with its photos, its timeline and what the requesting user may do to it now."""

    photos = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField(help_text="The timeline, oldest first.")
    actions = serializers.SerializerMethodField(
        help_text="The transitions this user may make now: POST cases/{id}/<action>/."
    )
    dispatched_from_level = _level(allow_null=True)

    class Meta(CaseListSerializer.Meta):
        fields = [
            *CaseListSerializer.Meta.fields, "description", "attributes", "media_url", "reporter_public",
            "dispatched_from_level",
            "escalation_count", "flagged_at", "duplicate_of", "resolved_at", "closed_at", "updated_at", "photos",
            "events", "actions",
        ]
        read_only_fields = fields

    def to_representation(self, case):
        self._case_view = _view(self, case)
        return super().to_representation(case)

    @extend_schema_field(CasePhotoSerializer(many=True))
    def get_photos(self, case):
        context = {**self.context, "case_view": self._case_view}
        return CasePhotoSerializer(self._case_view.photos(), many=True, context=context).data

    @extend_schema_field(CaseEventSerializer(many=True))
    def get_events(self, case):
        context = {**self.context, "case_view": self._case_view}
        return CaseEventSerializer(self._case_view.timeline(), many=True, context=context).data

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(TRANSITIONS))))
    def get_actions(self, case):
        return [t.name for t in transitions_for(self.context["request"].user, case)]


#
# Cases: input
#


class CaseReportSerializer(serializers.Serializer):
    """A problem seen on site. As JSON, photos follow with POST cases/{id}/photos/."""

    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.filter(is_active=True))
    description = serializers.CharField(max_length=4000, allow_blank=True)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    grid = serializers.PrimaryKeyRelatedField(
        queryset=GridNode.objects.filter(level=Level.GRID), required=False, allow_null=True,
        help_text="Best omitted: the grid containing the location is found. When sent, it must contain the "
                  "location, give or take REPORT_GRID_TOLERANCE_M metres (50 by default), else 400 (field `grid`).",
    )
    reporter_public = FormBooleanField(required=False, default=True,
                                       help_text="A citizen may ask not to be shown to staff.")
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, allow_null=True,
        help_text="Staff only: the category's default priority when omitted. A citizen's report always takes the "
                  "default; a citizen sending a priority is refused (400, field `priority`).",
    )
    resolve_on_spot = FormBooleanField(required=False, default=False,
                                       help_text="A grid worker handled it on the spot (needs resolution and "
                                                 "after_photos).")
    resolution = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    attributes = serializers.DictField(
        required=False, help_text="Answers to the category's attributes, by code (see the category's attributes); "
                                  "a list of keys for a multivaluelist.",
    )
    media_url = serializers.URLField(max_length=500, required=False, allow_blank=True,
                                     help_text="A link to a photo kept by the reporter's system.")


class CaseReportMultipartSerializer(CaseReportSerializer):
    """A problem seen on site with its photos, in one multipart request."""

    photos = _photo_list(help_text="Photos of the problem (JPEG, PNG or WebP); repeat the field for several.")
    after_photos = _photo_list(help_text="With resolve_on_spot: photos taken after handling.")


class CaseTransitionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, required=False,
        help_text="The version of the case you read; required unless an If-Match header carries its ETag.",
    )
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    photos = _photo_list(help_text="Photos to attach (multipart); 'after handling' photos with resolve.")
    level = serializers.ChoiceField(
        choices=Level.choices, required=False, allow_null=True,
        help_text="The level of the case's own chain to dispatch to (district to grid).",
    )
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True,
        help_text="A functional department to dispatch to (instead of a level).",
    )
    assignee = UserField(required=False, allow_null=True)
    duplicate_of = VisibleCasePrimaryKeyField(required=False, allow_null=True, help_text="The original case.")


# The fields each transition reads beyond version, comment and photos.
_TRANSITION_FIELDS = {
    "dispatch": ("level", "department"),
    "transfer": ("level", "department"),
    "assign": ("assignee",),
    "mark_duplicate": ("duplicate_of",),
}
_COMMON_FIELDS = ("version", "comment", "photos")


@cache
def transition_serializer(name: str) -> type[serializers.Serializer]:
    """The request body of one transition: its own class, so the schema shows only what it reads."""
    keep = {*_COMMON_FIELDS, *_TRANSITION_FIELDS.get(name, ())}
    if not TRANSITIONS[name].versioned:
        keep.discard("version")  # a comment reads none (issues.workflow)
    fields = {key: field for key, field in CaseTransitionSerializer().get_fields().items() if key in keep}
    if TRANSITIONS[name].needs_comment:
        fields["comment"] = serializers.CharField(max_length=2000, help_text="Required: a reason or a comment.")
    camel = "".join(part.capitalize() for part in name.split("_"))
    return type(f"Case{camel}Serializer", (serializers.Serializer,), {**fields, "__module__": __name__})


class CasePhotosSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    photos = serializers.ListField(child=serializers.FileField(), allow_empty=False,
                                   help_text="One or more photos; repeat the field for several.")


#
# Possible duplicates near a point being reported
#


class FiniteFloatField(serializers.FloatField):
    """A float that is a number: "nan" and "inf" parse as floats and would pass any min/max check."""

    default_error_messages = {"not_finite": _("A finite number is required.")}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class NearbyQuerySerializer(serializers.Serializer):
    lat = FiniteFloatField(min_value=-90, max_value=90, help_text="Latitude of the problem being reported.")
    lon = FiniteFloatField(min_value=-180, max_value=180, help_text="Longitude of the problem being reported.")
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.filter(is_active=True),
                                                  help_text="The category being reported.")


class NearbyCaseSerializer(serializers.Serializer):
    """An open case near the point, as the requesting user may see it (issues.selectors.NearCase)."""

    id = serializers.SerializerMethodField(help_text="Null unless you may open the case (GET cases/{id}/).")
    reference = serializers.CharField(source="case.reference")
    status = _status(source="case.status")
    status_display = serializers.CharField(source="case.get_status_display")
    category = serializers.IntegerField(source="case.category_id")
    category_name = serializers.CharField(source="case.category.display_name")
    description = serializers.CharField(source="case.description")
    area = serializers.CharField(source="case.grid.name", help_text="The grid the case lies in.")
    address = serializers.SerializerMethodField(help_text="Empty where the location is blurred.")
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    blurred = serializers.BooleanField(
        help_text="True where the point is the grid's centre (a sensitive category you do not see in full)."
    )
    distance_m = serializers.IntegerField(help_text="From the point asked about, in metres.")
    created_at = serializers.DateTimeField(source="case.created_at")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_id(self, near):
        return near.case.pk if near.seen_in_full else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_address(self, near):
        return "" if near.blurred else near.case.address


class NearbyCasesSerializer(serializers.Serializer):
    radius_m = serializers.IntegerField(help_text="How far the search reached (settings.CASE_DUPLICATE_RADIUS_M).")
    results = NearbyCaseSerializer(many=True, help_text="Nearest first.")
