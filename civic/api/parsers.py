"""The API's request parsers (settings REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): DRF's, refusing what
no view should see (civic.inputs) with a 400 in the API's error shape instead of a server error —
JSON nested too deep (DRF lets the RecursionError through), and NUL characters anywhere in a body,
which PostgreSQL refuses in text and in jsonb."""

import json
import re

from django.core.exceptions import ValidationError
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from civic.inputs import NUL_MESSAGE, form_has_nul, too_deep_message, validate_json_input

__all__ = ["BulkJSONParser", "FormParser", "JSONParser", "MultiPartParser"]


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep_message()) from None
        try:
            validate_json_input(data)
        except ValidationError as exc:
            raise ParseError(exc.messages[0]) from None
        return data


class BulkJSONParser(parsers.JSONParser):
    """For endpoints that take a large body of plain records (a provider's 10,000 bills) and store none
    of it as JSON: NULs refused by one scan of the raw bytes (JSON can carry one only as the escape
    \\u0000; a false alarm on an escaped backslash before "u0000" is a harmless 400), a body nested
    too deep for the parser a 400 — without walking every value as JSONParser does. Its view checks
    each field it keeps as the text, date or number it must be."""

    _NUL = re.compile(rb"\\u0000", re.IGNORECASE)

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if self._NUL.search(raw):
            raise ParseError(NUL_MESSAGE)
        try:
            return json.loads(raw)
        except RecursionError:
            raise ParseError(too_deep_message()) from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None


def _refuse_nul(data, files=None) -> None:
    if form_has_nul(data, files):
        raise ParseError(NUL_MESSAGE)


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_nul(parsed.data, parsed.files)
        return parsed
