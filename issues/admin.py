"""Admin for cases and categories.

Categories are city-wide configuration: staff may read them, only superusers change them.

Cases are never added or edited through a form: the workflow (issues.services.case_transition) is
the only way a case changes, so the change page is read-only and the changelist's actions (accept,
assign to me, escalate, resolve, close) run the transition case by case, each reporting its own
success or failure. The list is scoped to the user's subtree by ScopedAdmin (grid.permissions). The
timeline is an append-only inline; photos show as thumbnails; the location is drawn as a small
inline SVG of the grid's boundary with the point marked (no map tiles, nothing fetched at run time).
"""

import math
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from civic.admin_utils import ReadOnlyAdminMixin
from civic.workcal import working_day_length
from grid.admin import ScopedAdmin
from grid.models import Level
from grid.permissions import can, has_any_grant
from issues.models import OPEN_STATUSES, Case, CaseEvent, CasePhoto, Category, CategoryAttribute
from issues.selectors import CaseView, case_view
from issues.services import StaleVersion, case_transition
from issues.workflow import TRANSITIONS

__all__ = ["CaseAdmin", "CategoryAdmin", "OverdueFilter", "location_svg"]


def _working_time(duration) -> str:
    """A deadline as staff say it: "2 working days", "4 h"."""
    day = working_day_length()
    if duration >= day and duration % day == timedelta(0):
        days = duration // day
        return ngettext("%(n)d working day", "%(n)d working days", days) % {"n": days}
    hours = duration.total_seconds() / 3600
    return gettext("%(n)s h") % {"n": f"{hours:g}"}


#
# Categories
#


class CategoryAttributeInline(admin.TabularInline):
    """The extra answers a machine's report in this category carries (the API, Open311's service definition)."""

    model = CategoryAttribute
    fields = ["order", "code", "datatype", "required", "description", "description_en", "values"]
    extra = 0

    def has_add_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["tree_name", "code", "name_en", "first_level", "department", "accept", "resolve",
                    "default_priority", "sensitive", "is_active"]
    list_filter = ["first_level", "department", "sensitive", "is_active"]
    search_fields = ["code", "name", "name_en"]
    list_select_related = ["parent", "department"]
    # Tree order: each top-level category, then its children.
    ordering = [Coalesce("parent__code", "code"), F("parent").asc(nulls_first=True), "code"]
    fields = ["parent", "code", "name", "name_en", "first_level", "department", "accept_within", "resolve_within",
              "default_priority", "sensitive", "is_active"]
    inlines = [CategoryAttributeInline]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and has_any_grant(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    # City-wide configuration: routing and deadlines of every case. Superusers only.
    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("name"), ordering="name")
    def tree_name(self, category):
        if category.parent_id:
            return format_html("\u3000└ {}", category.name)
        return format_html("<strong>{}</strong>", category.name)

    @admin.display(description=_("accept within"), ordering="accept_within")
    def accept(self, category):
        return _working_time(category.accept_within)

    @admin.display(description=_("resolve within"), ordering="resolve_within")
    def resolve(self, category):
        return _working_time(category.resolve_within)


#
# The location map
#

MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 320, 220, 12


def _rings(boundary) -> list[list[tuple[float, float]]]:
    if not isinstance(boundary, dict):
        return []
    coordinates = boundary.get("coordinates") or []
    polygons = [coordinates] if boundary.get("type") == "Polygon" else coordinates
    if boundary.get("type") not in ("Polygon", "MultiPolygon"):
        return []
    return [[(float(x), float(y)) for x, y, *_z in ring] for polygon in polygons for ring in polygon]


def location_svg(boundary, lat, lon, *, label: str = "") -> str:
    """An inline SVG: the boundary (GeoJSON Polygon/MultiPolygon, [lon, lat]) with the point marked.

    Equirectangular, with longitude shrunk by cos(latitude) so that shapes keep their proportions.
    """
    lat, lon = float(lat), float(lon)
    rings = _rings(boundary)
    points = [p for ring in rings for p in ring] + [(lon, lat)]
    min_x, max_x = min(x for x, _y in points), max(x for x, _y in points)
    min_y, max_y = min(y for _x, y in points), max(y for _x, y in points)
    shrink = math.cos(math.radians((min_y + max_y) / 2))
    span_x, span_y = (max_x - min_x) * shrink, max_y - min_y
    if span_x <= 0 and span_y <= 0:  # a point without a boundary: any scale will do
        span_x = span_y = 0.001
    scale = min((MAP_WIDTH - 2 * MAP_MARGIN) / span_x if span_x > 0 else math.inf,
                (MAP_HEIGHT - 2 * MAP_MARGIN) / span_y if span_y > 0 else math.inf)
    width, height = span_x * scale + 2 * MAP_MARGIN, span_y * scale + 2 * MAP_MARGIN

    def xy(x: float, y: float) -> str:
        return f"{MAP_MARGIN + (x - min_x) * shrink * scale:.1f} {MAP_MARGIN + (max_y - y) * scale:.1f}"

    path = " ".join("M " + " L ".join(xy(x, y) for x, y in ring) + " Z" for ring in rings if ring)
    px, py = xy(lon, lat).split()
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="case-map" width="{w}" height="{h}" viewBox="0 0 {w} {h}"'
        ' role="img" aria-label="{label}">'
        '<rect width="{w}" height="{h}" fill="#f4f6f8" stroke="#ccc"/>'
        '<path d="{path}" fill="#dce8f2" stroke="#417690" stroke-width="1.5" fill-rule="evenodd"/>'
        '<circle cx="{px}" cy="{py}" r="6" fill="#ba2121" stroke="#fff" stroke-width="2"/>'
        "</svg>",
        w=f"{width:.0f}", h=f"{height:.0f}", label=label, path=path, px=px, py=py,
    )


