"""Domain errors shared by every app, free of any HTTP or framework concern."""

import re

from django.utils.translation import gettext_lazy

__all__ = ["ConflictError"]


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
