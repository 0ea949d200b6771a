from django.db import models
from django.db.models.functions import Substr
from django.db.models.lookups import Exact, Lookup

__all__ = ["GRID_PATH_LENGTH", "GridPathField", "SubtreeLookup"]

# treebeard's steplen (4) times the grid's depth (5): a record's path is always its grid's whole path.
GRID_PATH_LENGTH = 20


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


@GridPathField.register_lookup
class SubtreeLookup(Lookup):
    """``grid_path__subtree="P"``: the record lies in P's subtree, written as an equality on the path's
    first len(P) characters (``SUBSTRING(grid_path, 1, len(P)) = P``; a grid's whole path is compared
    as it is). A table with an index per level on that prefix (issues.models.Case) then reads a subtree
    in the order of the index's second column, stopping after a page, whatever the subtree's size; a
    range on the path (grid.permissions.subtree_q) can only be read in path order."""

    lookup_name = "subtree"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def as_sql(self, compiler, connection):
        path = self.rhs
        if not isinstance(path, str) or not path:
            raise ValueError("__subtree compares with a node's path (a non-empty string).")
        # The same expression as the indexes (Substr, with its length as a literal), or they would not match.
        prefix = self.lhs if len(path) >= GRID_PATH_LENGTH else Substr(self.lhs, 1, len(path))
        return compiler.compile(Exact(prefix, path))