def osm_url(lat, lon) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


#
# Cases
#


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("overdue")), ("no", _("on time"))]

    def queryset(self, request, queryset):
        overdue = Q(status__in=OPEN_STATUSES, due_at__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


def _person(user) -> str:
    name = f"{user.last_name}{user.first_name}"  # Chinese order: surname first
    return f"{name} ({user.get_username()})" if name else user.get_username()


HIDDEN_REPORTER = _("the reporter (asked not to be shown)")


class _ViewedFormSet(BaseInlineFormSet):
    """Hands each row the viewer's CaseView (issues.selectors), so that the row's columns show only
    what that viewer may see: an admin column is given the row and nothing of the request."""

    case_view: CaseView | None = None

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.case_view = self.case_view
        return form


class _ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows of the case, shown to whoever may see the case; nobody adds, edits or deletes them here."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    formset = _ViewedFormSet

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None):
        return obj is None or can(request.user, "view", obj)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        view = case_view(user=request.user, case=obj) if obj is not None else None
        return type(formset.__name__, (formset,), {"case_view": view})


class CaseEventInline(_ReadOnlyInline):
    """The timeline: append-only, written by the workflow and the overdue sweep."""

    model = CaseEvent
    fields = ["created_at", "who", "what", "from_status", "to_status", "from_level", "to_level", "department",
              "comment", "expired_deadline"]
    ordering = ["id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "department")

    @admin.display(description=_("actor"))
    def who(self, event):
        if event.actor_id is None:
            return gettext("system (overdue sweep)")
        actor = event.case_view.actor(event)
        return _person(actor) if actor is not None else HIDDEN_REPORTER

    @admin.display(description=_("action"))
    def what(self, event):
        return CaseView.label(event)


class CasePhotoInline(_ReadOnlyInline):
    model = CasePhoto
    fields = ["thumbnail", "kind", "uploader", "uploaded_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")

    @admin.display(description=_("photo"))
    def thumbnail(self, photo):
        if not photo.case_view.may_open("display"):
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" loading="lazy"'
            ' style="max-width:160px;max-height:120px"></a>',
            photo.original_url if photo.case_view.may_open("original") else photo.display_url, photo.display_url,
            photo.get_kind_display(),
        )

    @admin.display(description=_("uploaded by"))
    def uploader(self, photo):
        user = photo.case_view.uploader(photo)
        return _person(user) if user is not None else HIDDEN_REPORTER


