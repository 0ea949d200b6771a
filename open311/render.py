"""GeoReport v2's two formats, exactly as the specification maps them (http://wiki.open311.org/GeoReport_v2).

XML: a declaration with encoding UTF-8, then the root (`services`, `service_definition`,
`service_requests`, `errors`, `discovery`) and its items, no namespace; booleans as true/false, an
absent value as an empty element. JSON drops the root: lists are bare arrays, a single document a bare
object; ids and codes are strings. Dates are W3C datetimes with their offset (open311.mapping).
"""

import json
from xml.etree import ElementTree

from django.http import HttpResponse

__all__ = ["Open311Error", "error_response", "render"]

CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
# The element each list's items get in XML.
_ITEMS = {
    "services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
    "values": "value", "endpoints": "endpoint", "formats": "format", "notes": "note", "photos": "photo",
}


class Open311Error(Exception):
    """An answer in the specification's error format: 400 bad request, 403 api_key, 404 not found."""

    def __init__(self, status: int, *descriptions: str, headers: dict | None = None):
        super().__init__(descriptions[0] if descriptions else str(status))
        self.status, self.descriptions, self.headers = status, descriptions or ("",), headers or {}


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _fill(element: ElementTree.Element, value) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ElementTree.SubElement(element, key), child)
    elif isinstance(value, list):
        item = _ITEMS.get(element.tag, "item")
        for child in value:
            _fill(ElementTree.SubElement(element, item), child)
    else:
        element.text = _text(value)


def _xml(root: str, data) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, data)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(element, encoding="unicode").encode()


def render(data, fmt: str, *, root: str, status: int = 200, headers: dict | None = None) -> HttpResponse:
    body = _xml(root, data) if fmt == "xml" else json.dumps(data, ensure_ascii=False).encode()
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: Open311Error, fmt: str) -> HttpResponse:
    errors = [{"code": error.status, "description": description} for description in error.descriptions]
    return render(errors, fmt, root="errors", status=error.status, headers=error.headers)
