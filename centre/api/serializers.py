"""The shapes of the command centre's API answers (documentation and output)."""

from rest_framework import serializers

__all__ = ["CategoryCountSerializer", "ExportSerializer", "SeriesSerializer", "SummarySerializer"]


class NodeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    code = serializers.CharField()
    level = serializers.IntegerField()


class CategoryCountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField(help_text="Cases in the category and its sub-categories, as the case list's "
                                               "`category` filter counts them.")
    open = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    node = NodeRefSerializer(allow_null=True)
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    total = serializers.IntegerField(help_text="Cases the case list returns for the same user and filters.")
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    due_within_24h = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="Every status, zeros too.")
    by_category = CategoryCountSerializer(many=True)
    open_by_level = serializers.DictField(child=serializers.IntegerField(),
                                          help_text="Open cases by handling level (2-5) or 'department'.")
    closure_rate = serializers.FloatField(allow_null=True)
    on_time_rate = serializers.FloatField(allow_null=True)
    reopen_rate = serializers.FloatField(allow_null=True)
    accepted = serializers.IntegerField()
    mean_accept_hours = serializers.FloatField(allow_null=True)
    median_accept_hours = serializers.FloatField(allow_null=True)
    resolved = serializers.IntegerField()
    mean_resolve_hours = serializers.FloatField(allow_null=True)
    median_resolve_hours = serializers.FloatField(allow_null=True)
    case_list = serializers.CharField(help_text="The case list's URL for the same cases.")


class PointSerializer(serializers.Serializer):
    start = serializers.DateField()
    count = serializers.IntegerField()


class SeriesSerializer(serializers.Serializer):
    metric = serializers.CharField()
    interval = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    points = PointSerializer(many=True)


class ExportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    format = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField()
    download = serializers.CharField(allow_null=True)
