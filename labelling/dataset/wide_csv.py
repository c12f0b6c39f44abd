"""The wide CSV export with every cell computed by the database (issue 18).

One SQL query per chunk of items gives each row of ``labelling.dataset.export``'s wide CSV ready to
write, in its column order: the report's fields, the final labels (one ``LEFT JOIN`` of the final
labels per dimension, on their unique ``(item, dimension)`` index), the completed assignments, the
``status_<code>`` of each dimension (the rule of ``export.label_status``, as a ``CASE``), then the
methods, adjudicators' usernames and rationales. The one costly status case (k annotators finished,
no final label: disagreement or empty) reads the labels given with an ``EXISTS`` that the ``CASE``
only evaluates for those cells.

On PostgreSQL the chunk is written by the server itself, ``COPY (<query>) TO STDOUT WITH (FORMAT
csv)``, and the bytes are the ones ``config.csvsafe.writer`` (Python's ``csv`` module, Excel dialect)
writes for the same values:

* the spreadsheet guard is done in SQL: a text cell starting with one of ``csvsafe.FORMULA_PREFIXES``
  gets a leading ``'`` (NUL, the one prefix PostgreSQL cannot store in text, never occurs);
* COPY writes an empty string as ``""`` to tell it from NULL, Python writes both as an empty cell:
  every text cell is ``NULLIF(..., '')``, so an empty cell is a NULL and written as nothing;
* both quote a cell holding the delimiter, the quote character, a carriage return or a line feed,
  and double the quotes inside (COPY's one more case, a row made of the single value ``\\.``, cannot
  happen: a row has at least 9 cells);
* COPY ends a row with ``\\n``, Python with ``\\r\\n``: the copy-out protocol sends exactly one row
  per CopyData message ("always one per row", PostgreSQL's protocol documentation), so the sink
  swaps the last byte of each message, leaving a line break inside a quoted cell as it is.

Elsewhere (SQLite) the same query's rows go through ``config.csvsafe.writer`` in Python.
tests/labelling/test_export_sql.py compares both with the rows built the previous way (Python
pivots of the ORM's rows) on a randomized study, byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from django.contrib.auth import get_user_model
from django.db import connection

from config import csvsafe
from labelling.dataset.export import STATUS_DISAGREEMENT, STATUS_EMPTY, STATUS_FINAL, STATUS_PENDING
from labelling.models import Annotation, Assignment, FinalLabel, StudyItem
from triage.models import Report


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _uses_copy() -> bool:
    return connection.vendor == "postgresql"


def _cell(expr: str, params: list, *, guard: bool) -> str:
    """A text cell: with ``guard``, the spreadsheet guard and the empty-is-NULL rule of COPY."""
    if not guard:
        return expr
    marks = ", ".join(["%s"] * len(_GUARDED_PREFIXES))
    params.extend(_GUARDED_PREFIXES)
    return f"NULLIF(CASE WHEN substr({expr}, 1, 1) IN ({marks}) THEN '''' || {expr} ELSE {expr} END, '')"


# NUL is left out: PostgreSQL text cannot hold it (the only database the SQL guard is used on).
_GUARDED_PREFIXES = sorted(csvsafe.FORMULA_PREFIXES - {"\0"})


def wide_rows_sql(*, study_id: int, dimension_ids: list[int], k: int, after: int, last: int | None, guard: bool):
    """(sql, params): the wide CSV rows of the study's items with ``after < id <= last`` (no upper
    bound when ``last`` is None), ordered by id. ``guard``: make the text cells spreadsheet-safe and
    empty cells NULL in SQL (for COPY); without it the cells are the stored values."""
    params: list = []

    def in_range(column: str) -> str:
        return f"{column} > %s" + (f" AND {column} <= %s" if last is not None else "")

    bounds = [after] + ([last] if last is not None else [])
    dims = range(len(dimension_ids))
    base = ["r.source_id", "r.title", "r.url", "r.framework", "r.kind", "si.screening", "si.exclusion_reason"]
    cells = [_cell(expr, params, guard=guard) for expr in base]
    cells += [_cell(f"fl.v{i}", params, guard=guard) for i in dims]
    cells.append("COALESCE(a.done, 0)")
    for i, dim_id in enumerate(dimension_ids):
        # the rule of export.label_status, in the same order (a final label has a method)
        cells.append(
            f"CASE WHEN fl.m{i} IS NOT NULL THEN (CASE WHEN fl.v{i} <> '' THEN %s ELSE %s END)"
            " WHEN a.n IS NULL THEN %s"
            " WHEN a.done < %s THEN %s"
            f" WHEN EXISTS (SELECT 1 FROM {_table(Annotation)} an JOIN {_table(Assignment)} fin"
            " ON fin.item_id = an.item_id AND fin.annotator_id = an.annotator_id"
            " AND fin.completed_at IS NOT NULL"
            " WHERE an.item_id = si.id AND an.dimension_id = %s AND an.value <> '') THEN %s"
            " ELSE %s END"
        )
        params += [STATUS_FINAL, STATUS_EMPTY, STATUS_EMPTY, max(k, 1), STATUS_PENDING, dim_id, STATUS_DISAGREEMENT]
        params.append(STATUS_EMPTY)
    cells += [_cell(f"fl.m{i}", params, guard=guard) for i in dims]
    cells += [_cell(f"fl.a{i}", params, guard=guard) for i in dims]
    cells += [_cell(f"fl.r{i}", params, guard=guard) for i in dims]

    report_columns = "id, source_id, title, url, framework, kind"
    if connection.vendor == "postgresql":
        # One index lookup per item: PostgreSQL would otherwise hash the whole report table for
        # every chunk (OFFSET 0 keeps the subquery from being flattened into a plain join).
        joins = [
            f"CROSS JOIN LATERAL (SELECT {report_columns} FROM {_table(Report)} WHERE id = si.report_id OFFSET 0) r"
        ]
    else:
        joins = [f"JOIN {_table(Report)} r ON r.id = si.report_id"]
    # completed_at counts the completed assignments only (COUNT skips NULLs)
    joins.append(
        f"LEFT JOIN (SELECT item_id, COUNT(*) AS n, COUNT(completed_at) AS done FROM {_table(Assignment)}"
        f" WHERE study_id = %s AND {in_range('item_id')} GROUP BY item_id) a ON a.item_id = si.id"
    )
    params += [study_id, *bounds]
    # The chunk's final labels, one row per item: (item, dimension) is unique, so MAX(...) FILTER is that label.
    pivot = []
    for i, dim_id in enumerate(dimension_ids):
        for alias, column in (("v", "f.value"), ("m", "f.method"), ("a", "u.username"), ("r", "f.rationale")):
            pivot.append(f"MAX({column}) FILTER (WHERE f.dimension_id = %s) AS {alias}{i}")
            params.append(dim_id)
    if pivot:
        joins.append(
            f"LEFT JOIN (SELECT f.item_id, {', '.join(pivot)} FROM {_table(FinalLabel)} f"
            f" LEFT JOIN {_table(get_user_model())} u ON u.id = f.decided_by_id"
            f" WHERE f.dimension_id IN ({', '.join(['%s'] * len(dimension_ids))}) AND {in_range('f.item_id')}"
            " GROUP BY f.item_id) fl ON fl.item_id = si.id"
        )
        params += [*dimension_ids, *bounds]
    sql = (
        f"SELECT {', '.join(cells)} FROM {_table(StudyItem)} si {' '.join(joins)}"
        f" WHERE si.study_id = %s AND {in_range('si.id')} ORDER BY si.id"
    )
    params += [study_id, *bounds]
    return sql, params


class _CopySink:
    """Collects COPY's rows (one per ``write``) with Python's ``\\r\\n`` line ending."""

    __slots__ = ("rows",)

    def __init__(self):
        self.rows: list[bytes] = []

    def write(self, row: bytes):
        self.rows.append(row[:-1])  # each CopyData message is one row ending with b"\n"

    def text(self) -> str:
        if not self.rows:
            return ""
        self.rows.append(b"")
        return b"\r\n".join(self.rows).decode("utf-8")


def _chunk_text_copy(cursor, sql: str, params: list) -> tuple[str, int]:
    query = cursor.mogrify(sql, params).decode("utf-8")
    # No JIT compilation: a chunk's plan costs more than jit_above_cost as soon as the study has a
    # few dimensions, and compiling its expressions took longer than running them (a 5,000-item chunk
    # of the 100k benchmark: 2.5x slower with JIT). SET LOCAL in the same simple query lasts for that
    # query's implicit transaction only (or the caller's transaction, if there is one).
    copy = f"SET LOCAL jit = off; COPY ({query}) TO STDOUT WITH (FORMAT csv)"
    sink = _CopySink()
    cursor.copy_expert(copy, sink)  # Django logs it like any query when queries are logged
    count = len(sink.rows)
    return sink.text(), count


def _chunk_text_rows(cursor, sql: str, params: list) -> tuple[str, int]:
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    out = io.StringIO()
    csvsafe.writer(out).writerows(rows)
    return out.getvalue(), len(rows)


def wide_csv_body(
    *, study_id: int, dimension_ids: list[int], k: int, chunk_size: int, progress: Callable[[int], None] | None
) -> Iterator[str]:
    """The wide CSV's rows (no header), chunk by chunk: two queries a chunk (its last id, its rows)."""
    copy = _uses_copy()
    after = 0
    while True:
        # The chunk's last id, and whether any item follows it: None when this is the last chunk.
        bound = list(
            StudyItem.objects.filter(study_id=study_id, id__gt=after)
            .order_by("id")
            .values_list("id", flat=True)[chunk_size - 1 : chunk_size + 1]
        )
        last = bound[0] if len(bound) == 2 else None
        sql, params = wide_rows_sql(
            study_id=study_id, dimension_ids=dimension_ids, k=k, after=after, last=last, guard=copy
        )
        with connection.cursor() as cursor:
            text, count = (_chunk_text_copy if copy else _chunk_text_rows)(cursor, sql, params)
        if text:
            yield text
        if progress and count:
            progress(count)
        if last is None:
            return
        after = last
