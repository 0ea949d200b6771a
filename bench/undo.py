"""Undoing what a measured run wrote, for writes that must really commit (a request served by another
process, a statement count that a wrapping transaction would change): rows created since a snapshot
are deleted, and the cases a sweep changed are put back as they were.

Django must be set up before this module is imported.
"""

from django.apps import apps
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max

from issues.models import OPEN_STATUSES, Case

__all__ = ["NewRows", "OverdueCases"]


def _counted_models() -> list[type[models.Model]]:
    """Models with an integer primary key that grows: their new rows are those past the old maximum."""
    return [model for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy
            and isinstance(model._meta.pk, models.AutoField | models.BigAutoField | models.SmallAutoField)]


class NewRows:
    """``rows = NewRows()`` before a run, ``rows.remove()`` after: every row created since in any table
    with an auto-increment key (cases, their events, notices, audit and login records...) is deleted."""

    def __init__(self):
        self.before = {model: self._max(model) for model in _counted_models()}

    @staticmethod
    def _max(model) -> int:
        return model._base_manager.aggregate(top=Max("pk"))["top"] or 0

    def remove(self) -> dict[str, int]:
        """Delete the new rows, dependents first (whatever refuses now is retried after the others);
        returns {table: rows deleted}."""
        pending = [model for model, top in self.before.items() if self._max(model) > top]
        removed: dict[str, int] = {}
        while pending:
            refused = []
            for model in pending:
                try:
                    with transaction.atomic():
                        _total, per_model = model._base_manager.filter(pk__gt=self.before[model]).delete()
                except (models.ProtectedError, models.RestrictedError, IntegrityError):
                    refused.append(model)
                    continue
                for label, n in per_model.items():
                    removed[label] = removed.get(label, 0) + n
            if len(refused) == len(pending):
                raise RuntimeError(f"Could not remove the rows a run created in {[m.__name__ for m in refused]}")
            pending = refused
        return {label: n for label, n in removed.items() if n}


class OverdueCases:
    """``cases = OverdueCases()`` before a sweep, ``cases.restore()`` after: the overdue cases get
    every column back as it was (a temporary table holds the copy)."""

    TABLE = "bench_overdue_before"

    def __init__(self):
        table = connection.ops.quote_name(Case._meta.db_table)
        marks = ", ".join(["%s"] * len(OPEN_STATUSES))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.TABLE} AS SELECT * FROM {table}"
                f" WHERE status IN ({marks}) AND due_at < now() AND flagged_at IS NULL",
                list(OPEN_STATUSES),
            )
            self.count = cursor.rowcount

    def restore(self) -> int:
        table = connection.ops.quote_name(Case._meta.db_table)
        columns = [connection.ops.quote_name(f.column) for f in Case._meta.concrete_fields if not f.primary_key]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} c SET ({', '.join(columns)}) = ({', '.join(f'b.{c}' for c in columns)})"
                f" FROM {self.TABLE} b WHERE c.id = b.id"
            )
            restored = cursor.rowcount
            cursor.execute(f"DROP TABLE {self.TABLE}")
        return restored
