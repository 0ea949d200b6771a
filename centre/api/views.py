"""The command centre's API (/api/v1/centre/): the dashboard's numbers for programs.

The figures are those of the admin dashboard (centre.selectors over centre.filters.Selection), so a
summary's counts are the case list's counts for the same user and filters. Staff with a post only:
citizens get 403. A node outside the user's subtree answers 404; bad dates, metrics or intervals 400.
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from centre import selectors
from centre.api.serializers import ExportSerializer, SeriesSerializer, SummarySerializer
from centre.filters import INTERVALS, METRICS, PASSED_ON, CentreForm, SeriesForm, select
from centre.models import Export
from centre.services import export_request
from centre.views import export_file_response
from grid.permissions import has_any_grant
from partners.permissions import ApiKeyScope

__all__ = ["ExportDownloadView", "ExportView", "ExportsView", "SeriesView", "SummaryView"]


class IsStaffWithPost(IsAuthenticated):
    """Whoever holds a grant somewhere in the tree (the command centre is for staff, not citizens)."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and has_any_grant(request.user)


_COMMON = [
    OpenApiParameter("node", OpenApiTypes.INT, description="An area of the user's subtree (404 outside it); "
                                                           "default: the whole subtree."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local date, included (YYYY-MM-DD)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local date, included; not before `from`."),
    *(OpenApiParameter(name, str, description="As in the case list.") for name in PASSED_ON),
]


def _node(node) -> dict | None:
    if node is None:
        return None
    return {"id": node.pk, "name": node.name, "code": node.code, "level": node.level}


class SummaryView(APIView):
    permission_classes = [IsStaffWithPost, ApiKeyScope]
    required_scope = ("cases.read", "cases.write")  # a partner's key that may read cases: the same counts

    @extend_schema(parameters=_COMMON, responses=SummarySerializer,
                   description="The command centre's figures for the cases reported in the period under the node. "
                               "`total`, `open`, `overdue`, `by_status` and `by_category` are exactly the counts of "
                               "GET /api/v1/issues/cases/ with node, created_after (local midnight of `from`), "
                               "created_before (local midnight after `to`) and the same status/category/overdue/q. "
                               "Durations are working hours (the working calendar); read from the replica if any.")
    def get(self, request):
        with selectors.reading():
            sel = select(request, CentreForm(request.GET))
            counts = selectors.case_counts(sel.cases)
            timings = selectors.case_timings(sel.cases)
            categories = selectors.category_rows(counts.by_category, counts.open_by_category)
        body = {
            "node": _node(sel.node), "date_from": sel.start, "date_to": sel.end,
            "total": counts.total, "open": counts.open, "overdue": counts.overdue, "due_within_24h": counts.due_soon,
            "by_status": counts.by_status,
            "by_category": [{key: row[key] for key in ("id", "code", "name", "parent", "count", "open")}
                            for row in categories],
            "open_by_level": counts.open_by_level,
            "closure_rate": counts.closure_rate, "on_time_rate": timings.on_time_rate,
            "reopen_rate": timings.reopen_rate,
            "accepted": timings.accepted, "mean_accept_hours": timings.mean_accept_hours,
            "median_accept_hours": timings.median_accept_hours,
            "resolved": timings.resolved, "mean_resolve_hours": timings.mean_resolve_hours,
            "median_resolve_hours": timings.median_resolve_hours,
            "case_list": f"{reverse('case-list')}?{sel.case_list_params.urlencode()}",
        }
        return Response(SummarySerializer(body).data)


class SeriesView(APIView):
    permission_classes = [IsStaffWithPost, ApiKeyScope]
    required_scope = ("cases.read", "cases.write")

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, enum=list(METRICS), description="What to count (default reported)."),
            OpenApiParameter("interval", str, enum=list(INTERVALS), description="Bucket size (default day)."),
            *_COMMON,
        ],
        responses=SeriesSerializer,
        description="Cases of the node's subtree reported (resolved, closed) per day, week or month, by the date "
                    "of that step, every bucket present. Default period: the last 30 days, 12 weeks or 12 months.",
    )
    def get(self, request):
        form = SeriesForm(request.GET)
        with selectors.reading():
            sel = select(request, form)
            data = form.cleaned_data
            points = selectors.series(sel.cases_any_time, metric=data["metric"], interval=data["interval"],
                                      start=data["from"], end=data["to"])
        return Response(SeriesSerializer({
            "metric": data["metric"], "interval": data["interval"], "date_from": data["from"],
            "date_to": data["to"], "points": points,
        }).data)


def _export_body(request, export: Export) -> dict:
    done = export.status == Export.Status.DONE
    return ExportSerializer({
        "id": export.pk, "status": export.status, "format": export.format, "rows": export.rows,
        "created_at": export.created_at, "finished_at": export.finished_at,
        "url": request.build_absolute_uri(reverse("centre-export", args=[export.pk])),
        "download": request.build_absolute_uri(reverse("centre-export-download", args=[export.pk])) if done else None,
    }).data


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Export.Format.choices)


class ExportsView(APIView):
    # Exports are for staff: no scope is named, so every partner key is refused (ApiKeyScope).
    permission_classes = [IsStaffWithPost, ApiKeyScope]

    @extend_schema(
        request=ExportRequestSerializer, parameters=_COMMON,
        responses={201: ExportSerializer, 202: ExportSerializer},
        description="Export the cases the summary counts (same query string) as CSV or XLSX. Up to "
                    "CENTRE_EXPORT_INLINE_ROWS cases the file is built at once (201, with `download`); above, a "
                    "worker builds it (202: poll `url` until `download` is set). The same export asked for again "
                    "while in progress answers 202 with the first one. Logged in the audit log.",
    )
    def post(self, request):
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with selectors.reading():
            selection = select(request, CentreForm(request.GET))
            rows = selection.cases.count()
        export, created = export_request(
            actor=request.user, source=Export.Source.CENTRE, format=body.validated_data["format"], rows=rows,
            params=dict(selection.case_list_params.lists()), request=request,
        )
        code = status.HTTP_201_CREATED if export.status == Export.Status.DONE else status.HTTP_202_ACCEPTED
        response = Response(_export_body(request, export), status=code)
        response["Location"] = _export_body(request, export)["url"]
        return response


class ExportView(APIView):
    permission_classes = [IsStaffWithPost, ApiKeyScope]

    @extend_schema(responses=ExportSerializer, description="An export of yours: its status, and the link to "
                                                          "its file once ready. Others' exports answer 404.")
    def get(self, request, pk: int):
        return Response(_export_body(request, get_object_or_404(Export, pk=pk, requested_by=request.user)))


class ExportDownloadView(APIView):
    permission_classes = [IsStaffWithPost, ApiKeyScope]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   description="The file of a ready export of yours (404 otherwise).")
    def get(self, request, pk: int):
        return export_file_response(get_object_or_404(Export, pk=pk, requested_by=request.user))