class TransitionCommentForm(forms.Form):
    comment = forms.CharField(label=_("comment"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, ScopedAdmin):
    # The workflow is the only way to change a case: no add form, no change form, no delete.
    list_display = ["reference", "category", "status", "handling", "grid", "due", "priority"]
    list_filter = ["status", "category", OverdueFilter, "handling_level"]
    search_fields = ["reference", "description", "address"]
    list_select_related = ["category", "grid", "handling_node", "handling_department"]
    list_per_page = 50
    inlines = [CaseEventInline, CasePhotoInline]
    actions = ["accept", "assign_to_me", "escalate", "resolve", "close"]
    fieldsets = [
        (None, {"fields": ["reference", "status", "category", "priority", "description"]}),
        (_("Location"), {"fields": ["address", "grid", "location"]}),
        (_("Handling"), {"fields": ["handling_level", "handling_node", "handling_department", "assignee", "due",
                                    "escalation_count", "flagged_at", "dispatched_from_level", "duplicate_of"]}),
        (_("Reported"), {"fields": ["reported_by", "reporter_kind", "reporter_public", "created_at"]}),
        (_("Dates"), {"fields": ["updated_at", "resolved_at", "closed_at", "version"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

    def has_handle_permission(self, request):
        """The actions are offered to whoever may handle cases somewhere; each case is checked again."""
        return self._holds(request, "handle")

    #
    # What of a case the viewer may see (issues.selectors.CaseView)
    #

    def get_object(self, request, object_id, from_field=None):
        case = super().get_object(request, object_id, from_field)
        if case is not None:
            case.case_view = case_view(user=request.user, case=case)
        return case

    def lookup_allowed(self, lookup, value, request=None):
        # Django lets any lookup on a model's own fields through the changelist's URL: ?reporter=<id> would
        # list the cases a person reported, including those where they asked not to be shown.
        if lookup.split("__")[0] in ("reporter", "reporter_id"):
            return False
        return super().lookup_allowed(lookup, value, request)

    #
    # Columns and fields
    #

    @admin.display(description=_("handled by"), ordering="handling_level")
    def handling(self, case):
        if case.handling_department_id:
            return case.handling_department.name
        return f"{Level(case.handling_level).label} · {case.handling_node.name}"

    @admin.display(description=_("due at"), ordering="due_at")
    def due(self, case):
        if case.due_at is None:
            return "—"
        when = date_format(timezone.localtime(case.due_at), "SHORT_DATETIME_FORMAT")
        if case.is_overdue:
            flagged = gettext(", flagged") if case.flagged_at else ""
            return format_html('<span class="overdue" style="color:#ba2121;font-weight:bold">⚠ {} ({}{})</span>',
                               when, gettext("overdue"), flagged)
        return when

    @admin.display(description=_("reporter"))
    def reported_by(self, case):
        reporter = case.case_view.reporter
        return _person(reporter) if reporter is not None else HIDDEN_REPORTER

    @admin.display(description=_("map"))
    def location(self, case):
        grid = case.grid
        svg = location_svg(grid.boundary, case.lat, case.lon, label=f"{grid.name}: {case.lat}, {case.lon}")
        return format_html(
            '{}<div>{}, {} · <a href="{}" target="_blank" rel="noopener">{}</a></div>',
            svg, case.lat, case.lon, osm_url(case.lat, case.lon), gettext("open in OpenStreetMap"),
        )

    #
    # Actions: the workflow, case by case
    #

    def _transition(self, request, queryset, name: str, *, comment: str = "") -> None:
        label = TRANSITIONS[name].label
        done = []
        for case in queryset.order_by("pk"):
            try:
                case_transition(actor=request.user, case=case, name=name, version=case.version, comment=comment,
                                assignee=request.user if name == "assign" else None)
            except PermissionDenied:
                self.message_user(request, gettext("%(reference)s: you may not %(action)s this case.")
                                  % {"reference": case.reference, "action": label}, messages.ERROR)
            except ValidationError as exc:
                self.message_user(request, f"{case.reference}: {' '.join(exc.messages)}", messages.ERROR)
            except StaleVersion:
                self.message_user(request, gettext("%(reference)s was changed meanwhile by someone else; "
                                                   "nothing was done. Reload and try again.")
                                  % {"reference": case.reference}, messages.ERROR)
            else:
                done.append(case.reference)
        if done:
            self.message_user(request, gettext("%(action)s: %(references)s.")
                              % {"action": str(label).capitalize(), "references": ", ".join(done)}, messages.SUCCESS)

    def _transition_with_comment(self, request, queryset, name: str):
        """Ask for the comment the transition needs on an intermediate page, then apply it."""
        if "apply" in request.POST:
            form = TransitionCommentForm(request.POST)
            if form.is_valid():
                self._transition(request, queryset, name, comment=form.cleaned_data["comment"])
                return None
        else:
            form = TransitionCommentForm()
        transition = TRANSITIONS[name]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("%(action)s the selected cases") % {"action": str(transition.label).capitalize()},
            "opts": self.model._meta,
            "cases": queryset.order_by("pk"),
            "form": form,
            "action": name,
            "action_label": transition.label,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/issues/case/transition_comment.html", context)

    @admin.action(description=_("Accept the selected cases"), permissions=["handle"])
    def accept(self, request, queryset):
        self._transition(request, queryset, "accept")

    @admin.action(description=_("Assign the selected cases to me"), permissions=["handle"])
    def assign_to_me(self, request, queryset):
        self._transition(request, queryset, "assign")

    @admin.action(description=_("Escalate the selected cases one level up"), permissions=["handle"])
    def escalate(self, request, queryset):
        return self._transition_with_comment(request, queryset, "escalate")

    @admin.action(description=_("Resolve the selected cases"), permissions=["handle"])
    def resolve(self, request, queryset):
        return self._transition_with_comment(request, queryset, "resolve")

    @admin.action(description=_("Close the selected (verified) cases"), permissions=["handle"])
    def close(self, request, queryset):
        self._transition(request, queryset, "close")
