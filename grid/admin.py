"""Admin for the grid. Every class here (and in apps above grid) scopes through grid.permissions:
querysets, object checks, foreign-key choices and list filters; saves go through grid.services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from civic.admin_utils import EstimatedCountPaginator, ReadOnlyAdminMixin
from civic.ratelimit import RateLimited
from grid import services
from grid.grants_admin import AuditedGrantsMixin
from grid.idnumbers import mask_id_number
from grid.models import (
    Building,
    Department,
    DuplicateRegistration,
    Estate,
    GridNode,
    Household,
    Level,
    Place,
    Post,
    Resident,
    Visit,
)
from grid.permissions import can, grant_paths, has_any_grant, rule_for, scope, scope_by_codename, subtree_q
from grid.selectors import (
    duplicate_registration_list,
    id_number_holder,
    node_ancestors,
    shown_id_number,
    with_household_counts,
)

__all__ = ["ScopedAdmin", "ScopedRelatedFieldListFilter"]


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A foreign-key list filter offering only the related rows the user may see."""

    def field_choices(self, field, request, model_admin):
        choices = field.related_model._default_manager.complex_filter(field.get_limit_choices_to())
        related = scope(choices, request.user)
        return [(obj.pk, str(obj)) for obj in related.order_by(*field.related_model._meta.ordering or ["pk"])[:500]]


class ScopedAdmin(admin.ModelAdmin):
    """Base admin: the model must have a rule registered in grid.permissions.

    A district's lists are long (a million households, hundreds of thousands of cases): the changelist
    counts like the API (exact up to a limit, estimated above), once, and offers no facet counts.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def _holds(self, request, action) -> bool:
        paths = grant_paths(request.user, rule_for(self.model).actions[action])
        return paths is None or bool(paths)

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request.user, "view")

    def has_module_permission(self, request):
        return has_any_grant(request.user)

    def has_view_permission(self, request, obj=None):
        return can(request.user, "view", obj) if obj is not None else self._holds(request, "view")

    def has_add_permission(self, request, *args):
        return self._holds(request, "add")

    def has_change_permission(self, request, obj=None):
        return can(request.user, "change", obj) if obj is not None else self._holds(request, "change")

    def has_delete_permission(self, request, obj=None):
        return can(request.user, "delete", obj) if obj is not None else self._holds(request, "delete")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        try:
            rule_for(related)
        except LookupError:
            return super().formfield_for_foreignkey(db_field, request, **kwargs)
        queryset = kwargs.get("queryset")
        if queryset is None:
            queryset = related._default_manager.complex_filter(db_field.get_limit_choices_to())
        if related is GridNode:
            # Offer the nodes where this model's records may be written, not merely seen.
            kwargs["queryset"] = scope_by_codename(queryset, request.user, rule_for(self.model).actions["add"])
        else:
            kwargs["queryset"] = scope(queryset, request.user, "view")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.record_save(actor=request.user, instance=obj)

    def delete_model(self, request, obj):
        services.record_delete(actor=request.user, instance=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        # One by one through delete_model, so bulk deletes obey the same service as single ones.
        for obj in queryset:
            self.delete_model(request, obj)


#
# The tree
#


class NodeParentFilter(admin.SimpleListFilter):
    """Browse the tree one level at a time: ?parent=<id> lists that node's children."""

    title = _("parent")
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        parent = self._parent(request)
        return [(parent.pk, str(parent))] if parent else [("", "")]

    def _parent(self, request):
        value = request.GET.get(self.parameter_name)
        if not value or not value.isdigit():
            return None
        return scope(GridNode.objects.all(), request.user).filter(pk=value).first()

    def queryset(self, request, queryset):
        parent = self._parent(request)
        if self.value() and parent is None:
            return queryset.none()
        if parent:
            return queryset.filter(subtree_q("path", parent.path), depth=parent.depth + 1)
        return queryset


class NodeCreateForm(forms.ModelForm):
    parent = forms.ModelChoiceField(queryset=GridNode.objects.none(), label=_("parent"))
    parents = GridNode.objects.none()  # the nodes the user may add under; set on a per-request subclass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = self.parents

    class Meta:
        model = GridNode
        fields = ["parent", "level", "code", "name", "centroid_lat", "centroid_lon", "boundary"]

    def clean(self):
        data = super().clean()
        if data.get("parent") and data.get("level") and data.get("code"):
            services.node_check_placement(parent=data["parent"], level=data["level"], code=data["code"])
        return data


