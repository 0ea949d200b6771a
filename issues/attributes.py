"""Checking a report's answers to its category's attributes (issues.models.CategoryAttribute).

A value arrives as text (a form field, Open311's attribute[code]) or as JSON; what is stored is plain
JSON: text for string/text, a number as a string of its decimal value (no float rounding), an ISO
datetime with its offset, a key for singlevaluelist, a list of keys for multivaluelist.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from issues.models import Category, CategoryAttribute

__all__ = ["attributes_clean"]

Datatype = CategoryAttribute.Datatype
_STRING_MAX, _TEXT_MAX = 500, 4000


def _blank(value) -> bool:
    return value is None or value == "" or value == []


def _one(attribute: CategoryAttribute, value):
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(_("%(code)s takes one value.") % {"code": attribute.code})
        value = value[0]
    return str(value).strip()


def _convert(attribute: CategoryAttribute, value):
    keys = {str(v["key"]) for v in attribute.values}
    if attribute.datatype == Datatype.MULTIVALUELIST:
        chosen = [str(v).strip() for v in (value if isinstance(value, list) else [value])]
        unknown = [v for v in chosen if v not in keys]
        if unknown:
            raise ValueError(_("%(code)s has no value %(value)s.") % {"code": attribute.code, "value": unknown[0]})
        return list(dict.fromkeys(chosen))
    text = _one(attribute, value)
    if attribute.datatype == Datatype.SINGLEVALUELIST:
        if text not in keys:
            raise ValueError(_("%(code)s has no value %(value)s.") % {"code": attribute.code, "value": text})
        return text
    if attribute.datatype == Datatype.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise ValueError(_("%(code)s is a number.") % {"code": attribute.code})
        return str(number)
    if attribute.datatype == Datatype.DATETIME:
        moment = parse_datetime(text)
        if moment is None or moment.tzinfo is None:
            raise ValueError(_("%(code)s is a date and time with its time zone, e.g. 2026-12-01T08:30:00+08:00.")
                             % {"code": attribute.code})
        return moment.isoformat()
    limit = _STRING_MAX if attribute.datatype == Datatype.STRING else _TEXT_MAX
    if len(text) > limit or (attribute.datatype == Datatype.STRING and "\n" in text):
        raise ValueError(_("%(code)s is at most %(limit)d characters%(line)s.")
                         % {"code": attribute.code, "limit": limit,
                            "line": _(" on one line") if attribute.datatype == Datatype.STRING else ""})
    return text


def attributes_clean(category: Category, values: Mapping) -> dict:
    """The answers, checked against the category's attributes and converted; ValidationError on
    "attributes" listing every problem (an unknown code, a required one missing, a wrong value)."""
    attributes = {a.code: a for a in category.attributes.all()}
    errors = [_("%(code)s is not an attribute of this category.") % {"code": code}
              for code in values if code not in attributes]
    cleaned = {}
    for code, attribute in attributes.items():
        value = values.get(code)
        if _blank(value):
            if attribute.required:
                errors.append(_("%(code)s is required.") % {"code": code})
            continue
        try:
            cleaned[code] = _convert(attribute, value)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValidationError({"attributes": errors})
    return cleaned
