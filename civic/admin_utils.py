"""What admin classes of every app share."""

__all__ = ["ReadOnlyAdminMixin"]


class ReadOnlyAdminMixin:
    """For records written only by the app's services (an outbox, a timeline, a ledger, visits): the
    admin shows them to whoever may view them, and nobody adds, edits or deletes one by hand."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
