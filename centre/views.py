"""The command centre in the admin site (/admin/centre/): the dashboard, the map, a node's page, the
downloads of a widget's table, and the exports of cases. Staff with a post only; everything is scoped
by grid.permissions through centre.filters.select (a node outside the user's subtree answers 404)."""

import io
from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from centre import selectors
from centre.exports import write_csv, write_xlsx
from centre.filters import CentreForm, DashboardForm, select, visible_node
from centre.models import Export, export_storage
from centre.services import export_request
from centre.tables import WIDGETS, Dashboard
from civic.audit import audit_record
from grid.models import GridNode, Level, Place
from grid.permissions import has_any_grant, scope
from grid.selectors import node_ancestors, post_list, with_household_counts
from issues.filters import overdue_q
from issues.models import OPEN_STATUSES, Case

__all__ = ["after_export", "dashboard", "export_cases", "export_download", "exports", "map_cases", "map_page",
           "node_page", "table_download"]

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def staff_view(view):
    """Logged in through the admin, with a post somewhere in the tree (the admin's own check first)."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not has_any_grant(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)


def _page(request, template: str, title: str, status: int = 200, **context) -> TemplateResponse:
    request.current_app = admin.site.name
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context},
                            status=status)


def _trail(user, node: GridNode | None) -> list[GridNode]:
    """The node's ancestors the user may see (the breadcrumb of the node picker), then the node."""
    if node is None:
        return []
    visible = scope(node_ancestors(node), user)
    return [*visible, node]


@require_GET
@staff_view
def dashboard(request):
    form = DashboardForm(request.GET)
    with selectors.reading():
        try:
            selection = select(request, form)
        except ValidationError:
            return _page(request, "centre/dashboard.html", _("Command centre"), status=400, form=form)
        board = Dashboard(selection, interval=form.cleaned_data["interval"])
        tables = board.tables()
        roots = board.roots
    query = request.GET.urlencode()
    return _page(request, "centre/dashboard.html", _("Command centre"), form=form, board=board, tables=tables,
                 node=selection.node, trail=_trail(request.user, selection.node), roots=roots, query=query,
                 generated_at=timezone.now(), case_list_query=selection.case_list_params)


