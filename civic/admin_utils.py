"""What admin classes of every app share."""

from functools import cached_property

from django.core.paginator import Paginator

from civic.counts import count_with_estimate

__all__ = ["EstimatedCountPaginator", "ReadOnlyAdminMixin"]


class EstimatedCountPaginator(Paginator):
    """A changelist's paginator that counts exactly only up to civic.counts.EXACT_COUNT_LIMIT rows and
    estimates above (``count_exact`` tells the template), as the API does."""

    @cached_property
    def _counted(self) -> tuple[int, bool]:
        return count_with_estimate(self.object_list)

    @cached_property
    def count(self) -> int:
        return self._counted[0]

    @property
    def count_exact(self) -> bool:
        return self._counted[1]


class ReadOnlyAdminMixin:
    """For records written only by the app's services (an outbox, a timeline, a ledger, visits): the
    admin shows them to whoever may view them, and nobody adds, edits or deletes one by hand."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
