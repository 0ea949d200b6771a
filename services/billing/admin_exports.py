"""CSV and XLSX export of what an admin changelist shows: its columns (list_display, as rendered) over
every row its filters, search and ordering select — the same ChangeList the page builds for this user,
so an export never holds a row outside the user's scope.

A changelist mixes in ``ChangelistExportMixin``: two links above the list (``?_export=csv`` and
``?_export=xlsx`` added to the page's own query string) answer the file. Rows are read in chunks and
the CSV is streamed; exports stop at EXPORT_LIMIT rows and say so in a last line.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.contrib.admin.utils import display_for_field, display_for_value, label_for_field, lookup_field
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import capfirst
from django.utils.translation import gettext as _

__all__ = ["EXPORT_LIMIT", "EXPORT_PARAM", "ChangelistExportMixin", "csv_lines", "xlsx_bytes"]

EXPORT_PARAM = "_export"
EXPORT_LIMIT = 100_000
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _cell(value):
    """What a spreadsheet cell takes: numbers and dates as themselves, everything else as plain text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, (int, float)) or value.__class__.__name__ in ("Decimal", "date"):
        return value
    return strip_tags(str(value))


class _Echo:
    def write(self, value):
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """CSV text line by line, the first with a byte-order mark so spreadsheet programs read Chinese right."""
    writer = csv.writer(_Echo())
    first = True
    for row in rows:
        line = writer.writerow(["" if value is None else value for value in row])
        yield ("\ufeff" + line) if first else line
        first = False


def xlsx_bytes(rows: Iterable[list], *, title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "export")
    for row in rows:
        sheet.append(row)
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


class ChangelistExportMixin:
    """For a ModelAdmin: ``?_export=csv|xlsx`` on the changelist answers its rows as a file."""

    change_list_template = "admin/billing/change_list_export.html"
    # Columns of the export; by default the changelist's own (without the action checkbox).
    export_fields: list[str] | None = None

    def _export_columns(self, request) -> list[str]:
        fields = self.export_fields or list(self.get_list_display(request))
        return [name for name in fields if name != "action_checkbox"]

    def export_rows(self, request, queryset) -> Iterator[list]:
        columns = self._export_columns(request)
        yield [capfirst(strip_tags(str(label_for_field(name, self.model, self)))) for name in columns]
        rows = queryset.iterator(chunk_size=2000) if not queryset._prefetch_related_lookups else queryset
        for count, obj in enumerate(rows):
            if count == EXPORT_LIMIT:
                yield [_("… stopped at %(limit)s rows: narrow the filters.") % {"limit": f"{EXPORT_LIMIT:,}"}]
                return
            yield [self._export_value(name, obj) for name in columns]

    def _export_value(self, name: str, obj: Model):
        try:
            field, _attr, value = lookup_field(name, obj, self)
        except (AttributeError, ObjectDoesNotExist):
            return ""
        if field is not None and getattr(field, "choices", None):
            return _cell(display_for_field(value, field, ""))
        if field is not None and getattr(field, "remote_field", None) is not None:
            return _cell(display_for_value(value, ""))
        return _cell(value)

    def changelist_view(self, request, extra_context=None):
        fmt = request.GET.get(EXPORT_PARAM)
        if fmt is None:
            extra_context = {**(extra_context or {}), "export_formats": list(FORMATS)}
            return super().changelist_view(request, extra_context)
        if fmt not in FORMATS:
            return HttpResponse(status=400)
        if not self.has_view_or_change_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        # The ChangeList reads the query string: without the export parameter it is the page's own.
        query = request.GET.copy()
        del query[EXPORT_PARAM]
        request.GET = query
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        rows = self.export_rows(request, queryset)
        name = f"{self.model._meta.model_name}-{timezone.localdate():%Y%m%d}.{fmt}"
        if fmt == "csv":
            response = StreamingHttpResponse(csv_lines(rows), content_type=FORMATS["csv"])
        else:
            response = HttpResponse(xlsx_bytes(rows, title=str(self.model._meta.verbose_name_plural)),
                                    content_type=FORMATS["xlsx"])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