def _table_response(table, fmt: str) -> HttpResponse:
    stream = io.BytesIO()
    rows = [table.columns, *table.rows]
    if fmt == "csv":
        write_csv(rows, stream)
    else:
        write_xlsx(rows, stream, title=table.title)
    response = HttpResponse(stream.getvalue(), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="centre-{table.name}.{fmt}"'
    return response


@require_GET
@staff_view
def table_download(request, name: str, fmt: str):
    if name not in WIDGETS or fmt not in CONTENT_TYPES:
        raise Http404
    form = DashboardForm(request.GET)
    with selectors.reading():
        selection = select(request, form) if form.is_valid() else None
        if selection is None:
            return HttpResponse(_("The request is not valid."), status=400, content_type="text/plain")
        table = Dashboard(selection, interval=form.cleaned_data["interval"]).table(name)
    audit_record(actor=request.user, action="export.table", summary=f"{name} {fmt}", request=request,
                 detail={"params": dict(request.GET.lists()), "rows": len(table.rows)})
    return _table_response(table, fmt)


@require_POST
@staff_view
def export_cases(request):
    """The cases behind the dashboard (its area, period and filters) as CSV or XLSX."""
    fmt = request.POST.get("format")
    if fmt not in CONTENT_TYPES:
        return HttpResponse(_("Choose CSV or XLSX."), status=400, content_type="text/plain")
    form = CentreForm(request.GET)
    with selectors.reading():
        try:
            selection = select(request, form)
        except ValidationError:
            return HttpResponse(_("The request is not valid."), status=400, content_type="text/plain")
        rows = selection.cases.count()
    export, created = export_request(actor=request.user, source=Export.Source.CENTRE, format=fmt, rows=rows,
                                     params=dict(selection.case_list_params.lists()), request=request)
    return after_export(request, export, created)


def after_export(request, export: Export, created: bool):
    if export.status == Export.Status.DONE:
        return redirect("centre:export-download", pk=export.pk)
    if not created:
        messages.info(request, _("This export is already being prepared: it appears below when ready."))
    elif export.status == Export.Status.FAILED:
        messages.error(request, _("The export failed. Please try again later."))
    else:
        messages.success(request, _("The export is being prepared: it appears below when ready."))
    return redirect("centre:exports")


@require_GET
@staff_view
def exports(request):
    mine = Export.objects.filter(requested_by=request.user)[:50]
    return _page(request, "centre/exports.html", _("My exports"), exports=mine)


def export_file_response(export: Export) -> FileResponse:
    if export.status != Export.Status.DONE or not export.file:
        raise Http404
    response = FileResponse(export_storage.open(export.file.name, "rb"), as_attachment=True,
                            filename=export.filename, content_type=CONTENT_TYPES[export.format])
    return response


@require_GET
@staff_view
def export_download(request, pk: int):
    export = get_object_or_404(Export, pk=pk, requested_by=request.user)
    return export_file_response(export)


#
# The map and a node's page
#


@require_GET
@staff_view
def map_page(request):
    form = CentreForm(request.GET)
    try:
        with selectors.reading():
            selection = select(request, form)
    except ValidationError:
        return _page(request, "centre/map.html", _("Map of open cases"), status=400, form=form)
    data_url = reverse("centre:map-cases") + ("?" + request.GET.urlencode() if request.GET else "")
    return _page(request, "centre/map.html", _("Map of open cases"), form=form, node=selection.node,
                 trail=_trail(request.user, selection.node), data_url=data_url,
                 boundaries_url=reverse("boundaries"), tile_url=settings.MAP_TILE_URL)


@require_GET
@staff_view
def map_cases(request):
    """The open cases of the selection as GeoJSON points: status, lateness and the admin link of each."""
    with selectors.reading():
        selection = select(request, CentreForm(request.GET))
        now = timezone.now()
        limit = settings.CENTRE_MAP_CASES
        cases = list(
            selection.cases.filter(status__in=OPEN_STATUSES).order_by("due_at", "id")
            .values("pk", "reference", "status", "lat", "lon", "due_at", "category__name", "category__name_en")
            [:limit + 1]
        )
    chinese = (request.LANGUAGE_CODE or "").startswith("zh")
    labels = dict(Case._meta.get_field("status").choices)
    features = []
    for case in cases[:limit]:
        due = case["due_at"]
        lateness = "overdue" if due and due < now else "due_soon" if due and due < now + selectors.DUE_SOON else ""
        features.append({
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [float(case["lon"]), float(case["lat"])]},
            "properties": {
                "reference": case["reference"], "status": case["status"], "status_label": str(labels[case["status"]]),
                "lateness": lateness, "category": case["category__name"] if chinese else case["category__name_en"],
                "url": reverse("admin:issues_case_change", args=[case["pk"]]),
            },
        })
    return JsonResponse({"type": "FeatureCollection", "truncated": len(cases) > limit, "features": features})


@require_GET
@staff_view
def node_page(request, pk: int):
    """People, places, things and events of a node: its boundary, staff, places, households and cases."""
    node = visible_node(request.user, pk)
    with selectors.reading():
        households = with_household_counts(GridNode.objects.filter(pk=node.pk)).get().household_count
        staff = list(post_list(user=request.user).filter(node__path__startswith=node.path)
                     .order_by("node__path", "role")[:100])
        places = scope(Place.objects.all(), request.user).filter(grid_path__startswith=node.path)
        place_count = places.count()
        place_rows = list(places.order_by("name")[:50])
        cases = select(request, CentreForm({"node": node.pk})).cases
        case_counts = cases.aggregate(total=Count("pk"), open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
                                      overdue=Count("pk", filter=overdue_q()))
        open_cases = list(cases.filter(status__in=OPEN_STATUSES).select_related("category")
                          .order_by("due_at", "id")[:50])
    children = GridNode.objects.filter(path__startswith=node.path, depth=node.depth + 1).order_by("path")
    return _page(request, "centre/node.html", node.name, node=node, trail=_trail(request.user, node),
                 level=Level(node.level).label, households=households, staff=staff, places=place_rows,
                 place_count=place_count, case_counts=case_counts, open_cases=open_cases, children=children,
                 boundaries_url=reverse("boundaries"), tile_url=settings.MAP_TILE_URL)
