from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from civic.models import User

admin.site.site_header = _("Civic grid operations")
admin.site.site_title = _("Civic")
admin.site.index_title = _("Administration")
# No public site yet: the portal (issue 4) will bring one back to link to.
admin.site.site_url = None


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:1],
        (_("Personal info"), {"fields": ("first_name", "last_name", "email", "phone")}),
        *DjangoUserAdmin.fieldsets[2:],
    )
    list_display = ["username", "first_name", "last_name", "phone", "email", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "email", "phone"]
