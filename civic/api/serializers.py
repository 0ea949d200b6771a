from rest_framework import serializers

from civic.models import User

__all__ = ["MeSerializer"]


class MeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True, help_text="Surname first (李明); may be empty.")

    class Meta:
        model = User
        fields = ["id", "username", "name", "language", "is_staff"]
        read_only_fields = fields
