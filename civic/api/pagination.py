"""The API's one pagination: pages that cost the same however deep, and counts that stay cheap.

    {"count": 20000, "count_exact": false, "next": "...?cursor=...", "previous": null, "results": [...]}

- **Cursors.** ``next`` and ``previous`` carry a cursor: the sort values of the page's last (or first)
  row. The next page is "the rows after these values" in the list's ordering, with the id as the
  last tie-break, so it is read from an index like the first page, never by skipping rows (OFFSET).
  A cursor belongs to its ordering: sent with another one, it is refused (400).
- **Counts.** Exact up to ``EXACT_COUNT_LIMIT`` rows (counted with a LIMIT, so never more); above it,
  on PostgreSQL, the planner's estimate, and ``count_exact`` says so. Counting 20,000 rows of a
  district's cases costs more than reading their first page.
- **Page numbers** (``?page=``) stay for lists whose count is exact (small scopes, short lookup lists);
  a deep page of a larger list is refused (400): follow ``next``. A page past the end is a 404.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from civic.counts import EXACT_COUNT_LIMIT, count_with_estimate

__all__ = ["KeysetPagination", "with_tie_break"]


#
# Keys
#


@dataclass(frozen=True)
class _Key:
    """One column of the ordering: its name, direction, and whether it may be NULL (NULLs sort last)."""

    name: str
    descending: bool
    nullable: bool

    def order_by(self, reverse: bool) -> OrderBy:
        descending = self.descending != reverse
        # NULLs last in the list's own order, hence first when it is walked backwards. Said only of a
        # nullable column: "id DESC NULLS LAST" is not the order of a backward index scan (PostgreSQL
        # does not know that a NOT NULL column has no NULLs to place), so it would sort the whole scope.
        nulls = ({"nulls_first": True} if reverse else {"nulls_last": True}) if self.nullable else {}
        expression = F(self.name)
        return expression.desc(**nulls) if descending else expression.asc(**nulls)

    def beyond(self, value, reverse: bool) -> Q:
        """Rows strictly past `value` in this column, walking forwards (or backwards)."""
        if value is None:
            return Q(**{f"{self.name}__isnull": False}) if reverse else Q(pk__in=[])
        op = "lt" if self.descending != reverse else "gt"
        past = Q(**{f"{self.name}__{op}": value})
        return past | Q(**{f"{self.name}__isnull": True}) if self.nullable and not reverse else past

    def tie(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})


def _keys(queryset: QuerySet) -> list[_Key] | None:
    """The ordering as keys, or None when it is not made of columns (an expression, an annotation):
    such a list is paged by number."""
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering or [])
    if not all(isinstance(item, str) for item in ordering):
        return None
    names = with_tie_break(ordering)
    keys = []
    for name in names:
        bare = name.lstrip("-")
        bare = "id" if bare == "pk" else bare
        try:
            keys.append(_Key(bare, name.startswith("-"), _nullable(queryset.model, bare)))
        except ValueError:
            return None
        if bare == "id":
            break  # unique: nothing after it can matter
    return keys


def with_tie_break(ordering: Sequence[str]) -> list[str]:
    """The ordering with the id last, so that rows never tie. It runs the way the last key does: then one
    index on (key, id) serves the list in either direction ("soonest deadline first" reads (due_at, id)
    forwards, without a sort); with no key at all, newest first."""
    names = list(ordering)
    if not {"id", "-id", "pk", "-pk"} & set(names):
        names.append("-id" if not names or names[-1].startswith("-") else "id")
    return names


def _field(model: type[Model], name: str):
    """The field at the end of `name` ("node__path"), through its relations."""
    *relations, last = name.split("__")
    try:
        for relation in relations:
            model = model._meta.get_field(relation).related_model
        return model._meta.get_field(last)
    except (FieldDoesNotExist, AttributeError):
        raise ValueError(f"Keyset pages need orderings on columns, not {name!r}.") from None


def _nullable(model: type[Model], name: str) -> bool:
    *relations, _last = name.split("__")
    hops = [model._meta.get_field(relation) for relation in relations] if relations else []
    return _field(model, name).null or any(hop.null for hop in hops)


def _after(keys: Sequence[_Key], values: Sequence, reverse: bool) -> Q:
    """Rows after the row with `values` in the keys' order: (k1 past v1) or (k1 = v1 and the rest after)."""
    key, value = keys[0], values[0]
    past = key.beyond(value, reverse)
    if len(keys) == 1:
        return past
    return past | (key.tie(value) & _after(keys[1:], values[1:], reverse))


#
# The paginator
#