@admin.register(GridNode)
class GridNodeAdmin(AuditedGrantsMixin, ScopedAdmin):
    list_display = ["indented_name", "level", "code", "children", "household_count"]
    list_filter = [NodeParentFilter, "level"]
    search_fields = ["name", "code"]
    list_per_page = 50
    readonly_fields = ["level", "code", "ancestry"]

    def get_queryset(self, request):
        return with_household_counts(super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            # A subclass per request: the form class itself is shared by every request (and thread).
            parents = scope(GridNode.objects.exclude(level=Level.GRID), request.user, "add")
            kwargs["form"] = type("NodeCreateForm", (NodeCreateForm,), {"parents": parents})
            kwargs["fields"] = NodeCreateForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return NodeCreateForm.Meta.fields
        return ["ancestry", "level", "code", "name", "centroid_lat", "centroid_lon", "boundary"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data.get(field) for field in ("name", "centroid_lat", "centroid_lon", "boundary")}
        if change:
            services.node_update(actor=request.user, node=obj, data=data)
        else:
            node = services.node_create(
                actor=request.user, parent=form.cleaned_data["parent"], level=form.cleaned_data["level"],
                code=form.cleaned_data["code"], **data,
            )
            obj.pk = node.pk

    def delete_model(self, request, obj):
        services.node_delete(actor=request.user, node=obj)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Children are not foreign keys in a materialized path, so Django's collector cannot see them.
        for node in objs:
            if node.numchild:
                protected = [*protected, _("%(node)s has %(n)d child nodes") % {"node": node, "n": node.numchild}]
        return deleted, counts, perms_needed, protected

    @admin.display(description=_("name"), ordering="path")
    def indented_name(self, node):
        return format_html("{}{}", "\u3000" * (node.depth - 1), node.name)

    @admin.display(description=_("children"), ordering="numchild")
    def children(self, node):
        if not node.numchild:
            return 0
        url = reverse("admin:grid_gridnode_changelist") + f"?parent={node.pk}"
        return format_html('<a href="{}">{} →</a>', url, node.numchild)

    @admin.display(description=_("household count"))
    def household_count(self, node):
        return node.household_count

    @admin.display(description=_("ancestors"))
    def ancestry(self, node):
        return " › ".join(node_ancestors(node).values_list("name", flat=True))


#
# Departments and posts
#


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["name", "code", "node"]
    list_filter = [("node", ScopedRelatedFieldListFilter)]
    search_fields = ["name", "code"]
    list_select_related = ["node"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "node":
            kwargs["queryset"] = GridNode.objects.filter(level__in=(Level.CITY, Level.DISTRICT))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Post)
class PostAdmin(ScopedAdmin):
    list_display = ["user", "role", "node", "department", "since"]
    list_filter = ["role", ("node", ScopedRelatedFieldListFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name", "node__name"]
    list_select_related = ["user", "node", "department"]
    fields = ["user", "role", "node", "department"]

    def has_change_permission(self, request, obj=None):
        # A post is created or ended, never edited: its grants follow its role and node.
        return False if obj is not None else super().has_change_permission(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "node":
            kwargs["queryset"] = scope_by_codename(GridNode.objects.all(), request.user, "manage_posts")
            kwargs["required"] = False
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        post = services.post_create(
            actor=request.user, user=obj.user, role=obj.role, node=obj.node if obj.node_id else None,
            department=obj.department,
        )
        obj.pk = post.pk

    def delete_model(self, request, obj):
        services.post_delete(actor=request.user, post=obj)


#
# Registry
#


class ResidentInlineForm(forms.ModelForm):
    """Shows the ID number as the user may see it (grid.selectors.shown_id_number); sending a mask back
    keeps the stored number. A number someone else holds is refused only when the user sees them."""

    user = None

    class Meta:
        model = Resident
        fields = ["name", "id_number", "relation", "phone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shown = shown_id_number(viewer=self.user, resident=self.instance) if self.instance.pk else None
        if self.shown is not None:
            self.initial["id_number"] = self.shown

    def clean_id_number(self):
        value = self.cleaned_data["id_number"]
        if self.shown is not None and value == self.shown:
            return self.instance.id_number
        holder = id_number_holder(value, exclude=self.instance)
        if holder is not None and can(self.user, "view", holder):
            raise ValidationError(_("A resident with this ID number is already registered."))
        return value


class ResidentInline(admin.TabularInline):
    model = Resident
    form = ResidentInlineForm
    extra = 0
    fields = ResidentInlineForm.Meta.fields
    # A read-only inline renders the model's own values, not the form's: it shows this instead.
    readonly_fields = ["shown_id_number"]
    viewer = None  # the requesting user; inline instances are created per request

    def get_formset(self, request, obj=None, **kwargs):
        self.viewer = request.user
        kwargs["form"] = type("ResidentForm", (ResidentInlineForm,), {"user": request.user})
        return super().get_formset(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fields
        return ["shown_id_number" if field == "id_number" else field for field in self.fields]

    @admin.display(description=_("ID card number"))
    def shown_id_number(self, resident):
        return shown_id_number(viewer=self.viewer, resident=resident)

    def has_view_permission(self, request, obj=None):
        return obj is None or can(request.user, "view", obj)

    def has_add_permission(self, request, obj=None):
        return obj is None or can(request.user, "change", obj)

    has_change_permission = has_add_permission
    has_delete_permission = has_add_permission


class GridRecordAdmin(ScopedAdmin):
    list_filter = [("grid", ScopedRelatedFieldListFilter)]
    list_select_related = ["grid"]
    list_per_page = 50


@admin.register(Estate)
class EstateAdmin(GridRecordAdmin):
    list_display = ["name", "address", "grid"]
    search_fields = ["name", "address"]


@admin.register(Building)
class BuildingAdmin(ScopedAdmin):
    list_display = ["__str__", "floors"]
    list_filter = [("estate", ScopedRelatedFieldListFilter)]
    search_fields = ["estate__name", "number"]
    list_select_related = ["estate"]


@admin.register(Household)
class HouseholdAdmin(GridRecordAdmin):
    list_display = ["address", "head_name", "grid", "registered_at"]
    search_fields = ["address", "head_name"]
    inlines = [ResidentInline]
    raw_id_fields = ["building"]

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        # Residents hang off the household: the household's grant covers them, checked again here.
        if not can(request.user, "change", form.instance):
            raise PermissionDenied
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        # Through the services, like the API: ID numbers are rate-limited, checked and audited there.
        residents = formset.save(commit=False)
        for resident in formset.deleted_objects:
            services.record_delete(actor=request.user, instance=resident)
        for resident in residents:
            services.resident_save(actor=request.user, resident=resident)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # What the forms could not check beforehand (the hourly limit, a number registered meanwhile)
        # rolls the whole save back and comes back as a message.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RateLimited as exc:
            message = _("Too many ID numbers set in the last hour: try again in %(minutes)d minutes.") % {
                "minutes": exc.retry_after // 60 + 1}
        except ValidationError as exc:
            message = " ".join(exc.messages)
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


@admin.register(Place)
class PlaceAdmin(GridRecordAdmin):
    list_display = ["name", "kind", "address", "grid"]
    list_filter = ["kind", ("grid", ScopedRelatedFieldListFilter)]
    search_fields = ["name", "address"]


#
# Patrols
#


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdminMixin, GridRecordAdmin):
    """Visits are recorded in the field (grid.services.visit_record); here they are only read."""

    list_display = ["visited_at", "target", "outcome", "visitor", "grid"]
    list_filter = ["outcome", "visited_at", ("grid", ScopedRelatedFieldListFilter)]
    list_select_related = ["grid", "household", "place", "visitor"]
    search_fields = ["household__address", "household__head_name", "place__name", "note"]
    fields = ["visited_at", "household", "place", "grid", "visitor", "outcome", "note"]

    @admin.display(description=_("visited"))
    def target(self, visit):
        return str(visit.target)


#
# Duplicate registrations of one ID number
#


@admin.register(DuplicateRegistration)
class DuplicateRegistrationAdmin(ScopedAdmin):
    """Reviews for the staff who may change both households' registries; each is closed by saying what
    was done, once one of the two registrations has been corrected or removed."""

    list_display = ["created_at", "new_registration", "earlier_registration", "registered_by", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    fields = ["new_registration", "earlier_registration", "registered_by", "created_at", "resolved_at",
              "resolved_by", "resolution"]
    readonly_fields = ["new_registration", "earlier_registration", "registered_by", "created_at", "resolved_at",
                       "resolved_by"]
    def get_queryset(self, request):
        return duplicate_registration_list(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "resolution"] if obj is not None and obj.resolved_at else self.readonly_fields

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @staticmethod
    def _registration(resident):
        if resident is None:
            return _("(removed)")
        household = resident.household
        return format_html('<a href="{}">{} · {}</a> · {}', reverse("admin:grid_household_change", args=[household.pk]),
                           household.grid.name, household.address,
                           # Always masked here: the household's own page shows it whole to whoever may see it.
                           f"{resident.name} {mask_id_number(resident.id_number)}")

    @admin.display(description=_("new registration"))
    def new_registration(self, review):
        return self._registration(review.resident)

    @admin.display(description=_("earlier registration"))
    def earlier_registration(self, review):
        return self._registration(review.original)

    def save_model(self, request, obj, form, change):
        services.duplicate_registration_resolve(actor=request.user, review=obj, resolution=obj.resolution)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
