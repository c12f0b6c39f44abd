"""Keyset (cursor) pagination for the long lists (study items, reports, crash groups).

A page is found by where the previous one ended, never by an offset or a count, so page 1 and
page 2,000 cost the same at 10k and at 100k rows. The queryset's own ``order_by`` is the sort
(the selector owns it); it must end in a unique column (``id``) so the order is total, and every
key must be a column of the model itself. Nullable keys sort their NULLs last in both
directions (the same on PostgreSQL and SQLite).

The cursor is opaque to clients: base64url of ``{"o": the ordering, "v": the last row's key
values, "p": 1 for a page going backwards}``. A cursor that does not decode, was made for
another sort, or holds a value the key's column refuses is a :class:`BadCursor` (a 400 with a
message saying to follow the ``next`` / ``previous`` links).

``keyset_page(qs, cursor=..., size=...)`` gives a :class:`KeysetPage`; ``KeysetPagination`` is
the same for DRF list views (``cursor`` and ``page_size`` query parameters, documented in the
schema; ``page`` is answered with a 400 saying to use ``cursor``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import F, OrderBy, Q, QuerySet
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

MAX_CURSOR_LENGTH = 2000
DEFAULT_SIZE = 50
MAX_SIZE = 200
CURSOR_HELP = "Follow the next and previous links of the list (its cursor parameter); page numbers are not used."


class BadCursor(ValidationError):
    """The ``cursor`` parameter is not one this list gave out (for this sort)."""

    def __init__(self, why: str):
        super().__init__(f"Invalid cursor: {why}. {CURSOR_HELP}", code="invalid_cursor")


@dataclass(frozen=True)
class Key:
    field: str
    descending: bool
    nullable: bool

    @property
    def token(self) -> str:
        return f"-{self.field}" if self.descending else self.field


@dataclass
class KeysetPage:
    """One page: its rows and the cursors of the pages either side (None at an end)."""

    object_list: list
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)


def _keys(qs: QuerySet) -> list[Key]:
    ordering = qs.query.order_by or qs.model._meta.ordering
    keys = []
    for term in ordering:
        if isinstance(term, str):
            name, descending = term.lstrip("-"), term.startswith("-")
        elif isinstance(term, OrderBy) and isinstance(term.expression, F):
            name, descending = term.expression.name, term.descending
        else:
            raise TypeError(f"keyset pagination needs model columns to order by, not {term!r}")
        field = qs.model._meta.pk if name == "pk" else qs.model._meta.get_field(name)
        keys.append(Key(field=field.attname, descending=descending, nullable=field.null))
    if not keys or keys[-1].field != qs.model._meta.pk.attname:
        raise TypeError("keyset pagination needs an ordering that ends with the primary key")
    return keys


def _order(keys: list[Key], *, backwards: bool) -> list[OrderBy]:
    terms = []
    for k in keys:
        descending = k.descending != backwards
        # NULLs placed only where there can be some: the index of a NOT NULL key has no such clause.
        nulls = ({"nulls_first": True} if backwards else {"nulls_last": True}) if k.nullable else {}
        expression = F(k.field)
        terms.append(expression.desc(**nulls) if descending else expression.asc(**nulls))
    return terms


def _after(keys: list[Key], values: list, *, backwards: bool) -> Q:
    """Rows strictly after ``values`` in the order (before it when ``backwards``)."""
    nulls_last = not backwards
    either = Q()
    equal = Q()
    seek = Q()
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        descending = k.descending != backwards
        if v is None:
            beyond = Q(pk__in=[]) if nulls_last else Q(**{f"{k.field}__isnull": False})
            same = Q(**{f"{k.field}__isnull": True})
        else:
            beyond = Q(**{f"{k.field}__{'lt' if descending else 'gt'}": v})
            if k.nullable and nulls_last:
                beyond |= Q(**{f"{k.field}__isnull": True})
            same = Q(**{k.field: v})
        either |= equal & beyond
        if i == 0 and v is not None and not k.nullable:
            # Implied by the rest, written out so the index on the sort is entered at the cursor.
            seek = Q(**{f"{k.field}__{'lte' if descending else 'gte'}": v})
        equal &= same
    return seek & either


def _encode(keys: list[Key], row, *, backwards: bool) -> str:
    values = []
    for k in keys:
        v = getattr(row, k.field)
        if isinstance(v, datetime.datetime | datetime.date):
            v = v.isoformat()
        values.append(v)
    data = {"o": ",".join(k.token for k in keys), "v": values}
    if backwards:
        data["p"] = 1
    raw = json.dumps(data, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(qs: QuerySet, keys: list[Key], cursor: str) -> tuple[list, bool]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor("it is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor("it does not decode") from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise BadCursor("it does not decode")
    if data.get("o") != ",".join(k.token for k in keys) or len(data["v"]) != len(keys):
        raise BadCursor("it was made for another sort of this list")
    values = []
    for k, v in zip(keys, data["v"], strict=True):
        field = qs.model._meta.get_field(k.field)
        if v is None and not k.nullable:
            raise BadCursor(f"{k.field} cannot be empty")
        if v is not None and not isinstance(v, int | float | str | bool):
            raise BadCursor(f"{k.field} is not a value")
        try:
            value = None if v is None else field.to_python(v)
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise BadCursor(f"{k.field} is not a valid {field.get_internal_type()}") from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
            raise BadCursor(f"{k.field} is out of range")
        if isinstance(value, datetime.datetime) and value.tzinfo is None:
            raise BadCursor(f"{k.field} has no time zone")
        values.append(value)
    return values, bool(data.get("p"))


def keyset_page(qs: QuerySet, *, cursor: str | None, size: int = DEFAULT_SIZE) -> KeysetPage:
    """The page of ``qs`` (in its own order) that ``cursor`` points at; page 1 without one.

    Two queries (``size + 1`` ids, then their rows); raises :class:`BadCursor` for a cursor this list did not give.
    """
    keys = _keys(qs)
    backwards = False
    if cursor:
        values, backwards = _decode(qs, keys, cursor)
        qs = qs.filter(_after(keys, values, backwards=backwards))
    # Two steps: the page's ids from the sort's index alone (an index-only scan the planner picks
    # even for a filter value whose rows are bunched at one end of the table), then those rows
    # with their joins, annotations and prefetches.
    pks = list(qs.order_by(*_order(keys, backwards=backwards)).values_list("pk", flat=True)[: size + 1])
    more = len(pks) > size
    pks = pks[:size]
    found = {row.pk: row for row in qs.filter(pk__in=pks).order_by()} if pks else {}
    rows = [found[pk] for pk in pks if pk in found]  # (a row deleted in between is left out)
    if backwards:
        rows.reverse()
        next_cursor = _encode(keys, rows[-1], backwards=False) if rows else None
        previous_cursor = _encode(keys, rows[0], backwards=True) if rows and more else None
    else:
        next_cursor = _encode(keys, rows[-1], backwards=False) if rows and more else None
        previous_cursor = _encode(keys, rows[0], backwards=True) if rows and cursor else None
    return KeysetPage(object_list=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


def keyset_page_context(request, qs: QuerySet, *, size: int = DEFAULT_SIZE) -> tuple[dict, int]:
    """The page of ``qs`` the request's ``?cursor=`` names, for an HTML list: the template context
    (``page``, ``cursor_error``, ``next_query``, ``previous_query``) and the response status (400
    with an empty page and the reason when the cursor is not one the list gave out)."""
    status, cursor_error = 200, None
    try:
        page = keyset_page(qs, cursor=request.GET.get("cursor") or None, size=size)
    except BadCursor as exc:
        page, cursor_error, status = keyset_page(qs.none(), cursor=None), exc.messages[0], 400
    context = {
        "page": page,
        "cursor_error": cursor_error,
        "next_query": page_querystring(request.GET, cursor=page.next_cursor),
        "previous_query": page_querystring(request.GET, cursor=page.previous_cursor),
    }
    return context, status


def page_querystring(params, *, cursor: str | None) -> str:
    """``params`` (a QueryDict: the list's filters and sort) with ``cursor`` instead of any old one."""
    data = [(k, v) for k, values in params.lists() if k not in ("cursor", "page") for v in values]
    if cursor:
        data.append(("cursor", cursor))
    return urlencode(data)


class KeysetPagination(BasePagination):
    """DRF pagination by :func:`keyset_page`: ``{"next": url, "previous": url, "results": [...]}``.

    No total count (it would cost a count of the whole list on every page). ``page_size`` picks
    1-200 rows (default 50); ``page`` (the old page numbers) is refused with a 400 naming ``cursor``.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        if "page" in params:
            raise ApiValidationError({"page": [f"Page numbers are not supported on this list. {CURSOR_HELP}"]})
        size = DEFAULT_SIZE
        if self.page_size_query_param in params:
            raw = params[self.page_size_query_param]
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_SIZE:
                raise ApiValidationError({"page_size": [f"Enter a whole number from 1 to {MAX_SIZE}."]})
            size = int(raw)
        try:
            self.page = keyset_page(queryset, cursor=params.get(self.cursor_query_param) or None, size=size)
        except BadCursor as exc:
            raise ApiValidationError({"cursor": exc.messages}) from None
        self.request = request
        return self.page.object_list

    def _link(self, cursor):
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {**link, "description": "The next page (its cursor), null on the last page."},
                "previous": {**link, "description": "The previous page, null on the first page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the cursor of a next or previous link (opaque). "
                "Omit it for the first page. Page numbers are not used.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows a page, 1 to {MAX_SIZE} (default {DEFAULT_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
            },
        ]


COUNT_LIMIT = 1000


def bounded_count(qs: QuerySet, *, limit: int | None = None) -> tuple[int, bool]:
    """How many rows ``qs`` has, counting no further than ``limit``: (n, True) means "more than
    ``limit``" (default ``COUNT_LIMIT``). A filtered list shows this instead of a full count,
    whose cost grows with the table."""
    limit = COUNT_LIMIT if limit is None else limit
    n = qs.order_by().values("pk")[: limit + 1].count()  # values(): no annotations computed
    return (limit, True) if n > limit else (n, False)
