"""The base of every scoped API endpoint: reads start from a selector (which applies
grid.permissions.scope), writes go through a service that checks the actor's grants; a read of one
object carries an ETag, and an update sent with If-Match applies only to the object as it was read
(civic.api.etags)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, viewsets

from civic.api.etags import IF_MATCH_PARAMETER, ConditionalUpdateMixin
from grid.permissions import can
from grid.services import record_delete, record_save

__all__ = ["ScopedActionPermission", "ScopedModelViewSet"]

_ACTIONS = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class ScopedActionPermission(permissions.IsAuthenticated):
    """Object check through grid.permissions.can. Unreadable objects never get here: the scoped
    queryset already answered 404 for them, so a 403 only tells what the user could see anyway."""

    def has_object_permission(self, request, view, obj):
        return can(request.user, _ACTIONS.get(request.method, "change"), obj)


@extend_schema_view(update=extend_schema(parameters=[IF_MATCH_PARAMETER]),
                    partial_update=extend_schema(parameters=[IF_MATCH_PARAMETER]))
class ScopedModelViewSet(ConditionalUpdateMixin, viewsets.ModelViewSet):
    permission_classes = [ScopedActionPermission]
    selector = None  # a function (*, user) -> QuerySet, already scoped to what the user may view

    def get_queryset(self):
        return type(self).selector(user=self.request.user)

    def perform_create(self, serializer):
        instance = serializer.Meta.model(**serializer.validated_data)
        serializer.instance = record_save(actor=self.request.user, instance=instance)

    def perform_update(self, serializer):
        instance = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(instance, field, value)
        record_save(actor=self.request.user, instance=instance)

    def perform_destroy(self, instance):
        record_delete(actor=self.request.user, instance=instance)
