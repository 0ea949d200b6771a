"""Open311 GeoReport v2 at /open311/v2/: an adapter over issues.selectors and issues.services.

Reads are public (the public's view of cases, issues.selectors.public_case_list); POST requests needs
a partner's `api_key` with the open311 scope and goes through issues.services.case_report like every
other report (routing, deadlines, notices, timeline, webhooks). Errors are the specification's:
403 for a missing or refused api_key, 404 for an unknown service, request, token or jurisdiction,
400 for anything else that cannot be done, each as [{code, description}] / <errors>.
"""

import functools
import math
import re
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from civic.api.idempotency import idempotency_key
from issues import selectors, services
from issues.models import CaseEvent
from open311.mapping import CLOSED_STATUSES, request_of, service_definition_of, service_of, w3c
from open311.render import Open311Error, error_response, render
from partners.authentication import authenticate_key
from partners.models import Scope
from partners.selectors import KeyRefused
from partners.throttling import throttle_wait

__all__ = ["discovery", "request_detail", "requests", "service_definition", "service_list", "token"]

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's behaviour last changed (discovery's changeset).
CHANGESET = "2026-12-01T00:00:00+08:00"
MAX_REQUESTS = 1000  # the specification's default volume, and the largest page
DEFAULT_WINDOW = timedelta(days=90)
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")


def _param(data, name: str) -> str | None:
    """An optional parameter; sent empty, it is absent (the specification's rule)."""
    value = data.get(name)
    value = value.strip() if isinstance(value, str) else value
    return value or None


def endpoint(*methods: str):
    """Format from the URL, the method, jurisdiction_id, and Open311Error as the specification's error."""

    def decorate(view):
        @csrf_exempt  # machines post form-encoded with an api_key, never a browser session
        @functools.wraps(view)
        def wrapper(request, fmt: str, **kwargs):
            try:
                if request.method not in methods:
                    raise Open311Error(405, _("Use %(methods)s here.") % {"methods": " or ".join(methods)},
                                       headers={"Allow": ", ".join(methods)})
                jurisdiction = _param(request.GET, "jurisdiction_id") or _param(request.POST, "jurisdiction_id")
                if jurisdiction and jurisdiction != settings.OPEN311_JURISDICTION_ID:
                    raise Open311Error(404, _("jurisdiction_id %(id)s not found.") % {"id": jurisdiction})
                return view(request, fmt, **kwargs)
            except Open311Error as error:
                return error_response(error, fmt)

        return wrapper

    return decorate


#
# Discovery and services
#


