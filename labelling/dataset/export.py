"""Export a study as CSV, long CSV or JSONL, streaming.

The data dictionary (every column and key, and what an empty cell means) is docs/dataset.md;
this docstring is its short form.

``csv`` (wide, for spreadsheets): one row per study item (every item; ``screening`` tells
which are in), ordered by item id. Columns: ``source_id, title, url, framework, kind,
screening, exclusion_reason``, then one column per codebook dimension (in codebook order,
headed by the dimension code) holding the FINAL label in its canonical form (a code; codes
joined by ``;`` for multiple choice; the text for free text; empty when there is none), then
``n_annotations_complete`` (completed assignments), then ``status_<code>`` for each dimension
(what the final cell means, see :func:`label_status`), then ``method_<code>`` for each
dimension (how the final label was decided: ``FinalLabel.method``, e.g. unanimous, majority,
adjudicated, imported; empty when there is no final label), then ``adjudicator_<code>`` (the
username of whoever decided it, empty for the automatic rules) and ``rationale_<code>`` (why)
for each dimension. A dimension whose code clashes with another column name is headed
``final_<code>`` instead.

``long`` (CSV, one row per individual label): ``source_id, item_id, annotator, dimension,
value, note, time_spent_ms, created_at, updated_at``, every annotation of the study's items on
the codebook's dimensions, ordered by item id, annotator username and codebook order;
timestamps in ISO 8601, UTC.

``jsonl`` (for programs): one object per item with the wide fields (and ``item_id``), plus
``status`` ({code: status}), ``final_labels`` ({code: {value, method, adjudicator, rationale}},
multiple choice as a list of codes), ``annotations`` (a list of {annotator, dimension, value, note, time_spent_ms,
created_at, updated_at}, the long format's fields) and ``report`` ({created_at, closed_at,
state, labels}).

Spreadsheet safety (both CSVs): every text cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading ``'`` so that Excel or LibreOffice show it as text
instead of running it as a formula; numbers are left alone. This is done by
``config.csvsafe.writer``, the one CSV writer of the app (for the wide CSV on PostgreSQL, by the
same rule in SQL, byte for byte: ``labelling.dataset.wide_csv``). JSONL is left exactly as stored.

Memory stays flat however large the study: items are read in keyset-paginated chunks
(``CHUNK_SIZE`` ids at a time, ``CSV_CHUNK_SIZE`` for the wide CSV, ``JSONL_CHUNK_SIZE`` for JSONL;
``id > last`` ordered by id) with a fixed number of queries per chunk, and each chunk is turned
into text and yielded before the next one is read. The wide CSV's cells are all computed by the
database, two queries a chunk (``labelling.dataset.wide_csv``: its last id, then its rows, written
by ``COPY`` on PostgreSQL); the other formats read rows as tuples (``values_list``), never as model
instances, and the JSONL's statuses are computed here by :func:`label_status`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Exists, Max, OuterRef, Q

from config import csvsafe
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.values import value_codes
from triage.models import Report

CHUNK_SIZE = 2000
# The wide CSV's chunks are one query each, its cost mostly per row: fewer, larger chunks.
CSV_CHUNK_SIZE = 5000
# The JSONL holds every label of a chunk's items in memory at once: half the items per chunk.
JSONL_CHUNK_SIZE = 1000
FORMATS = ("csv", "long", "jsonl")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "long": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "long": "long.csv", "jsonl": "jsonl"}
BASE_COLUMNS = ("source_id", "title", "url", "framework", "kind", "screening", "exclusion_reason")
COUNT_COLUMN = "n_annotations_complete"
JSONL_KEYS = ("item_id", *BASE_COLUMNS, COUNT_COLUMN, "status", "final_labels", "annotations", "report")
LONG_COLUMNS = (
    "source_id",
    "item_id",
    "annotator",
    "dimension",
    "value",
    "note",
    "time_spent_ms",
    "created_at",
    "updated_at",
)

# What an empty (or full) final cell means: the status_<dimension> column.
STATUS_FINAL = "final"  # a final label with a value
STATUS_DISAGREEMENT = "disagreement"  # k annotators finished, one of them gave a value, no final label
STATUS_PENDING = "pending"  # assigned, fewer than k annotators finished, no final label
STATUS_EMPTY = "empty"  # a final label with an empty value, nobody assigned, or k finished and all left it empty
STATUSES = (STATUS_FINAL, STATUS_DISAGREEMENT, STATUS_PENDING, STATUS_EMPTY)

_ITEM_FIELDS = (
    "id",
    "report__source_id",
    "report__title",
    "report__url",
    "report__framework",
    "report__kind",
    "screening",
    "exclusion_reason",
)
_ITEM_DETAIL_FIELDS = ("report_id", "report__created_at", "report__closed_at", "report__state")


@dataclass(frozen=True)
class ExportColumn:
    """A codebook dimension as it appears in the export."""

    id: int
    code: str
    header: str
    is_multi: bool

    @property
    def status_header(self) -> str:
        return f"status_{self.code}"

    @property
    def method_header(self) -> str:
        return f"method_{self.code}"

    @property
    def adjudicator_header(self) -> str:
        return f"adjudicator_{self.code}"

    @property
    def rationale_header(self) -> str:
        return f"rationale_{self.code}"


def export_columns(study: Study) -> list[ExportColumn]:
    """The study's dimensions in codebook order, with their column headers."""
    dims = list(
        Dimension.objects.filter(codebook__study=study).order_by("order", "id").values_list("id", "code", "kind")
    )
    prefixes = ("status", "method", "adjudicator", "rationale")
    taken = set(JSONL_KEYS) | {f"{p}_{code}" for _, code, _ in dims for p in prefixes}
    return [
        ExportColumn(
            id=pk,
            code=code,
            header=f"final_{code}" if code in taken else code,
            is_multi=kind == Dimension.Kind.MULTI,
        )
        for pk, code, kind in dims
    ]


