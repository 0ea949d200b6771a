from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from grid.idnumbers import validate_id_number
from grid.models import Building, Department, GridNode, Household, Level, Place, Post, Resident, Visit
from grid.permissions import scope
from grid.selectors import shown_id_number

__all__ = [
    "DepartmentSerializer",
    "HouseholdSerializer",
    "NodeDetailSerializer",
    "NodeMoveSerializer",
    "NodeSerializer",
    "PlaceSerializer",
    "PostSerializer",
    "ResidentSerializer",
    "VisitSerializer",
]


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key whose choices are the rows the requesting user may see: others read as 'does not exist'."""

    def get_queryset(self):
        return scope(super().get_queryset(), self.context["request"].user)


#
# Nodes
#


class NodeBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = GridNode
        fields = ["id", "code", "name", "level"]


class NodeSerializer(serializers.ModelSerializer):
    parent = ScopedPrimaryKeyRelatedField(
        queryset=GridNode.objects.all(), allow_null=True, required=False, write_only=True
    )
    parent_id = serializers.SerializerMethodField()
    level = serializers.ChoiceField(choices=Level.choices)
    children_count = serializers.IntegerField(source="numchild", read_only=True)
    household_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = GridNode
        fields = [
            "id", "parent", "parent_id", "level", "code", "name", "centroid_lat", "centroid_lon", "boundary",
            "children_count", "household_count",
        ]
        # Uniqueness is checked by the service inside its transaction, with the same message.
        extra_kwargs = {"code": {"validators": []}}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_parent_id(self, node):
        # Lists annotate it (grid.selectors.node_list); a freshly written node looks it up.
        if hasattr(node, "parent_pk"):
            return node.parent_pk
        parent = node.get_parent()
        return parent.pk if parent else None


class NodeDetailSerializer(NodeSerializer):
    ancestors = serializers.SerializerMethodField()

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "ancestors"]

    @extend_schema_field(NodeBriefSerializer(many=True))
    def get_ancestors(self, node):
        from grid.selectors import node_ancestors

        return NodeBriefSerializer(node_ancestors(node), many=True).data


class NodeUpdateSerializer(NodeDetailSerializer):
    # Declared fields ignore Meta.read_only_fields: level must be made read-only here.
    level = serializers.ChoiceField(choices=Level.choices, read_only=True)

    class Meta(NodeDetailSerializer.Meta):
        read_only_fields = ["level", "code"]


class NodeMoveSerializer(serializers.Serializer):
    parent = ScopedPrimaryKeyRelatedField(queryset=GridNode.objects.all())


#
# Departments and posts
#


class DepartmentSerializer(serializers.ModelSerializer):
    node = ScopedPrimaryKeyRelatedField(queryset=GridNode.objects.all())

    class Meta:
        model = Department
        fields = ["id", "node", "code", "name"]


class PostSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all())
    node = ScopedPrimaryKeyRelatedField(queryset=GridNode.objects.all(), required=False)
    department = ScopedPrimaryKeyRelatedField(queryset=Department.objects.all(), required=False, allow_null=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = Post
        fields = ["id", "user", "role", "role_display", "node", "department", "since"]
        validators = []  # the service validates the whole post, uniqueness included


#
# Registry
#


class ResidentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(required=False)
    id_number = serializers.CharField(
        max_length=18, required=False, validators=[validate_id_number],
        help_text="Masked (1501**********1234) unless the user holds view_personal_id for the household's grid. "
        "Omit it when updating a resident to keep the stored number.",
    )

    class Meta:
        model = Resident
        fields = ["id", "name", "id_number", "relation", "phone"]

    def to_representation(self, resident):
        data = super().to_representation(resident)
        data["id_number"] = shown_id_number(viewer=self.context["request"].user, resident=resident)
        return data


class HouseholdSerializer(serializers.ModelSerializer):
    grid = ScopedPrimaryKeyRelatedField(queryset=GridNode.objects.filter(level=Level.GRID))
    building = ScopedPrimaryKeyRelatedField(queryset=Building.objects.all(), required=False, allow_null=True)
    residents = ResidentSerializer(many=True, required=False)

    class Meta:
        model = Household
        fields = ["id", "grid", "building", "address", "head_name", "phone", "registered_at", "residents"]


class PlaceSerializer(serializers.ModelSerializer):
    grid = ScopedPrimaryKeyRelatedField(queryset=GridNode.objects.filter(level=Level.GRID))

    class Meta:
        model = Place
        fields = ["id", "grid", "kind", "name", "address", "contact_phone", "lat", "lon"]


#
# Patrols
#


class VisitSerializer(serializers.ModelSerializer):
    household = ScopedPrimaryKeyRelatedField(queryset=Household.objects.all(), required=False, allow_null=True)
    place = ScopedPrimaryKeyRelatedField(queryset=Place.objects.all(), required=False, allow_null=True)
    target_name = serializers.CharField(source="target", read_only=True)
    visitor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    outcome_display = serializers.CharField(source="get_outcome_display", read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id", "grid", "household", "place", "target_name", "visitor", "visited_at", "outcome", "outcome_display",
            "note",
        ]
        read_only_fields = ["grid"]
        extra_kwargs = {"visited_at": {"help_text": "When the visit took place; defaults to now."}}
