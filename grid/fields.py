from django.db import models

__all__ = ["GridPathField"]


class GridPathField(models.CharField):
    """A materialized path stored in byte order.

    On PostgreSQL the column gets ``COLLATE "C"`` so that its plain btree index answers prefix
    ranges (``path >= 'P' AND path < 'P~'``). SQLite compares bytes already (BINARY) and has no
    collation named C, so it gets none.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params
