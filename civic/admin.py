"""Admin of the civic app: users, and the notices outbox (each staff user's in-app inbox)."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from civic.admin_utils import ReadOnlyAdminMixin
from civic.models import AuditEvent, Notice, User
from civic.notices import notice_mark_read

__all__ = ["AuditEventAdmin", "NoticeAdmin", "UserAdmin"]

admin.site.site_header = _("Civic grid operations")
admin.site.site_title = _("Civic")
admin.site.index_title = _("Administration")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:1],
        (_("Personal info"), {"fields": ("first_name", "last_name", "email", "phone")}),
        (_("How we notify you"), {"fields": ("language", "notify_in_app", "notify_email", "notify_sms")}),
        *DjangoUserAdmin.fieldsets[2:],
    )
    list_display = ["username", "first_name", "last_name", "phone", "email", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "email", "phone"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only. Every staff user sees their own in-app notices here (their inbox) and may mark
    them read; superusers see the whole outbox, every channel, to audit what was sent."""

    list_display = ["created_at", "subject", "recipient", "channel", "status", "read_at"]
    list_filter = ["channel", "status"]
    search_fields = ["subject", "body", "dedupe_key"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    list_select_related = ["recipient"]
    actions = ["mark_as_read"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(recipient=request.user, channel=Notice.Channel.IN_APP)

    # No model permissions needed: a staff user's own inbox is theirs to read.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        if not self.has_module_permission(request):
            return False
        return obj is None or request.user.is_superuser or obj.recipient_id == request.user.pk

    @admin.action(description=_("Mark as read"))
    def mark_as_read(self, request, queryset):
        # Only the requester's own unread in-app notices: a superuser does not read others' mail.
        mine = queryset.filter(recipient=request.user, channel=Notice.Channel.IN_APP, read_at__isnull=True)
        count = 0
        for notice in mine:
            notice_mark_read(notice=notice, user=request.user)
            count += 1
        message = ngettext("%(count)d notice marked read.", "%(count)d notices marked read.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


# --- Working calendar (civic.calendar_models; filled by `manage.py load_holidays`) ----------------

from django.utils.formats import date_format  # noqa: E402

from civic.calendar_models import CalendarDay  # noqa: E402

__all__ += ["CalendarDayAdmin"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "weekday", "is_workday", "name"]
    list_filter = ["is_workday"]
    date_hierarchy = "date"
    search_fields = ["name"]

    @admin.display(description=_("weekday"), ordering="date")
    def weekday(self, obj):
        return date_format(obj.date, "l")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit log: superusers only, searchable, never edited."""

    list_display = ["at", "actor", "action", "target_type", "target_id", "summary", "ip"]
    list_filter = ["action", "target_type", "at"]
    search_fields = ["actor__username", "action", "target_type", "target_id", "summary", "ip"]
    date_hierarchy = "at"
    list_select_related = ["actor"]
    fields = ["at", "actor", "action", "target_type", "target_id", "summary", "detail", "ip"]
    readonly_fields = fields

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)
