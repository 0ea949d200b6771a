"""The cases API (/api/v1/issues/): categories, and cases with one POST endpoint per workflow
transition, generated from issues.workflow.TRANSITIONS.

Every case is fetched through issues.selectors (grid.permissions.scope), so a case the user cannot
see answers 404; every write goes through issues.services, whose errors civic.api.errors maps to the
one error shape (a stale version is a 409 and changes nothing).
"""

import hashlib
import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet, ReadOnlyModelViewSet

from civic.api.idempotency import created_or_replayed, idempotency_key, idempotency_key_parameter
from civic.protected_media import protected_file_response
from issues import selectors, services
from issues.api.serializers import (
    CaseDetailSerializer,
    CaseListSerializer,
    CasePhotosSerializer,
    CaseReportMultipartSerializer,
    CaseReportSerializer,
    CategorySerializer,
    NearbyCaseSerializer,
    NearbyCasesSerializer,
    NearbyQuerySerializer,
    transition_serializer,
)
from issues.filters import CaseFilter, CaseOrderingFilter
from issues.models import Case
from issues.workflow import TRANSITIONS
from partners.permissions import ApiKeyScope

__all__ = ["CasePhotoFileView", "CaseViewSet", "CategoryViewSet", "case_etag"]

CATEGORY_MAX_AGE = 3600  # seconds a phone may reuse the category list without asking again


#
# Categories
#


class CategoryViewSet(ReadOnlyModelViewSet):
    """The active categories, for every signed-in user: small, unpaginated and cacheable (ETag)."""

    permission_classes = [IsAuthenticated, ApiKeyScope]
    required_scope = ("cases.read", "cases.write")  # reporting needs the categories
    serializer_class = CategorySerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return selectors.category_list(with_attributes=True)

    def finalize_response(self, request, response, *args, **kwargs):
        if request.method in ("GET", "HEAD") and isinstance(response, Response) and response.status_code == 200:
            body = json.dumps(response.data, sort_keys=True, ensure_ascii=False, default=str)
            response["ETag"] = quote_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
            patch_cache_control(response, private=True, max_age=CATEGORY_MAX_AGE)
            not_modified = get_conditional_response(request, etag=response["ETag"], response=response)
            if not_modified is not response:
                return not_modified
        return super().finalize_response(request, response, *args, **kwargs)


#
# Cases
#


def case_etag(case: Case) -> str:
    """Weak: the body also depends on the reader (their actions) and the language."""
    return f'W/"{case.pk}-{case.version}"'


_IF_MATCH = re.compile(r'^\s*(?:W/)?"(?:(?P<id>\d+)-)?(?P<version>\d+)"\s*$')


def _if_match_version(request, case: Case) -> int | None:
    header = request.headers.get("If-Match")
    if not header:
        return None
    match = _IF_MATCH.match(header)
    if match is None or (match["id"] and int(match["id"]) != case.pk):
        raise ValidationError({"version": _("The If-Match header must carry this case's ETag.")})
    return int(match["version"])


_IDEMPOTENCY_KEY_PARAMETER = idempotency_key_parameter(
    "sending the same report again (an offline queue retrying) answers 200 with the case stored the first time, "
    "and the header Idempotent-Replayed: true."
)

_IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False,
    description='The ETag of the case as read (W/"<id>-<version>"), instead of `version` in the body.',
)


def _transition_action(name: str):
    """The endpoint POST cases/{id}/<name>/: one generated method per transition, all run by _transition."""
    transition = TRANSITIONS[name]

    def handler(self, request, pk=None):
        return self._transition(request, name)

    handler.__name__ = f"transition_{name}"  # the router finds the method by this name
    handler.__doc__ = f"{str(transition.label).capitalize()}."
    sources = ", ".join(sorted(str(s) for s in transition.sources))
    description = (
        f"From: {sources}. To: {transition.target or 'the same status'}. "
        f"Who: {transition.action}. {'A comment is required. ' if transition.needs_comment else ''}"
        + ("A stale version answers 409 and changes nothing." if transition.versioned else
           "It adds to the timeline without changing the case: it needs no version and leaves it as it is, so it "
           "never conflicts with a transition.")
    )
    serializer = transition_serializer(name)
    handler = action(detail=True, methods=["post"], url_path=name, url_name=name.replace("_", "-"),
                     transition=name)(handler)
    return extend_schema(
        operation_id=f"issues_cases_{name}", summary=str(transition.label), description=description,
        request={"application/json": serializer, "multipart/form-data": serializer},
        responses={200: CaseDetailSerializer}, parameters=[_IF_MATCH_PARAMETER] if transition.versioned else [],
    )(handler)


def _with_transitions(cls):
    for name in TRANSITIONS:
        setattr(cls, f"transition_{name}", _transition_action(name))
    return cls


