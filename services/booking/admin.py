"""Staff admin of appointment booking, scoped by grid.permissions to the service points of the staff
user's subtrees (a hospital's desk sees its hospital and nothing else).

* Configuration (service points, departments, services, resources, weekly templates) is edited through
  ScopedAdmin: every list, object, foreign-key choice and save goes through the one permission
  mechanism (saves through grid.services.record_save, which checks the grant again).
* Slots: only their capacity is edited here, through the core's slot_capacity_set (never below what is
  booked: refused with a clear message).
* Closures are created through the core's closure_create: it closes the slots, cancels their bookings
  in bulk and notifies each citizen. A closure is not edited afterwards.
* Bookings are never edited by hand: the desk (today's bookings of a point, with check-in and no-show
  buttons), the visit result form and the list's actions call the core's services booking by booking.
* Blocks (too many no-shows) are listed for the desks where the citizen missed an appointment, with a
  lift action (block_lift).
"""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from civic.admin_utils import ReadOnlyAdminMixin
from civic.errors import ConflictError
from grid.admin import ScopedAdmin, ScopedRelatedFieldListFilter
from grid.permissions import can, grant_paths, has_any_grant, scope, scope_by_codename
from grid.services import record_delete, record_save
from services.booking import services
from services.booking.apps import MANAGE, VIEW
from services.booking.desk import block_list_managed, citizen_by_identifier, follow_up_plan_stop, may_see_block
from services.booking.models import (
    Booking,
    BookingBlock,
    BookingStatus,
    Closure,
    Department,
    FollowUpPlan,
    FollowUpTask,
    PointKind,
    Resource,
    ScheduleTemplate,
    Service,
    ServicePoint,
    Slot,
    WaitlistEntry,
)
from services.booking.selectors import today_desk

__all__ = ["BookingAdmin", "BookingBlockAdmin", "ClosureAdmin", "DepartmentAdmin", "FollowUpPlanAdmin",
           "FollowUpTaskAdmin", "ResourceAdmin",
           "ScheduleTemplateAdmin", "ServiceAdmin", "ServicePointAdmin", "SlotAdmin", "WaitlistEntryAdmin"]


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or str(getattr(exc, "message", "")) or gettext("You may not do this here.")


class _ManagedAdmin(ScopedAdmin):
    """Booking's admin classes: the module is shown to those who hold a booking grant somewhere."""

    def has_module_permission(self, request):
        return has_any_grant(request.user) and self._holds(request, "view")


#
# Configuration
#


