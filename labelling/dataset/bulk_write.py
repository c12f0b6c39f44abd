"""Writing many rows at once: COPY on PostgreSQL, ``bulk_create`` elsewhere (SQLite).

``rows_insert`` and ``rows_upsert`` take plain tuples of column values, not model instances: the
label import writes a million annotations, and building a model instance per row (and letting
the ORM turn each value into SQL) cost more than the database's own work. On PostgreSQL the rows
are streamed with ``COPY ... FROM STDIN`` (psycopg2's ``copy_expert``) in chunks, straight into the
table for an insert, or into a temporary table and then ``INSERT ... SELECT ... ON CONFLICT DO
UPDATE`` for an upsert. On any other database they go through ``bulk_create`` as before, so both
paths store the same rows (tests/labelling/test_label_import_paths.py).

``staging_create`` / ``staging_fill`` / ``staging_drop`` hold rows in a temporary table of the
connection (COPY on PostgreSQL, ``executemany`` in chunks elsewhere), for an import that checks
and derives what it writes in SQL (``INSERT ... SELECT`` from it) instead of holding a million rows
in Python. A temporary table made inside the caller's transaction goes with its rollback.

The caller validates every value first (the label import does, with line numbers): nothing here
checks or converts beyond what the column type needs.
"""

from __future__ import annotations

import csv
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


def _csv_text(chunk: list[Sequence]) -> str | None:
    """``chunk`` in COPY's CSV format by the csv module (C code, several times faster than
    formatting each value in Python). Every value that is not a number is quoted, ``None`` as
    ``""``: COPY reads that as NULL in the columns given as FORCE_NULL (those that hold no text,
    where an empty string is no value anyway) and as an empty string in the text columns, which
    take no NULL here. None when a value holds ``\\.``, which COPY could read as its end-of-data
    marker at the start of a line of a quoted value (the chunk then goes in COPY's text format)."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(chunk)
    text = out.getvalue()
    return None if "\\." in text else text


def _copy(cursor, table: str, columns: list[str], rows: Iterable[Sequence], *, text_columns: Sequence[str]) -> int:
    """COPY ``rows`` into ``table``; ``text_columns``: the columns of text (the others may take NULL)."""
    quote = connection.ops.quote_name
    quoted = ", ".join(quote(c) for c in columns)
    into = f"COPY {quote(table)} ({quoted}) FROM STDIN"
    nullable = [quote(c) for c in columns if c not in text_columns]
    as_csv = f"{into} WITH (FORMAT csv" + (f", FORCE_NULL ({', '.join(nullable)}))" if nullable else ")")
    written = 0
    for chunk in _chunks(rows, COPY_CHUNK):
        text = _csv_text(chunk)
        if text is not None:
            cursor.copy_expert(as_csv, io.StringIO(text))
        else:
            buffer = io.StringIO("".join("\t".join(_text(v) for v in row) + "\n" for row in chunk))
            cursor.copy_expert(into, buffer)
        written += len(chunk)
    return written


def staging_create(table: str, columns: Sequence[tuple[str, str]]) -> None:
    """A new, empty temporary table ``table`` with ``columns`` [(name, SQL type)] (any older one of
    that name in this connection is dropped first)."""
    quote = connection.ops.quote_name
    listed = ", ".join(f"{quote(name)} {kind}" for name, kind in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        cursor.execute(f"CREATE TEMPORARY TABLE {quote(table)} ({listed})")


def staging_fill(table: str, columns: Sequence[str], rows: Iterable[Sequence], *, text_columns: Sequence[str]) -> int:
    """Add ``rows`` (tuples of the values of ``columns``) to the temporary table ``table``; returns
    how many. COPY on PostgreSQL, ``executemany`` in chunks of ``COPY_CHUNK`` rows elsewhere.
    ``text_columns``: the columns of text, which take no NULL (see ``_csv_text``)."""
    with connection.cursor() as cursor:
        if uses_copy():
            return _copy(cursor, table, list(columns), rows, text_columns=text_columns)
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        written = 0
        for chunk in _chunks(rows, COPY_CHUNK):
            cursor.executemany(sql, chunk)
            written += len(chunk)
        return written


def staging_drop(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")


def _columns(model: type[models.Model], fields: list[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


_TEXT_FIELDS = {"CharField", "TextField", "SlugField", "EmailField", "URLField"}


def _text_columns(model: type[models.Model], fields: list[str]) -> list[str]:
    """The columns of ``fields`` that hold text and take no NULL: a None there would be stored as ''."""
    found = []
    for name in fields:
        field = model._meta.get_field(name)
        if field.get_internal_type() in _TEXT_FIELDS:
            if field.null:
                raise ValueError(f"{model.__name__}.{name} takes NULL: COPY in CSV cannot tell it from ''")
            found.append(field.column)
    return found


def rows_insert(*, model: type[models.Model], fields: list[str], rows: Iterable[Sequence]) -> int:
    """Insert ``rows`` (tuples of the values of ``fields``, in that order); returns how many.

    Auto fields (``auto_now``, ``auto_now_add``) are not filled in here: name them in ``fields``
    and give their values."""
    if uses_copy():
        with connection.cursor() as cursor:
            return _copy(
                cursor, model._meta.db_table, _columns(model, fields), rows, text_columns=_text_columns(model, fields)
            )
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
        written = _copy(cursor, staging, columns, rows, text_columns=_text_columns(model, fields))
        conflict = ", ".join(quote(c) for c in _columns(model, unique_fields))
        updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _columns(model, update_fields))
        cursor.execute(
            f"INSERT INTO {quote(table)} ({listed}) SELECT {listed} FROM {quote(staging)} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        cursor.execute(f"DROP TABLE {quote(staging)}")
    return written