def csv_header(columns: list[ExportColumn]) -> list[str]:
    return [
        *BASE_COLUMNS,
        *(c.header for c in columns),
        COUNT_COLUMN,
        *(c.status_header for c in columns),
        *(c.method_header for c in columns),
        *(c.adjudicator_header for c in columns),
        *(c.rationale_header for c in columns),
    ]


def label_status(*, final_value: str | None, assigned: int, complete: int, k: int, given: int) -> str:
    """What the final cell of one item and dimension means (the ``status_<dimension>`` column).

    ``final_value``: the final label's value, None when there is none; ``assigned`` and
    ``complete``: the item's assignments and completed assignments; ``k``: the study's overlap;
    ``given``: how many annotators who finished the item gave this dimension a non-empty value.

    * ``final``: a final label with a value;
    * ``empty``: a final label whose value is empty, or no final label because nobody was asked
      (the item has no assignment: not screened, excluded or not assigned yet), or because k
      annotators finished and all of them left the dimension empty;
    * ``disagreement``: at least k annotators finished, at least one of them gave a value, and there
      is no final label: the item waits for adjudication (normally because their values differ);
    * ``pending``: the item is assigned but fewer than k annotators finished it.
    """
    if final_value is not None:
        return STATUS_FINAL if final_value != "" else STATUS_EMPTY
    if assigned == 0:
        return STATUS_EMPTY
    if complete < max(k, 1):
        return STATUS_PENDING
    return STATUS_DISAGREEMENT if given else STATUS_EMPTY


@dataclass
class _Chunk:
    items: list[tuple]
    finals: dict[int, tuple]  # item id -> (value of each column, then method, adjudicator, rationale of each)
    assigned: dict[int, int]
    complete: dict[int, int]
    given: dict[int, tuple]  # item id -> non-empty values by finished annotators, per column
    annotations: dict[int, list[tuple]]  # item id -> the long-format fields of each label
    source_labels: dict[int, list[str]]


