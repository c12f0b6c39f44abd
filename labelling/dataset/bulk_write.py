"""Writing many rows at once: COPY on PostgreSQL, ``bulk_create`` elsewhere (SQLite).

``rows_insert`` and ``rows_upsert`` take plain tuples of column values, not model instances: the
label import writes a million annotations, and building a model instance per row (and letting
the ORM turn each value into SQL) cost more than the database's own work. On PostgreSQL the rows
are streamed with ``COPY ... FROM STDIN`` (psycopg2's ``copy_expert``) in chunks, straight into the
table for an insert, or into a temporary table and then ``INSERT ... SELECT ... ON CONFLICT DO
UPDATE`` for an upsert. On any other database they go through ``bulk_create`` as before, so both
paths store the same rows (tests/labelling/test_label_import_paths.py).

The caller validates every value first (the label import does, with line numbers): nothing here
checks or converts beyond what the column type needs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice

from django.db import connection, models

COPY_CHUNK = 100_000  # rows a COPY: about 10 MB of text for annotations
ORM_BATCH = 1000


def uses_copy() -> bool:
    """Whether the default database takes rows by COPY (PostgreSQL)."""
    return connection.vendor == "postgresql"


def _text(value) -> str:
    """A value in COPY's text format: NULL is ``\\N``; backslash, tab, newline and carriage return escaped."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _chunks(rows: Iterable[Sequence], size: int) -> Iterator[list[Sequence]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _copy(cursor, table: str, columns: list[str], rows: Iterable[Sequence]) -> int:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    written = 0
    for chunk in _chunks(rows, COPY_CHUNK):
        buffer = io.StringIO("".join("\t".join(_text(v) for v in row) + "\n" for row in chunk))
        cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN", buffer)
        written += len(chunk)
    return written


def _columns(model: type[models.Model], fields: list[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


def rows_insert(*, model: type[models.Model], fields: list[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples of the values of ``fields``, in that order); returns how many.

    Auto fields (``auto_now``, ``auto_now_add``) are not filled in here: name them in ``fields``
    and give their values."""
    if uses_copy():
        with connection.cursor() as cursor:
            return _copy(cursor, model._meta.db_table, _columns(model, fields), rows)
    written = 0
    for chunk in _chunks(rows, ORM_BATCH):
        model.objects.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in chunk])
        written += len(chunk)
    return written


def rows_upsert(
    *,
    model: type[models.Model],
    fields: list[str],
    rows: Iterable[Sequence],
    unique_fields: list[str],
    update_fields: list[str],
) -> int:
    """Insert ``rows``, or where a row with the same ``unique_fields`` exists update its
    ``update_fields`` (``INSERT ... ON CONFLICT DO UPDATE``); returns how many rows were given.

    Inside the caller's transaction; on PostgreSQL the rows pass through a temporary table
    (dropped at the end) so that a million of them are one COPY stream and one statement."""
    if not uses_copy():
        written = 0
        for chunk in _chunks(rows, ORM_BATCH):
            model.objects.bulk_create(
                [model(**dict(zip(fields, row, strict=True))) for row in chunk],
                update_conflicts=True,
                unique_fields=unique_fields,
                update_fields=update_fields,
            )
            written += len(chunk)
        return written
    quote = connection.ops.quote_name
    table = model._meta.db_table
    columns = _columns(model, fields)
    staging = f"_bulk_{table}"
    listed = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
        cursor.execute(f"CREATE TEMPORARY TABLE {quote(staging)} AS SELECT {listed} FROM {quote(table)} WITH NO DATA")
        written = _copy(cursor, staging, columns, rows)
        conflict = ", ".join(quote(c) for c in _columns(model, unique_fields))
        updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _columns(model, update_fields))
        cursor.execute(
            f"INSERT INTO {quote(table)} ({listed}) SELECT {listed} FROM {quote(staging)} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        cursor.execute(f"DROP TABLE {quote(staging)}")
    return written
