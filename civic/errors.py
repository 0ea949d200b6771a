"""Domain errors shared by every app, free of any HTTP or framework concern."""

import re

from django.utils.translation import gettext_lazy

__all__ = ["AlreadyDone", "ConflictError"]


class ConflictError(Exception):
    """A domain refusal because the data changed or conflicts with the request: HTTP 409.

    Apps above civic subclass it (civic knows none of them). The error code is `code`, or the
    subclass's name in snake case (StaleVersion -> "stale_version"); the message is the one the
    exception was raised with, or `message`.
    """

    code: str | None = None
    message = gettext_lazy("The record has changed since you read it, or conflicts with its current state: "
                           "reload it and try again.")

    @classmethod
    def error_code(cls) -> str:
        return cls.code or re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class AlreadyDone(Exception):  # noqa: N818 - not an error: the write happened, the first time
    """The client sent this write before (the same client key, e.g. an Idempotency-Key): nothing new was
    stored, and `instance` is what the first copy stored. A service raises it, rather than return, so
    that every caller can tell a replay from a new record (the API answers 200 and Idempotent-Replayed:
    civic.api.idempotency.created_or_replayed)."""

    def __init__(self, instance):
        super().__init__(str(instance))
        self.instance = instance

    @classmethod
    def raise_if_stored(cls, earlier) -> None:
        """Raise with the first row of `earlier` (a queryset: this client's copies of the write), if any."""
        stored = earlier.first()
        if stored is not None:
            raise cls(stored)