def _final_labels_pivot(columns: list[ExportColumn], *, after: int, last: int) -> dict[int, tuple]:
    """One row per item of the chunk with the values of the columns, then their methods, then who decided
    each (a username, None for the automatic rules), then each rationale: a single grouped query.

    ``(item, dimension)`` is unique, so ``MAX(... FILTER (WHERE dimension_id = d))`` is that label.
    """
    if not columns:
        return {}
    aggregates = {f"v{c.id}": Max("value", filter=Q(dimension_id=c.id)) for c in columns}
    aggregates |= {f"m{c.id}": Max("method", filter=Q(dimension_id=c.id)) for c in columns}
    aggregates |= {f"a{c.id}": Max("decided_by__username", filter=Q(dimension_id=c.id)) for c in columns}
    aggregates |= {f"r{c.id}": Max("rationale", filter=Q(dimension_id=c.id)) for c in columns}
    rows = (
        FinalLabel.objects.filter(dimension_id__in=[c.id for c in columns], item_id__gt=after, item_id__lte=last)
        .order_by()
        .values("item_id")
        .annotate(**aggregates)
        .values_list("item_id", *aggregates)
    )
    return {row[0]: row[1:] for row in rows}


def _given_pivot(columns: list[ExportColumn], undecided: list[list[int]], *, after: int, last: int) -> dict[int, tuple]:
    """Per item, per column: the non-empty labels given by annotators who finished the item, where the
    item has no final label on the column (0 elsewhere). One query over the chunk's labels, with no
    list of ids: ``undecided[i]`` (the chunk's items whose column ``i`` needs the count) only says
    whether a column needs it at all; counting more items than those changes nothing, as the caller
    reads the counts of its undecided items only."""
    wanted = [col.id for col, item_ids in zip(columns, undecided, strict=True) if item_ids]
    if not wanted:
        return {}
    # The chunk's bounds inside the subqueries too: PostgreSQL then reads only the chunk's rows.
    finished = Assignment.objects.filter(
        item_id=OuterRef("item_id"),
        annotator_id=OuterRef("annotator_id"),
        completed_at__isnull=False,
        item_id__gt=after,
        item_id__lte=last,
    )
    decided = FinalLabel.objects.filter(
        item_id=OuterRef("item_id"), dimension_id=OuterRef("dimension_id"), item_id__gt=after, item_id__lte=last
    )
    aggregates = {f"n{c.id}": Count("id", filter=Q(dimension_id=c.id)) for c in columns}
    rows = (
        Annotation.objects.filter(dimension_id__in=wanted, item_id__gt=after, item_id__lte=last)
        .exclude(value="")
        .filter(Exists(finished))
        .exclude(Exists(decided))
        .order_by()
        .values("item_id")
        .annotate(**aggregates)
        .values_list("item_id", *aggregates)
    )
    return {row[0]: row[1:] for row in rows}


def iso_utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat()


def _annotations(columns: list[ExportColumn], *, after: int, last: int) -> dict[int, list[tuple]]:
    """Every label of the chunk's items on ``columns``, ordered by item, annotator and codebook order:
    {item id: [(annotator, dimension code, value, note, time_spent_ms, created_at, updated_at)]},
    values canonical strings, timestamps ISO 8601 strings in UTC. One query."""
    if not columns:
        return {}
    code = {c.id: c.code for c in columns}
    rows = (
        Annotation.objects.filter(dimension_id__in=list(code), item_id__gt=after, item_id__lte=last)
        .order_by("item_id", "annotator__username", "dimension__order", "dimension_id")
        .values_list(
            "item_id",
            "annotator__username",
            "dimension_id",
            "value",
            "note",
            "time_spent_ms",
            "created_at",
            "updated_at",
        )
    )
    result: dict[int, list[tuple]] = {}
    for item_id, username, dim_id, value, note, spent, created, updated in rows:
        result.setdefault(item_id, []).append(
            (username, code[dim_id], value, note, spent, iso_utc(created), iso_utc(updated))
        )
    return result


