"""The admin's case list gets the command centre's export: two actions on issues' CaseAdmin, added from
here (issues sits below centre and knows nothing of it). The selected cases — or, with "select all",
every case the list's filters and search show — go through centre.services.export_request like the
dashboard's export: built at once when small, by a worker when large, scoped and logged."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from centre.models import Export
from centre.services import export_request
from civic.admin_utils import ReadOnlyAdminMixin
from issues.models import Case

__all__ = ["ExportAdmin"]

_NOT_FILTERS = {"p", "o", "all", "_changelist_filters"}


def _export(model_admin, request, queryset, fmt: str):
    from centre.views import after_export

    if request.POST.get("select_across") == "1":
        query = {name: values for name, values in request.GET.lists() if name not in _NOT_FILTERS}
        params = {"query": query}
    else:
        params = {"ids": sorted(int(pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME))}
    export, created = export_request(actor=request.user, source=Export.Source.ADMIN, format=fmt, params=params,
                                     rows=queryset.count(), request=request)
    return after_export(request, export, created)


@admin.action(description=_("Export the selected cases as CSV"))
def export_cases_csv(model_admin, request, queryset):
    return _export(model_admin, request, queryset, Export.Format.CSV)


@admin.action(description=_("Export the selected cases as XLSX"))
def export_cases_xlsx(model_admin, request, queryset):
    return _export(model_admin, request, queryset, Export.Format.XLSX)


_case_admin = type(admin.site._registry[Case])
_case_admin.actions = [*_case_admin.actions, export_cases_csv, export_cases_xlsx]


@admin.register(Export)
class ExportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Superusers see every export (who exported what, when); others use /admin/centre/exports/."""

    list_display = ["id", "requested_by", "source", "format", "status", "rows", "created_at", "finished_at"]
    list_filter = ["status", "source", "format"]
    readonly_fields = ["requested_by", "source", "params", "format", "status", "rows", "file", "error",
                       "created_at", "finished_at"]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