@endpoint("GET")
def discovery(request, fmt):
    document = {
        "changeset": CHANGESET,
        "contact": settings.OPEN311_CONTACT,
        "key_service": settings.OPEN311_KEY_SERVICE,
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": request.build_absolute_uri("/open311/v2"),
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return render(document, fmt, root="discovery")


@endpoint("GET")
def service_list(request, fmt):
    categories = selectors.category_list(with_attributes=True).order_by("code")
    return render([service_of(category) for category in categories], fmt, root="services")


def _service(code: str | None):
    if not code:
        raise Open311Error(400, _("service_code is required."))
    category = selectors.category_list(with_attributes=True).filter(code=code).first()
    if category is None:
        raise Open311Error(404, _("service_code %(code)s not found.") % {"code": code})
    return category


@endpoint("GET")
def service_definition(request, fmt, code):
    return render(service_definition_of(_service(code)), fmt, root="service_definition")


#
# Service requests
#


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    moment = parse_datetime(value.replace(" ", "+"))  # a "+" left unescaped in a query string arrives as " "
    if moment is None or moment.tzinfo is None:
        raise Open311Error(400, _("%(name)s must be a W3C datetime with its time zone, e.g. 2026-12-01T00:00:00Z.")
                           % {"name": name})
    return moment


def _positive(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise Open311Error(400, _("%(name)s must be a whole number from 1 to %(max)d.")
                           % {"name": name, "max": maximum})
    return int(value)


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _window(params, cases):
    start, end = _when(_param(params, "start_date"), "start_date"), _when(_param(params, "end_date"), "end_date")
    if start and end and end < start:
        raise Open311Error(400, _("end_date lies before start_date."))
    if start and end and end - start > DEFAULT_WINDOW:
        raise Open311Error(400, _("start_date and end_date may not span more than 90 days."))
    if start is None:
        start = (end or timezone.now()) - DEFAULT_WINDOW
    if end is None:
        end = start + DEFAULT_WINDOW
    return cases.filter(created_at__gte=start, created_at__lte=end)


def _status_filter(params, cases):
    wanted = _listed(_param(params, "status"))
    unknown = [s for s in wanted if s not in ("open", "closed")]
    if unknown:
        raise Open311Error(400, _("status is open or closed (or both, comma-separated)."))
    if set(wanted) == {"closed"}:
        return cases.filter(status__in=CLOSED_STATUSES)
    if set(wanted) == {"open"}:
        return cases.exclude(status__in=CLOSED_STATUSES)
    return cases


def _search(params, extensions: bool):
    cases = (selectors.public_case_list().select_related("category", "grid", "handling_node", "handling_department")
             .order_by("-created_at", "-id"))
    if extensions:
        events = CaseEvent.objects.order_by("id")
        cases = cases.prefetch_related("category__attributes", Prefetch("events", queryset=events))
    ids = _listed(_param(params, "service_request_id"))
    if ids:  # overrides every other argument
        return cases.filter(reference__in=ids[:MAX_REQUESTS])[:MAX_REQUESTS]
    codes = _listed(_param(params, "service_code"))
    if codes:
        cases = cases.filter(category__code__in=codes)
    cases = _window(params, _status_filter(params, cases))
    updated_after = _when(_param(params, "updated_after"), "updated_after")
    if updated_after:
        cases = cases.filter(updated_at__gt=updated_after)
    page = _positive(_param(params, "page"), "page", 1, 1_000_000)
    size = _positive(_param(params, "page_size"), "page_size", MAX_REQUESTS, MAX_REQUESTS)
    return cases[(page - 1) * size: page * size]


@endpoint("GET", "POST")
def requests(request, fmt):
    if request.method == "POST":
        return _create(request, fmt)
    extensions = (_param(request.GET, "extensions") or "").lower() == "true"
    found = [request_of(case, extensions=extensions) for case in _search(request.GET, extensions)]
    return render(found, fmt, root="service_requests")


@endpoint("GET")
def request_detail(request, fmt, request_id):
    extensions = (_param(request.GET, "extensions") or "").lower() == "true"
    found = list(_search({"service_request_id": request_id}, extensions))
    if not found:
        raise Open311Error(404, _("service_request_id %(id)s not found.") % {"id": request_id})
    return render([request_of(found[0], extensions=extensions)], fmt, root="service_requests")


@endpoint("GET")
def token(request, fmt, token):
    # Every Civic service is realtime: a request's id comes back at once, so no token ever exists.
    raise Open311Error(404, _("token %(token)s not found: Civic answers every request with its id.")
                       % {"token": token})


#
# POST requests
#


def _partner(request):
    """The user and key behind the api_key, which must carry the open311 scope; 403 otherwise."""
    text = _param(request.POST, "api_key") or _param(request.GET, "api_key")
    if text is None:
        raise Open311Error(403, _("api_key is required -- can't proceed with create_request."))
    try:
        user, key = authenticate_key(request, text)
    except KeyRefused as refused:
        raise Open311Error(403, _("Invalid api_key received -- can't proceed with create_request.")
                           + f" ({refused})") from None
    if Scope.OPEN311 not in key.scopes:
        raise Open311Error(403, _("This api_key may not post service requests (it lacks the open311 scope)."))
    wait = throttle_wait(key)
    if wait is not None:
        raise Open311Error(429, _("Too many requests with this api_key: try again in %(seconds)d seconds.")
                           % {"seconds": wait}, headers={"Retry-After": str(wait)})
    return user


def _location(data) -> tuple[float, float]:
    lat, lon = _param(data, "lat"), _param(data, "long")
    if lat is None and lon is None:
        if _param(data, "address_string") or _param(data, "address_id"):
            raise Open311Error(400, _("Civic places a request by lat and long: send them with address_string."))
        raise Open311Error(400, _("A location is required: lat and long."))
    if lat is None or lon is None:
        raise Open311Error(400, _("Send both lat and long."))
    try:
        lat_value, lon_value = float(lat), float(lon)
    except ValueError:
        raise Open311Error(400, _("lat and long are numbers in degrees (WGS84).")) from None
    if not (math.isfinite(lat_value) and math.isfinite(lon_value)
            and -90 <= lat_value <= 90 and -180 <= lon_value <= 180):
        raise Open311Error(400, _("lat lies between -90 and 90, long between -180 and 180."))
    return lat_value, lon_value


def _attributes(data) -> dict:
    answers: dict = {}
    for name in data:
        match = _ATTRIBUTE.match(name)
        if match:
            values = [v for v in data.getlist(name) if v != ""]
            answers[match[1]] = values if match[2] else (values[-1] if values else "")
    return answers


def _client_key(request) -> uuid.UUID | None:
    try:
        return idempotency_key(request)
    except ValidationError as exc:
        raise Open311Error(400, *exc.messages) from None


def _create(request, fmt):
    user = _partner(request)
    data = request.POST
    category = _service(_param(data, "service_code"))
    lat, lon = _location(data)
    try:
        case = services.case_report(
            actor=user, category=category, description=_param(data, "description") or category.display_name,
            lat=lat, lon=lon, address=_param(data, "address_string") or "", attributes=_attributes(data),
            media_url=_param(data, "media_url") or "", client_key=_client_key(request),
        )
        status = 201
    except services.AlreadyReported as replay:
        case, status = replay.case, 200
    except ValidationError as exc:
        raise Open311Error(400, *exc.messages) from None
    except PermissionDenied:
        raise Open311Error(403, _("This api_key may not post service requests at this location.")) from None
    notice = _("Registered as %(reference)s; to be accepted by %(deadline)s.") % {
        "reference": case.reference, "deadline": w3c(case.due_at) or "-"}
    return render([{"service_request_id": case.reference, "service_notice": notice}], fmt,
                  root="service_requests", status=status)