def item_chunks(
    study: Study,
    columns: list[ExportColumn],
    *,
    chunk_size: int,
    finals: bool = True,
    detailed: bool,
    annotations: bool | None = None,
) -> Iterator[_Chunk]:
    """Read the study chunk by chunk: at most 4 queries per chunk (6 with ``detailed``, 2 without ``finals``).

    ``annotations``: read the chunk's labels (default: with ``detailed`` or without ``finals``); a
    release reads them its own way (``labelling.releases.writer``).

    The fourth (``_given_pivot``) runs only when the chunk has items finished by k annotators that
    lack a final label on some dimension."""
    fields = _ITEM_FIELDS + (_ITEM_DETAIL_FIELDS if detailed else ())
    after = 0
    while True:
        items = list(
            StudyItem.objects.filter(study_id=study.pk, id__gt=after).order_by("id").values_list(*fields)[:chunk_size]
        )
        if not items:
            return
        last = items[-1][0]
        in_chunk = {"item_id__gt": after, "item_id__lte": last}

        final_rows: dict[int, tuple] = {}
        assigned: dict[int, int] = {}
        complete: dict[int, int] = {}
        given: dict[int, tuple] = {}
        if finals:
            final_rows = _final_labels_pivot(columns, after=after, last=last)
            for item_id, n_assigned, n_complete in (
                Assignment.objects.filter(study_id=study.pk, **in_chunk)
                .order_by()
                .values("item_id")
                .annotate(n=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False)))
                .values_list("item_id", "n", "done")
            ):
                assigned[item_id] = n_assigned
                if n_complete:
                    complete[item_id] = n_complete
            # Only an item finished by k annotators with no final label on a dimension needs the
            # labels given there: its status is disagreement or empty, by whether anyone gave one.
            k = max(study.overlap_k, 1)
            n = len(columns)
            no_final = (None,) * (4 * n)
            finished_items = [item_id for item_id, n_complete in complete.items() if n_complete >= k]
            undecided = [
                [item_id for item_id in finished_items if final_rows.get(item_id, no_final)[n + i] is None]
                for i in range(n)
            ]
            given = _given_pivot(columns, undecided, after=after, last=last)

        labels: dict[int, list[tuple]] = {}
        source_labels: dict[int, list[str]] = {}
        if (detailed or not finals) if annotations is None else annotations:
            labels = _annotations(columns, after=after, last=last)
        if detailed:
            through = Report.source_labels.through
            rows = through.objects.filter(
                report__study_items__study_id=study.pk,
                report__study_items__id__gt=after,
                report__study_items__id__lte=last,
            ).values_list("report_id", "sourcelabel__name")
            for report_id, name in rows.order_by():
                source_labels.setdefault(report_id, []).append(name)

        yield _Chunk(items, final_rows, assigned, complete, given, labels, source_labels)
        if len(items) < chunk_size:
            return
        after = last


def _statuses(chunk: _Chunk, item_id: int, finals: tuple, n: int, k: int) -> list[str]:
    """``label_status`` of each column of one item (a dimension with a final label is decided
    here without the call: the common case, millions of cells in a large export)."""
    statuses = []
    for i in range(n):
        if finals[n + i] is not None:  # a method: the final label exists
            statuses.append(STATUS_FINAL if finals[i] != "" else STATUS_EMPTY)
            continue
        given = chunk.given.get(item_id)
        statuses.append(
            label_status(
                final_value=None,
                assigned=chunk.assigned.get(item_id, 0),
                complete=chunk.complete.get(item_id, 0),
                k=k,
                given=given[i] if given else 0,
            )
        )
    return statuses


def csv_chunks(study: Study, *, chunk_size: int = CSV_CHUNK_SIZE, progress: Callable[[int], None] | None = None):
    """The wide CSV export as text chunks: the header line, then one chunk of lines per item chunk.

    Every cell is computed by the database, and on PostgreSQL the lines are written by ``COPY``
    (``labelling.dataset.wide_csv``): the same bytes as ``config.csvsafe.writer`` over the rows."""
    from labelling.dataset.wide_csv import wide_csv_body  # it reads this module's statuses

    columns = export_columns(study)
    out = io.StringIO()
    csvsafe.writer(out).writerow(csv_header(columns))
    yield out.getvalue()
    yield from wide_csv_body(
        study_id=study.pk,
        dimension_ids=[c.id for c in columns],
        k=study.overlap_k,
        chunk_size=chunk_size,
        progress=progress,
    )