@extend_schema_view(
    create=extend_schema(
        request={"multipart/form-data": CaseReportMultipartSerializer, "application/json": CaseReportSerializer},
        responses={201: CaseDetailSerializer, 200: CaseDetailSerializer}, parameters=[_IDEMPOTENCY_KEY_PARAMETER],
        description="Report a problem: multipart with its photos (`photos`, repeated) in one request, or JSON "
                    "and the photos afterwards with POST cases/{id}/photos/.",
    ),
)
@_with_transitions
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, GenericViewSet):
    """Cases in the user's scope: citizens see the cases they reported, staff those of their subtrees."""

    permission_classes = [IsAuthenticated, ApiKeyScope]
    required_scope = {"read": ("cases.read", "cases.write"), "write": "cases.write"}
    filter_backends = [DjangoFilterBackend, CaseOrderingFilter]
    filterset_class = CaseFilter
    ordering_fields = ["created_at", "due_at", "priority", "id"]
    ordering = ["-id"]
    transition = None  # set per generated endpoint (the action's initkwargs)

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.case_detail(user=self.request.user)
        return selectors.case_list(user=self.request.user)

    def get_serializer_class(self):
        if self.transition:
            return transition_serializer(self.transition)
        return {
            "list": CaseListSerializer, "create": CaseReportMultipartSerializer, "photos": CasePhotosSerializer,
        }.get(self.action, CaseDetailSerializer)

    def _detail(self, case_pk: int, status_code: int = status.HTTP_200_OK) -> Response:
        return self._answer(selectors.case_detail(user=self.request.user).get(pk=case_pk), status_code)

    def _answer(self, case: Case, status_code: int) -> Response:
        serializer = CaseDetailSerializer(case, context=self.get_serializer_context())
        return Response(serializer.data, status=status_code, headers={"ETag": case_etag(case)})

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        serializer = CaseDetailSerializer(case, context=self.get_serializer_context())
        return Response(serializer.data, headers={"ETag": case_etag(case)})

    def create(self, request, *args, **kwargs):
        client_key = idempotency_key(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def respond(case: Case, status_code: int) -> Response:
            # A new case is answered as the service wrote it (its timeline and photos came back with it);
            # a replayed one is read, as it may have moved on since.
            response = self._answer(case, status_code) if status_code == 201 else self._detail(case.pk, status_code)
            response["Location"] = request.build_absolute_uri(f"{case.pk}/")
            return response

        return created_or_replayed(
            lambda: services.case_report(actor=request.user, client_key=client_key, **serializer.validated_data),
            respond,
        )

    def _version(self, request, case: Case, data: dict) -> int | None:
        version = data.pop("version", None)
        from_header = _if_match_version(request, case)
        return version if version is not None else from_header

    def _transition(self, request, name: str) -> Response:
        case = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = None
        if TRANSITIONS[name].versioned:
            version = self._version(request, case, data)
            if version is None:
                raise ValidationError({"version": _("Send the version you read, or its ETag in If-Match.")})
        services.case_transition(actor=request.user, case=case, name=name, version=version, **data)
        return self._detail(case.pk)

    @extend_schema(
        request={"multipart/form-data": CasePhotosSerializer}, responses={200: CaseDetailSerializer},
        description="Add photos to a case (kind 'comment'), e.g. after reporting it as JSON. Like a comment, "
                    "this neither needs nor changes the case's version.",
    )
    @action(detail=True, methods=["post"])
    def photos(self, request, pk=None):
        case = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.case_transition(
            actor=request.user, case=case, name="comment",
            comment=serializer.validated_data.get("comment") or _("Added photos."),
            photos=serializer.validated_data["photos"],
        )
        return self._detail(case.pk)

    @extend_schema(
        operation_id="issues_cases_nearby", parameters=[NearbyQuerySerializer], responses={200: NearbyCasesSerializer},
        description="Possible duplicates of a problem being reported: open cases of the same category within "
                    "`radius_m` (settings.CASE_DUPLICATE_RADIUS_M, 200 m by default) of the point, nearest first "
                    "(at most 10), so that the reporter can follow one instead of filing it twice. Public cases "
                    "are measured from their public point (a sensitive category's case from its grid's centre); "
                    "the cases you see in full (your own; staff: your scope) from their own point, with their id.",
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def nearby(self, request):
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cases = selectors.duplicate_candidates(user=request.user, **query.validated_data)
        return Response({"radius_m": settings.CASE_DUPLICATE_RADIUS_M,
                         "results": NearbyCaseSerializer(cases, many=True).data})


#
# Photo files
#


class _AnyAccept(BaseContentNegotiation):
    """The file whatever the Accept header asks (an <img> asks for image/*), and errors as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CasePhotoFileView(APIView):
    """The one way a case photo leaves the server, for the API (token or session) and the pages alike."""

    permission_classes = [AllowAny, ApiKeyScope]  # the public may open public display copies; the selector decides
    required_scope = ("cases.read", "cases.write")  # a partner's key opens what its grants let it see
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        operation_id="issues_photos_file",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="The photo's id (a case's photos[].id)."),
            OpenApiParameter("variant", str, OpenApiParameter.PATH, enum=["display", "original"],
                             description="display: at most 1280 px on the long side; original: as uploaded."),
        ],
        responses={(200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The photo.")},
        description="A case photo's file, by the case's own rules (issues.selectors.CaseView): the reporter and "
                    "staff whose grants cover the case open both copies; anyone, signed in or not, opens the display "
                    "copy of a public case outside the sensitive categories; every other request answers 404.",
    )
    def get(self, request, id: int, variant: str):
        photo = selectors.case_photo(user=request.user, pk=id, variant=variant)
        if photo is None:
            raise Http404
        return protected_file_response(photo.file(variant))
