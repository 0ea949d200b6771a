"""Input that no view should ever see: NUL characters, which PostgreSQL refuses in text and in jsonb
(a query or a write with one is a server error, not a refusal), and JSON nested deeper than anything
Civic reads (walking it recursively exhausts Python's stack).

Every input path checks with these, each at its own door: civic.middleware (the URL path, the query
string and posted form data, for every view including the admin), civic.api.parsers (request bodies
of the API: JSON, form and multipart) and the validators of JSON fields (grid.geo.validate_boundary).
"""

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

__all__ = ["NUL", "NUL_MESSAGE", "form_has_nul", "has_nul", "too_deep_message", "validate_json_input"]

NUL = "\x00"
NUL_MESSAGE = _("Text may not contain the NUL character.")


def has_nul(texts: Iterable[str]) -> bool:
    return any(NUL in text for text in texts)


def form_has_nul(data, files=None) -> bool:
    """Whether a query string or a posted form (QueryDicts; `files` its uploads) holds a NUL in a name,
    a value or an uploaded file's name."""
    texts = [text for key, values in data.lists() for text in (key, *values) if isinstance(text, str)]
    if files is not None:
        texts += [text for key, uploads in files.lists() for text in (key, *(upload.name or "" for upload in uploads))]
    return has_nul(texts)


def validate_json_input(value, *, max_depth: int | None = None) -> None:
    """Refuse a parsed JSON value nested deeper than JSON_MAX_DEPTH arrays and objects, or holding a NUL
    in any string or key. Iterative: the value may be as deep as the parser allowed."""
    max_depth = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                raise ValidationError(NUL_MESSAGE, code="null_characters_not_allowed")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise ValidationError(too_deep_message(max_depth), code="too_deep")
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)


def too_deep_message(max_depth: int | None = None) -> str:
    limit = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    return _("JSON nested deeper than %(limit)d levels is not accepted.") % {"limit": limit}