class KeysetPagination(pagination.BasePagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    page_query_param = "page"
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.model = queryset.model
        size = self._page_size(request)
        keys = _keys(queryset)
        self.count, self.count_exact = count_with_estimate(queryset)
        page = request.query_params.get(self.page_query_param)
        cursor = request.query_params.get(self.cursor_query_param)
        if keys is None or (page is not None and cursor is None):
            return self._numbered(queryset, keys, size, page or 1)
        values, reverse = self._decode(cursor, keys) if cursor else (None, False)
        rows = queryset.order_by(*(key.order_by(reverse) for key in keys))
        if values is not None:
            rows = rows.filter(_after(keys, values, reverse))
        fetched = list(rows[: size + 1])
        more = len(fetched) > size
        fetched = fetched[:size]
        if reverse:
            fetched.reverse()
        self.next = self.previous = None
        if fetched:
            first, last = (self._values(keys, row) for row in (fetched[0], fetched[-1]))
            if more or reverse:  # walking backwards, the rows we came from lie ahead
                self.next = self._link(cursor=self._encode(keys, last, reverse=False))
            if (more and reverse) or (values is not None and not reverse):
                self.previous = self._link(cursor=self._encode(keys, first, reverse=True))
        return fetched

    def _numbered(self, queryset, keys, size, page) -> list[Model]:
        """Page `page` by OFFSET: for short lists, and for orderings that are not columns."""
        try:
            number = int(page)
        except ValueError:
            number = 0
        if number < 1:
            raise ValidationError({"page": _("A page number is a whole number from 1.")})
        if number > 1 and not self.count_exact:
            raise ValidationError({"page": _("This list is too long for page numbers: follow the next link.")})
        start = (number - 1) * size
        if start and start >= self.count:
            raise NotFound(_("There is no page %(number)s.") % {"number": number})
        ordered = queryset.order_by(*(key.order_by(False) for key in keys)) if keys else queryset
        rows = list(ordered[start:start + size])
        self.next = self._link(page=number + 1) if start + size < self.count else None
        self.previous = self._link(page=number - 1) if number > 1 else None
        return rows

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({"page_size": _("The page size is a whole number from 1.")})
        return min(size, self.max_page_size)

    @staticmethod
    def _values(keys: Sequence[_Key], row: Model) -> list:
        values = []
        for key in keys:
            value = row
            for part in key.name.split("__"):
                value = getattr(value, part) if value is not None else None
            values.append(value)
        return values

    @staticmethod
    def _encode(keys: Sequence[_Key], values: Sequence, *, reverse: bool) -> str:
        order = [("-" if key.descending else "") + key.name for key in keys]
        text = json.dumps({"o": order, "v": [None if v is None else str(v) for v in values], "r": reverse})
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def _decode(self, cursor: str, keys: Sequence[_Key]) -> tuple[list, bool]:
        refused = ValidationError({"cursor": _("This cursor is not valid for this list: start again from its first "
                                               "page.")})
        try:
            data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            order, raw, reverse = data["o"], data["v"], bool(data["r"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise refused from None
        if order != [("-" if key.descending else "") + key.name for key in keys] or len(raw) != len(keys):
            raise refused
        try:
            values = [None if v is None else _field(self.model, key.name).to_python(v)
                      for key, v in zip(keys, raw, strict=True)]
        except ValidationError:
            raise refused from None
        if any(v is None and not key.nullable for key, v in zip(keys, values, strict=True)):
            raise refused
        return values, reverse

    def _link(self, *, cursor: str | None = None, page: int | None = None) -> str:
        url = self.request.build_absolute_uri()
        if cursor is not None:
            url = remove_query_param(url, self.page_query_param)
            return replace_query_param(url, self.cursor_query_param, cursor)
        url = remove_query_param(url, self.cursor_query_param)
        return replace_query_param(url, self.page_query_param, page)

    def get_paginated_response(self, data):
        return Response({
            "count": self.count, "count_exact": self.count_exact, "next": self.next, "previous": self.previous,
            "results": data,
        })

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["count", "count_exact", "results"],
            "properties": {
                "count": {"type": "integer", "description": f"Exact up to {EXACT_COUNT_LIMIT}; above, an estimate "
                                                            "when count_exact is false."},
                "count_exact": {"type": "boolean"},
                "next": {**link, "description": "The next page (a cursor link)."},
                "previous": {**link, "description": "The previous page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "in": "query", "required": False, "schema": {"type": "string"},
             "description": "A page's position, from a next or previous link."},
            {"name": self.page_query_param, "in": "query", "required": False, "schema": {"type": "integer"},
             "description": f"A page number: for lists of at most {EXACT_COUNT_LIMIT} rows (count_exact)."},
            {"name": self.page_size_query_param, "in": "query", "required": False,
             "schema": {"type": "integer", "maximum": self.max_page_size},
             "description": f"Rows per page ({self.page_size} unless given, at most {self.max_page_size})."},
        ]