class DepartmentInline(admin.TabularInline):
    model = Department
    fields = ["name", "code"]
    extra = 0
    show_change_link = True

    def has_view_permission(self, request, obj=None):
        return obj is None or can(request.user, "view", obj)

    def has_add_permission(self, request, obj=None):
        return obj is not None and can(request.user, "change", obj)

    def has_change_permission(self, request, obj=None):
        return obj is None or can(request.user, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None or can(request.user, "change", obj)


@admin.register(ServicePoint)
class ServicePointAdmin(_ManagedAdmin):
    list_display = ["name", "kind", "node", "address", "phone", "active", "desk_link"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "code", "address"]
    list_select_related = ["node"]
    fields = ["kind", "name", "code", "node", "address", "phone", "active"]
    inlines = [DepartmentInline]
    actions = ["make_slots"]

    def has_manage_permission(self, request):
        return self._holds(request, "manage")

    @admin.action(description=_("Make the slots of the coming working days from the weekly templates"),
                  permissions=["manage"])
    def make_slots(self, request, queryset):
        days = services.working_days_ahead(settings.BOOKING_HORIZON_DAYS)
        for point in queryset:
            if not can(request.user, "manage", point):
                self.message_user(request, gettext("%(point)s: you may not manage it.") % {"point": point},
                                  messages.ERROR)
                continue
            made = services.slots_generate(first=days[0], last=days[-1], point=point)
            self.message_user(request, ngettext("%(point)s: %(count)d new slot.", "%(point)s: %(count)d new slots.",
                                                made) % {"point": point, "count": made}, messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        obj.node_path = obj.node.path  # where the grant is checked before the first save
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for gone in formset.deleted_objects:
            record_delete(actor=request.user, instance=gone)
        for department in instances:
            record_save(actor=request.user, instance=department)

    @admin.display(description=_("check-in desk"))
    def desk_link(self, point):
        return format_html('<a href="{}?point={}">{}</a>', reverse("admin:booking_booking_desk"), point.pk,
                           gettext("today's desk"))


@admin.register(Department)
class DepartmentAdmin(_ManagedAdmin):
    list_display = ["name", "code", "point"]
    list_filter = [("point", ScopedRelatedFieldListFilter)]
    search_fields = ["name", "code"]
    list_select_related = ["point"]
    fields = ["point", "name", "code"]


@admin.register(Service)
class ServiceAdmin(_ManagedAdmin):
    list_display = ["name", "point", "department", "duration_minutes", "fee", "active"]
    list_filter = [("point", ScopedRelatedFieldListFilter), "active"]
    search_fields = ["name"]
    list_select_related = ["point", "department"]
    fields = ["point", "department", "name", "duration_minutes", "fee", "active"]


@admin.register(Resource)
class ResourceAdmin(_ManagedAdmin):
    list_display = ["name", "title", "kind", "point", "department", "active"]
    list_filter = [("point", ScopedRelatedFieldListFilter), "kind", "active"]
    search_fields = ["name", "title"]
    list_select_related = ["point", "department"]
    fields = ["point", "department", "kind", "name", "title", "services", "active"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "services":
            kwargs["queryset"] = scope(Service.objects.select_related("point"), request.user, "view")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        # The services offered are checked like the resource: each must lie where the user manages.
        for service in form.cleaned_data.get("services", []):
            if not can(request.user, "change", service):
                raise PermissionDenied
        super().save_related(request, form, formsets, change)


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(_ManagedAdmin):
    list_display = ["resource", "service", "weekday", "start", "end", "slot_minutes", "capacity", "valid_from",
                    "valid_until"]
    list_filter = ["weekday", ("resource__point", ScopedRelatedFieldListFilter)]
    list_select_related = ["resource__point", "service"]
    fields = ["resource", "service", "weekday", "start", "end", "slot_minutes", "capacity", "valid_from",
              "valid_until"]


#
# Slots: capacity only, through the core
#


class SlotForm(forms.ModelForm):
    class Meta:
        model = Slot
        fields = ["capacity"]

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        booked = self.instance.booked if self.instance.pk else 0
        if capacity < booked:
            raise ValidationError(
                ngettext("%(booked)d place is booked: the capacity cannot be set below that. Move or cancel "
                         "bookings first.",
                         "%(booked)d places are booked: the capacity cannot be set below that. Move or cancel "
                         "bookings first.", booked) % {"booked": booked}, code="below_booked")
        return capacity


@admin.register(Slot)
class SlotAdmin(_ManagedAdmin):
    form = SlotForm
    list_display = ["start", "end", "point", "service", "resource", "capacity", "booked", "free_places", "closed"]
    list_filter = [("point", ScopedRelatedFieldListFilter), "closed"]
    list_select_related = ["point", "service", "resource"]
    date_hierarchy = "start"
    fields = ["point", "service", "resource", "start", "end", "capacity", "booked", "closed"]
    readonly_fields = ["point", "service", "resource", "start", "end", "booked", "closed"]
    ordering = ["start", "id"]

    def has_add_permission(self, request, *args):
        return False  # slots come from the weekly templates (slots_generate)

    def has_delete_permission(self, request, obj=None):
        return False  # a slot with bookings is closed by a closure, not deleted

    @admin.display(description=_("free"))
    def free_places(self, slot):
        return slot.free

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _CapacityRefused as refused:
            # Booked meanwhile (the form's check passed, the core's conditional update did not).
            self.message_user(request, refused.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        try:
            services.slot_capacity_set(actor=request.user, slot=obj, capacity=form.cleaned_data["capacity"])
        except ValidationError as exc:
            raise _CapacityRefused(_refusal(exc)) from exc


class _CapacityRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


#
# Closures: through the core's closure_create
#


class ClosureForm(forms.ModelForm):
    class Meta:
        model = Closure
        fields = ["point", "resource", "starts", "ends", "reason"]

    def clean(self):
        data = super().clean()
        point, resource = data.get("point"), data.get("resource")
        if point and resource and resource.point_id != point.pk:
            self.add_error("resource", gettext("This resource belongs to another service point."))
        if data.get("starts") and data.get("ends") and data["ends"] <= data["starts"]:
            self.add_error("ends", gettext("A closure ends after it starts."))
        return data


@admin.register(Closure)
class ClosureAdmin(_ManagedAdmin):
    form = ClosureForm
    list_display = ["point", "resource", "starts", "ends", "reason", "created_by", "created_at"]
    list_filter = [("point", ScopedRelatedFieldListFilter)]
    list_select_related = ["point", "resource", "created_by"]
    search_fields = ["reason"]

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # the cancelled bookings stay cancelled: a closure is history

    def get_readonly_fields(self, request, obj=None):
        return ["point", "resource", "starts", "ends", "reason", "created_by", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        closure = services.closure_create(actor=request.user, point_or_resource=data.get("resource") or data["point"],
                                          starts=data["starts"], ends=data["ends"], reason=data["reason"])
        obj.pk, obj.created_at = closure.pk, closure.created_at
        cancelled = getattr(closure, "cancelled_count", 0)
        self.message_user(request, ngettext(
            "Closed: %(count)d booking was cancelled and its citizen notified.",
            "Closed: %(count)d bookings were cancelled and each citizen notified.", cancelled) % {"count": cancelled},
            messages.SUCCESS)


#
# Bookings: the desk, visit results, staff actions
#


class DayFilter(admin.SimpleListFilter):
    title = _("day")
    parameter_name = "day"

    def lookups(self, request, model_admin):
        return [("today", _("today")), ("coming", _("coming"))]

    def queryset(self, request, queryset):
        tz = timezone.get_current_timezone()
        today = datetime.combine(timezone.localdate(), time(), tzinfo=tz)
        if self.value() == "today":
            return queryset.filter(slot__start__gte=today, slot__start__lt=today + timedelta(days=1))
        if self.value() == "coming":
            return queryset.filter(slot__start__gte=timezone.now())
        return queryset


class VisitResultForm(forms.Form):
    text = forms.CharField(label=_("visit result"), widget=forms.Textarea(attrs={"rows": 6, "cols": 70}))
    fee = forms.DecimalField(label=_("visit fee"), max_digits=10, decimal_places=2, min_value=0, required=False,
                             help_text=_("Empty: the service's fee."))


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdminMixin, _ManagedAdmin):
    list_display = ["reference", "slot_start", "point", "service", "person", "status", "checked_in_at"]
    list_filter = ["status", DayFilter, ("slot__point", ScopedRelatedFieldListFilter)]
    search_fields = ["reference"]
    list_select_related = ["slot__point", "slot__service", "slot__resource", "citizen"]
    actions = ["check_in", "mark_no_show", "cancel"]
    fields = ["reference", "status", "cancel_reason", "slot", "person", "family_member_id_masked", "created_at",
              "booked_at", "checked_in_at", "cancelled_at", "visit_result", "visit_result_at", "visit_fee",
              "bill_reference", "sequence"]
    readonly_fields = fields

    def get_queryset(self, request):
        # Where the user holds view_booking (read-only for those who may only view); their own bookings as
        # citizens are for the portal, so the owner rule is left out here.
        return scope_by_codename(
            Booking.objects.select_related("slot__point", "slot__service", "slot__resource", "citizen"), request.user,
            VIEW)

    def has_manage_permission(self, request):
        return self._holds(request, "manage")

    @admin.display(description=_("time"), ordering="slot__start")
    def slot_start(self, booking):
        return timezone.localtime(booking.slot.start).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=_("service point"))
    def point(self, booking):
        return booking.slot.point

    @admin.display(description=_("service"))
    def service(self, booking):
        return booking.slot.service

    @admin.display(description=_("person"))
    def person(self, booking):
        if booking.family_member_name:
            return f"{booking.family_member_name} ({booking.family_member_id_masked})"
        user = booking.citizen
        name = f"{user.last_name}{user.first_name}"
        return name or user.get_username()

    def _each(self, request, queryset, run, label) -> None:
        done = []
        for booking in queryset.order_by("slot__start", "pk"):
            try:
                run(actor=request.user, booking=booking)
            except (ValidationError, ConflictError, PermissionDenied) as exc:
                self.message_user(request, f"{booking.reference}: {_refusal(exc)}", messages.ERROR)
            else:
                done.append(booking.reference)
        if done:
            self.message_user(request, gettext("%(action)s: %(references)s.")
                              % {"action": label, "references": ", ".join(done)}, messages.SUCCESS)

    @admin.action(description=_("Check in the selected bookings"), permissions=["manage"])
    def check_in(self, request, queryset):
        self._each(request, queryset, services.check_in, gettext("Checked in"))

    @admin.action(description=_("Mark the selected bookings as no-shows"), permissions=["manage"])
    def mark_no_show(self, request, queryset):
        self._each(request, queryset, services.no_show_mark, gettext("Marked as no-show"))

    @admin.action(description=_("Cancel the selected bookings (the citizens are notified)"), permissions=["manage"])
    def cancel(self, request, queryset):
        self._each(request, queryset, services.booking_cancel, gettext("Cancelled"))

    #
    # Today's check-in desk and the visit result form
    #

    def get_urls(self):
        own = [
            path("desk/", self.admin_site.admin_view(self.desk_view), name="booking_booking_desk"),
            path("<int:pk>/result/", self.admin_site.admin_view(self.result_view), name="booking_booking_result"),
        ]
        return own + super().get_urls()

    def _managed_points(self, request):
        return scope(ServicePoint.objects.filter(active=True), request.user, "manage").order_by("name")

    def desk_view(self, request):
        if not self.has_manage_permission(request):
            raise PermissionDenied
        points = list(self._managed_points(request))
        point = None
        wanted = request.GET.get("point") or request.POST.get("point")
        if wanted:
            point = next((p for p in points if str(p.pk) == wanted), None)
            if point is None:
                raise Http404
        elif len(points) == 1:
            point = points[0]
        if request.method == "POST":
            wanted_booking = request.POST.get("booking", "")
            if not wanted_booking.isdigit():
                raise Http404
            booking = get_object_or_404(today_desk(user=request.user, point=point), pk=wanted_booking)
            run = {"check_in": services.check_in, "no_show": services.no_show_mark}.get(request.POST.get("do"))
            if run is None:
                raise Http404
            try:
                run(actor=request.user, booking=booking)
            except (ValidationError, ConflictError, PermissionDenied) as exc:
                self.message_user(request, f"{booking.reference}: {_refusal(exc)}", messages.ERROR)
            else:
                done = gettext("checked in") if run is services.check_in else gettext("marked as no-show")
                self.message_user(request, f"{booking.reference}: {done}.", messages.SUCCESS)
            query = f"?point={point.pk}" if point else ""
            return HttpResponseRedirect(reverse("admin:booking_booking_desk") + query)
        bookings = list(today_desk(user=request.user, point=point)) if point or len(points) <= 1 else []
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Today's check-in desk"), "opts": self.model._meta, "points": points, "point": point,
            "bookings": bookings, "today": timezone.localdate(), "now": timezone.now(),
            "statuses": BookingStatus,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/booking/booking/desk.html", context)

    def result_view(self, request, pk: int):
        booking = get_object_or_404(self.get_queryset(request), pk=pk)
        if not can(request.user, "manage", booking):
            raise PermissionDenied
        form = VisitResultForm(request.POST or None, initial={"text": booking.visit_result,
                                                               "fee": booking.visit_fee})
        if request.method == "POST" and form.is_valid():
            try:
                services.visit_result_record(actor=request.user, booking=booking, text=form.cleaned_data["text"],
                                             fee=form.cleaned_data["fee"])
            except ValidationError as exc:
                for field, errors in getattr(exc, "message_dict", {None: exc.messages}).items():
                    form.add_error(field if field in form.fields else None, errors)
            except (ConflictError, PermissionDenied) as exc:
                form.add_error(None, _refusal(exc))
            else:
                self.message_user(request, gettext("%(reference)s: the visit result is recorded.")
                                  % {"reference": booking.reference}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:booking_booking_desk") + f"?point={booking.slot.point_id}")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Visit result of %(reference)s") % {"reference": booking.reference},
            "opts": self.model._meta, "booking": booking, "form": form,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/booking/booking/visit_result.html", context,
                                status=400 if form.errors else 200)


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdminMixin, _ManagedAdmin):
    list_display = ["slot", "citizen", "status", "created_at", "offered_until"]
    list_filter = ["status"]
    list_select_related = ["slot__resource", "citizen"]

    def get_queryset(self, request):
        return scope_by_codename(WaitlistEntry.objects.select_related("slot__resource", "citizen"), request.user, VIEW)


#
# Blocks
#


@admin.register(BookingBlock)
class BookingBlockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["citizen", "reason", "created_at", "until", "lifted_at", "lifted_by"]
    list_select_related = ["citizen", "lifted_by"]
    actions = ["lift"]

    def _desk(self, request) -> bool:
        paths = grant_paths(request.user, MANAGE)
        return request.user.is_active and request.user.is_staff and (paths is None or bool(paths))

    def has_module_permission(self, request):
        return self._desk(request)

    def has_view_permission(self, request, obj=None):
        return self._desk(request) and (obj is None or may_see_block(request.user, obj))

    def has_manage_permission(self, request):
        return self._desk(request)

    def get_queryset(self, request):
        return block_list_managed(user=request.user)

    @admin.action(description=_("Lift the selected blocks"), permissions=["manage"])
    def lift(self, request, queryset):
        lifted = 0
        for block in queryset:
            try:
                services.block_lift(actor=request.user, block=block)
            except PermissionDenied:
                self.message_user(request, gettext("%(citizen)s: you may not lift this block.")
                                  % {"citizen": block.citizen}, messages.ERROR)
            else:
                lifted += 1
        if lifted:
            self.message_user(request, ngettext("%(count)d block lifted.", "%(count)d blocks lifted.", lifted)
                              % {"count": lifted}, messages.SUCCESS)



#
# Chronic follow-up: plans (made through follow_up_plan_create) and the tasks of missed appointments
#


class FollowUpPlanForm(forms.ModelForm):
    citizen_identifier = forms.CharField(label=_("citizen's mobile number or user name"), max_length=150,
                                         help_text=_("The account the appointments are booked on."))
    first_due = forms.DateField(label=_("first appointment due"))

    class Meta:
        model = FollowUpPlan
        fields = ["point", "service", "resident", "every_weeks", "note"]

    def clean(self):
        data = super().clean()
        if data.get("citizen_identifier"):
            try:
                data["citizen"] = citizen_by_identifier(data["citizen_identifier"])
            except ValidationError as exc:
                self.add_error("citizen_identifier", exc.message_dict["citizen"])
        return data


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(_ManagedAdmin):
    form = FollowUpPlanForm
    list_display = ["citizen", "point", "service", "every_weeks", "next_due", "active"]
    list_filter = ["active", ("point", ScopedRelatedFieldListFilter)]
    list_select_related = ["citizen", "point", "service"]
    actions = ["stop"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["point", "service", "citizen_identifier", "resident", "every_weeks", "first_due", "note"]
        return ["point", "service", "citizen", "resident", "every_weeks", "next_due", "active", "note",
                "created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # stopped, not deleted: its appointments and tasks refer to it

    def has_manage_permission(self, request):
        return self._holds(request, "manage")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "point":
            field.queryset = field.queryset.filter(kind=PointKind.HEALTH_CENTRE)
        return field

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        plan = services.follow_up_plan_create(
            actor=request.user, point=data["point"], service=data["service"], citizen=data["citizen"],
            every_weeks=data["every_weeks"], first_due=data["first_due"], resident=data.get("resident"),
            note=data.get("note", ""))
        obj.pk, obj.created_at, obj.citizen, obj.next_due = plan.pk, plan.created_at, plan.citizen, plan.next_due

    @admin.action(description=_("Stop the selected plans"), permissions=["manage"])
    def stop(self, request, queryset):
        for plan in queryset:
            follow_up_plan_stop(actor=request.user, plan=plan)
        self.message_user(request, gettext("Stopped."), messages.SUCCESS)


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(ReadOnlyAdminMixin, _ManagedAdmin):
    list_display = ["plan", "booking", "created_at", "done_at", "done_by", "note"]
    list_filter = [("done_at", admin.EmptyFieldListFilter)]
    list_select_related = ["plan__citizen", "plan__point", "booking", "done_by"]
    actions = ["done"]

    def has_manage_permission(self, request):
        return self._holds(request, "manage")

    @admin.action(description=_("Mark the selected tasks as done"), permissions=["manage"])
    def done(self, request, queryset):
        for task in queryset.filter(done_at__isnull=True):
            services.follow_up_task_done(actor=request.user, task=task)
        self.message_user(request, gettext("Done."), messages.SUCCESS)
