"""Civic's categories and cases in GeoReport v2's terms (section 12 of ../shared/open311.md).

- A service is an active case category: service_code = the category's code, group = its top-level
  category, metadata = whether it has attributes, type = realtime (the id comes back at once).
- A service request is a public case (issues.selectors.public_case_list): service_request_id = its
  reference; status = closed once resolved, verified or closed, else open, with Civic's own status in
  status_notes; agency_responsible = the department or office holding it; expected_datetime = the
  current deadline; a sensitive case at its grid's centre, without an address.
- extensions=true adds Civic's own detail: extended_attributes, the attribute answers, and notes
  (the timeline's steps, without comments or names).
"""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from issues.models import Case, Category, CategoryAttribute, Status
from issues.selectors import public_location
from issues.workflow import event_label

__all__ = ["CLOSED_STATUSES", "request_of", "service_definition_of", "service_of", "w3c"]

CLOSED_STATUSES = (Status.RESOLVED, Status.VERIFIED, Status.CLOSED)
_LISTS = (CategoryAttribute.Datatype.SINGLEVALUELIST, CategoryAttribute.Datatype.MULTIVALUELIST)


def w3c(value: datetime | None) -> str | None:
    """A W3C datetime with its offset, in the city's time zone: 2026-12-01T08:30:00+08:00."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


#
# Services
#


def service_of(category: Category) -> dict:
    group = category.parent or category
    return {
        "service_code": category.code,
        "service_name": category.display_name,
        "description": f"{group.display_name} › {category.display_name}" if category.parent else category.display_name,
        "metadata": bool(category.attributes.all()),
        "type": "realtime",
        "keywords": ",".join(dict.fromkeys([category.name, category.name_en, category.code])),
        "group": group.display_name,
    }


def _datatype_description(attribute: CategoryAttribute) -> str:
    return {
        CategoryAttribute.Datatype.NUMBER: _("A number, e.g. 12 or 3.5."),
        CategoryAttribute.Datatype.DATETIME: _("A date and time with its time zone, e.g. 2026-12-01T08:30:00+08:00."),
        CategoryAttribute.Datatype.MULTIVALUELIST: _("One or more of the keys: attribute[code][]=key, repeated."),
        CategoryAttribute.Datatype.SINGLEVALUELIST: _("One of the keys."),
        CategoryAttribute.Datatype.STRING: _("One line of text."),
    }.get(attribute.datatype, _("Text."))


def _attribute_of(attribute: CategoryAttribute) -> dict:
    entry = {
        "variable": True,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": _datatype_description(attribute),
        "order": attribute.order,
        "description": attribute.question,
    }
    if attribute.datatype in _LISTS:
        entry["values"] = [{"key": str(v["key"]), "name": attribute.value_name(v)} for v in attribute.values]
    return entry


def service_definition_of(category: Category) -> dict:
    return {"service_code": category.code, "attributes": [_attribute_of(a) for a in category.attributes.all()]}


#
# Service requests
#


def _agency(case: Case) -> str:
    return case.handling_department.name if case.handling_department_id else case.handling_node.name


def _number(value) -> float | None:
    return float(value) if value is not None else None


def request_of(case: Case, *, extensions: bool = False) -> dict:
    lat, lon, address, blurred = public_location(case)
    closed = case.status in CLOSED_STATUSES
    request = {
        "service_request_id": case.reference,
        "status": "closed" if closed else "open",
        "status_notes": str(case.get_status_display()),
        "service_name": case.category.display_name,
        "service_code": case.category.code,
        "description": case.description,
        "agency_responsible": _agency(case),
        "service_notice": "",
        "requested_datetime": w3c(case.created_at),
        # For a closed request, the spec's updated_datetime is when it was closed.
        "updated_datetime": w3c((case.closed_at or case.resolved_at or case.updated_at) if closed else case.updated_at),
        "expected_datetime": None if closed else w3c(case.due_at),
        "address": address,
        "address_id": "",
        "zipcode": "",
        "lat": _number(lat),
        "long": _number(lon),
        "media_url": case.media_url,
    }
    if extensions:
        request.update(_extensions(case, blurred))
    return request


def _extensions(case: Case, blurred: bool) -> dict:
    attributes = {a.code: a for a in case.category.attributes.all()}
    answers = []
    for code, value in case.attributes.items():
        attribute = attributes.get(code)
        answers.append({"code": code, "name": attribute.question if attribute else code,
                        "value": ",".join(value) if isinstance(value, list) else value})
    notes = [{"datetime": w3c(event.created_at), "type": event.action, "description": event_label(event.action)}
             for event in case.events.all()]
    return {
        "extended_attributes": {
            "civic_status": case.status, "priority": case.priority, "handling_level": case.handling_level,
            "area": case.grid.name, "escalations": case.escalation_count, "location_blurred": blurred,
        },
        "attributes": answers,
        "notes": notes,
    }
