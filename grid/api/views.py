from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from civic.api.idempotency import created_or_replayed, idempotency_key, idempotency_key_parameter
from grid import selectors, services
from grid.api.serializers import (
    DepartmentSerializer,
    HouseholdSerializer,
    NodeDetailSerializer,
    NodeMoveSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
    PlaceSerializer,
    PostSerializer,
    VisitSerializer,
)
from grid.api.viewsets import ScopedActionPermission, ScopedModelViewSet
from grid.filters import DepartmentFilter, HouseholdFilter, NodeFilter, PlaceFilter, PostFilter, VisitFilter
from grid.models import GridNode, Household

__all__ = ["DepartmentViewSet", "HouseholdViewSet", "NodeViewSet", "PlaceViewSet", "PostViewSet", "VisitViewSet"]


class NodeViewSet(ScopedModelViewSet):
    """The grid tree: city → district → street office → community → grid."""

    selector = selectors.node_list
    filterset_class = NodeFilter
    search_fields = ["name", "code"]
    ordering_fields = ["path", "code", "name"]
    ordering = ["path"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return NodeUpdateSerializer
        if self.action == "move":
            return NodeMoveSerializer
        return NodeDetailSerializer if self.action != "list" else NodeSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.node_create(actor=self.request.user, parent=data.pop("parent", None), **data)

    def perform_update(self, serializer):
        services.node_update(actor=self.request.user, node=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        services.node_delete(actor=self.request.user, node=instance)

    @extend_schema(request=NodeMoveSerializer, responses=NodeDetailSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the node and its subtree under another parent of the level above; codes follow."""
        node = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        node = services.node_move(actor=request.user, node=node, parent=serializer.validated_data["parent"])
        # Re-read: the instance from get_object() carries the old parent's pk as an annotation.
        node = selectors.with_household_counts(GridNode.objects.filter(pk=node.pk)).get()
        return Response(NodeDetailSerializer(node, context=self.get_serializer_context()).data)


class DepartmentViewSet(ScopedModelViewSet):
    selector = selectors.department_list
    serializer_class = DepartmentSerializer
    filterset_class = DepartmentFilter
    search_fields = ["name", "code"]
    ordering_fields = ["name", "code"]


class PostViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, mixins.ListModelMixin,
                  mixins.RetrieveModelMixin, GenericViewSet):
    """Who holds which role where. Creating a post grants the role's permissions on its node."""

    permission_classes = [ScopedActionPermission]
    serializer_class = PostSerializer
    filterset_class = PostFilter
    search_fields = ["user__username", "user__first_name", "user__last_name"]

    def get_queryset(self):
        return selectors.post_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.post_create(actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.post_delete(actor=self.request.user, post=instance)


class HouseholdViewSet(ScopedModelViewSet):
    """Households with their residents; ID numbers are masked without view_personal_id."""

    selector = selectors.household_list
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilter
    search_fields = ["address", "head_name"]
    ordering_fields = ["id", "address"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        residents = data.pop("residents", [])
        serializer.instance = services.household_save(
            actor=self.request.user, household=Household(**data), residents=residents
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        residents = data.pop("residents", None)
        for field, value in data.items():
            setattr(serializer.instance, field, value)
        services.household_save(actor=self.request.user, household=serializer.instance, residents=residents)
        # The response shows the residents as stored now, not the prefetched ones.
        serializer.instance = selectors.household_list(user=self.request.user).get(pk=serializer.instance.pk)


class PlaceViewSet(ScopedModelViewSet):
    selector = selectors.place_list
    serializer_class = PlaceSerializer
    filterset_class = PlaceFilter
    search_fields = ["name", "address"]
    ordering_fields = ["id", "name"]


class VisitViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """Patrol visits to households and places, newest first. A visit is recorded, never edited."""

    permission_classes = [ScopedActionPermission]
    serializer_class = VisitSerializer
    filterset_class = VisitFilter
    ordering_fields = ["visited_at", "id"]

    def get_queryset(self):
        return selectors.visit_list(user=self.request.user)

    @extend_schema(
        parameters=[idempotency_key_parameter(
            "sending the same visit again answers 200 with the visit recorded the first time, and the header "
            "Idempotent-Replayed: true; nothing is recorded twice.")],
        responses={201: VisitSerializer, 200: VisitSerializer},
    )
    def create(self, request, *args, **kwargs):
        client_key = idempotency_key(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return created_or_replayed(
            lambda: services.visit_record(actor=request.user, client_key=client_key, **serializer.validated_data),
            lambda visit, status_code: Response(self.get_serializer(visit).data, status=status_code),
        )