def long_chunks(study: Study, *, chunk_size: int = CHUNK_SIZE, progress: Callable[[int], None] | None = None):
    """The long CSV export: the header line, then the labels of each item chunk.

    ``progress`` counts items (not lines), like the other formats.
    """
    columns = export_columns(study)
    out = io.StringIO()
    csvsafe.writer(out).writerow(LONG_COLUMNS)
    yield out.getvalue()
    for chunk in item_chunks(study, columns, chunk_size=chunk_size, finals=False, detailed=False):
        rows = [
            (source_id, item_id, *label)  # item_id and time_spent_ms are numbers: never quoted
            for item_id, source_id, *_ in chunk.items
            for label in chunk.annotations.get(item_id, ())
        ]
        out = io.StringIO()
        csvsafe.writer(out).writerows(rows)
        yield out.getvalue()
        if progress:
            progress(len(chunk.items))


def _json_value(col: ExportColumn, value: str):
    return value_codes(value) if col.is_multi else value


def jsonl_chunks(study: Study, *, chunk_size: int = JSONL_CHUNK_SIZE, progress: Callable[[int], None] | None = None):
    """The JSONL export as text chunks, one chunk of lines per item chunk."""
    columns = export_columns(study)
    n = len(columns)
    no_finals = (None,) * (4 * n)
    k = study.overlap_k
    multi = {c.code for c in columns if c.is_multi}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    for chunk in item_chunks(study, columns, chunk_size=chunk_size, detailed=True):
        lines = []
        for (
            item_id,
            source_id,
            title,
            url,
            framework,
            kind,
            screening,
            reason,
            report_id,
            created_at,
            closed_at,
            state,
        ) in chunk.items:
            finals = chunk.finals.get(item_id, no_finals)
            obj = {
                "item_id": item_id,
                "source_id": source_id,
                "title": title,
                "url": url,
                "framework": framework,
                "kind": kind,
                "screening": screening,
                "exclusion_reason": reason,
            }
            for i, col in enumerate(columns):
                obj[col.header] = finals[i] if finals[n + i] is not None else ""
            obj[COUNT_COLUMN] = chunk.complete.get(item_id, 0)
            obj["status"] = dict(zip((c.code for c in columns), _statuses(chunk, item_id, finals, n, k), strict=True))
            obj["final_labels"] = {
                col.code: {
                    "value": _json_value(col, finals[i]),
                    "method": finals[n + i],
                    "adjudicator": finals[2 * n + i],
                    "rationale": finals[3 * n + i] or "",
                }
                for i, col in enumerate(columns)
                if finals[n + i] is not None
            }
            obj["annotations"] = [
                {
                    "annotator": annotator,
                    "dimension": code,
                    "value": value_codes(value) if code in multi else value,
                    "note": note,
                    "time_spent_ms": spent,
                    "created_at": created,
                    "updated_at": updated,
                }
                for annotator, code, value, note, spent, created, updated in chunk.annotations.get(item_id, ())
            ]
            obj["report"] = {
                "created_at": created_at.isoformat() if created_at else None,
                "closed_at": closed_at.isoformat() if closed_at else None,
                "state": state,
                "labels": sorted(chunk.source_labels.get(report_id, ())),
            }
            lines.append(dumps(obj))
        lines.append("")
        yield "\n".join(lines)
        if progress:
            progress(len(chunk.items))


_WRITERS = {"csv": csv_chunks, "long": long_chunks, "jsonl": jsonl_chunks}


def export_chunks(
    *, study: Study, fmt: str, chunk_size: int | None = None, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The whole export of ``study`` in ``fmt`` (one of ``FORMATS``) as a stream of text chunks.

    ``chunk_size``: items read at a time (default ``CSV_CHUNK_SIZE`` for the wide CSV, ``CHUNK_SIZE``
    for the long one, ``JSONL_CHUNK_SIZE`` for JSONL).
    ``progress`` (optional) is called with the number of items written after each chunk.
    """
    if fmt not in _WRITERS:
        raise ValueError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    if chunk_size is None:
        chunk_size = {"csv": CSV_CHUNK_SIZE, "jsonl": JSONL_CHUNK_SIZE}.get(fmt, CHUNK_SIZE)
    return _WRITERS[fmt](study, chunk_size=chunk_size, progress=progress)


def export_filename(*, study: Study, fmt: str, date) -> str:
    """``<slug>-<YYYY-MM-DD>.<ext>`` (``.long.csv`` for the long format): the name a download is saved under."""
    return f"{study.slug}-{date.isoformat()}.{EXTENSIONS[fmt]}"
