"""The API's request parsers (settings REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): DRF's, refusing what
no view should see (civic.inputs) with a 400 in the API's error shape instead of a server error —
JSON nested too deep (DRF lets the RecursionError through), and NUL characters anywhere in a body,
which PostgreSQL refuses in text and in jsonb."""

from django.core.exceptions import ValidationError
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from civic.inputs import NUL_MESSAGE, form_has_nul, too_deep_message, validate_json_input

__all__ = ["FormParser", "JSONParser", "MultiPartParser"]


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
