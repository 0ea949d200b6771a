"""Writing cases and tables to CSV and XLSX, and finding again the cases an export names.

An export stores the query string that selects its cases, never the rows: the file is built from the
cases as they are when it runs, through the same selectors as the page that asked for it — the case
list's filters (issues.filters.CaseFilter on issues.selectors.case_list) or the admin changelist's
— for the user who asked, so it never holds a case outside their scope.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from types import SimpleNamespace

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from centre.models import Export
from issues.filters import CaseFilter
from issues.models import OPEN_STATUSES, Case, Status
from issues.selectors import case_list

__all__ = ["case_rows", "cases_of", "query_dict", "write_csv", "write_xlsx"]

XLSX_SHEET_ROWS = 1_048_575  # an Excel sheet holds 1,048,576 rows, the header included
CHUNK = 2000

_FIELDS = [
    "reference", "status", "category__name", "category__name_en", "grid__code", "grid__name", "handling_level",
    "handling_department__name", "assignee__username", "priority", "created_at", "due_at", "resolved_at",
    "closed_at", "address", "lat", "lon", "description",
]


def query_dict(params: dict) -> QueryDict:
    """A stored query string (JSON: name -> list of values) back as a QueryDict."""
    query = QueryDict(mutable=True)
    for name, values in params.items():
        for value in values if isinstance(values, list) else [values]:
            query.appendlist(name, str(value))
    return query


def _admin_cases(user, params: dict) -> QuerySet:
    from django.contrib import admin
    from django.test import RequestFactory

    model_admin = admin.site._registry[Case]
    request = RequestFactory().get("/", query_dict(params.get("query", {})))
    request.user = user
    if "ids" in params:
        return model_admin.get_queryset(request).filter(pk__in=params["ids"])
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request)


def cases_of(export: Export) -> QuerySet:
    """The cases the export names, in the requester's scope now."""
    user = export.requested_by
    if export.source == Export.Source.ADMIN:
        cases = _admin_cases(user, export.params)
    else:
        filterset = CaseFilter(data=query_dict(export.params), queryset=case_list(user=user),
                               request=SimpleNamespace(user=user))
        cases = filterset.qs if filterset.is_valid() else Case.objects.none()
    return cases.order_by("id")


def _header() -> list[str]:
    return [_("reference"), _("status"), _("category"), _("grid code"), _("grid"), _("handling level"),
            _("handling department"), _("assignee"), _("priority"), _("reported at"), _("due at"),
            _("resolved at"), _("closed at"), _("overdue"), _("address"), _("latitude"), _("longitude"),
            _("description")]


def case_rows(cases: QuerySet) -> Iterator[list]:
    """The header, then one row per case, read in chunks (a million rows never sit in memory at once)."""
    from grid.models import Level

    chinese = (get_language() or "zh-hans").startswith("zh")
    statuses = {value: str(label) for value, label in Status.choices}
    levels = {value: str(label) for value, label in Level.choices}
    yes = _("yes")
    now = timezone.now()
    tz = timezone.get_current_timezone()  # once: a lookup per value costs more than the row's other work

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(tz).replace(tzinfo=None) if value else None

    yield _header()
    for row in cases.values_list(*_FIELDS).iterator(chunk_size=CHUNK):
        (reference, status, category, category_en, grid_code, grid, level, department, assignee, priority,
         created, due, resolved, closed, address, lat, lon, description) = row
        overdue = status in OPEN_STATUSES and due is not None and due < now
        yield [reference, statuses.get(status, status), category if chinese else category_en, grid_code, grid,
               levels.get(level, level), department or "", assignee or "", priority, local(created), local(due),
               local(resolved), local(closed), yes if overdue else "", address, lat, lon, description]


def write_csv(rows: Iterable[list], stream) -> int:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right. Returns data rows."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    count = -1
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
        count += 1
    text.detach()
    return max(count, 0)


def write_xlsx(rows: Iterable[list], stream, *, title: str = "") -> int:
    """One sheet per 1,048,575 rows, each with the header. Returns data rows."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    rows = iter(rows)
    header = next(rows)
    sheet, in_sheet, count = None, XLSX_SHEET_ROWS, 0
    for row in rows:
        if in_sheet == XLSX_SHEET_ROWS:
            sheet = workbook.create_sheet(title=f"{(title or _('cases'))[:24]} {len(workbook.worksheets) + 1}")
            sheet.append(header)
            in_sheet = 0
        sheet.append(row)
        in_sheet += 1
        count += 1
    if sheet is None:
        workbook.create_sheet(title=(title or _("cases"))[:31]).append(header)
    workbook.save(stream)
    return count
