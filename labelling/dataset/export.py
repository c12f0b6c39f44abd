"""Export a study as CSV or JSONL, streaming.

One row per study item (every item; ``screening`` tells which are in), ordered by item id.

CSV columns: ``source_id, title, url, framework, kind, screening, exclusion_reason``, then one
column per codebook dimension (in codebook order, headed by the dimension code) holding the
FINAL label in its canonical form (a code; codes joined by ``;`` for multiple choice; the text
for free text; empty when there is no final label), then ``n_annotations_complete`` (completed
assignments). A dimension whose code clashes with one of those column names is headed
``final_<code>`` instead.

JSONL: one object per line with the same fields, plus ``final_labels`` ({code: {value, method}},
multiple choice as a list of codes), ``annotations`` ({annotator: {code: {value, note}}}) and
``report`` ({created_at, closed_at, state, labels}).

Spreadsheet safety (CSV only): every text cell (source_id, title, url, framework, ..., every
label) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so that Excel or LibreOffice show it as text instead of running it as a formula; the
counts are numbers and are left alone. This is done by ``config.csvsafe.writer``, the one CSV
writer of the app (see there). JSONL is left exactly as stored: it is the format for programs.

Memory stays flat however large the study: items are read in keyset-paginated chunks
(``CHUNK_SIZE`` ids at a time, ``id > last`` ordered by id) with a fixed number of queries per
chunk (items with their reports, final labels, completed-assignment counts; for JSONL also
annotations and source labels), and each chunk is turned into text and yielded before the
next one is read. Rows are read as tuples (``values_list``), never as model instances.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from config import csvsafe
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.values import value_codes
from triage.models import Report

CHUNK_SIZE = 2000
FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
BASE_COLUMNS = ("source_id", "title", "url", "framework", "kind", "screening", "exclusion_reason")
COUNT_COLUMN = "n_annotations_complete"
JSONL_KEYS = (*BASE_COLUMNS, COUNT_COLUMN, "final_labels", "annotations", "report")

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
_EMPTY: dict = {}


@dataclass(frozen=True)
class ExportColumn:
    """A codebook dimension as it appears in the export."""

    id: int
    code: str
    header: str
    is_multi: bool


def export_columns(study: Study) -> list[ExportColumn]:
    """The study's dimensions in codebook order, with their column headers."""
    dims = Dimension.objects.filter(codebook__study=study).order_by("order", "id").values_list("id", "code", "kind")
    taken = set(JSONL_KEYS)
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
    return [*BASE_COLUMNS, *(c.header for c in columns), COUNT_COLUMN]


@dataclass
class _Chunk:
    items: list[tuple]
    finals: dict[int, tuple]  # item id -> (value of each column, [then method of each column])
    complete: dict[int, int]
    annotations: dict[int, dict[str, dict[int, dict]]]  # item -> annotator -> dimension -> {value, note}
    source_labels: dict[int, list[str]]


def _final_labels_pivot(columns: list[ExportColumn], *, with_method: bool, after: int, last: int) -> dict[int, tuple]:
    """One row per item of the chunk with one value (and method) per column: a single grouped query.

    ``(item, dimension)`` is unique, so ``MAX(... FILTER (WHERE dimension_id = d))`` is that label.
    """
    if not columns:
        return {}
    aggregates = {f"v{c.id}": Max("value", filter=Q(dimension_id=c.id)) for c in columns}
    if with_method:
        aggregates |= {f"m{c.id}": Max("method", filter=Q(dimension_id=c.id)) for c in columns}
    rows = (
        FinalLabel.objects.filter(dimension_id__in=[c.id for c in columns], item_id__gt=after, item_id__lte=last)
        .order_by()
        .values("item_id")
        .annotate(**aggregates)
        .values_list("item_id", *aggregates)
    )
    return {row[0]: row[1:] for row in rows}


def _chunks(study: Study, columns: list[ExportColumn], *, chunk_size: int, detailed: bool) -> Iterator[_Chunk]:
    """Read the study chunk by chunk: 3 queries per chunk (5 with ``detailed``)."""
    dim_ids = [c.id for c in columns]
    multi = {c.id for c in columns if c.is_multi}
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

        finals = _final_labels_pivot(columns, with_method=detailed, after=after, last=last)
        complete = dict(
            Assignment.objects.filter(study_id=study.pk, completed_at__isnull=False, **in_chunk)
            .order_by()
            .values_list("item_id")
            .annotate(n=Count("id"))
        )

        annotations: dict[int, dict[str, dict[int, dict]]] = {}
        source_labels: dict[int, list[str]] = {}
        if detailed:
            if dim_ids:
                rows = Annotation.objects.filter(dimension_id__in=dim_ids, **in_chunk).values_list(
                    "item_id", "annotator__username", "dimension_id", "value", "note"
                )
                for item_id, username, dim_id, value, note in rows.order_by():
                    if dim_id in multi:
                        value = value_codes(value)
                    annotations.setdefault(item_id, {}).setdefault(username, {})[dim_id] = {
                        "value": value,
                        "note": note,
                    }
            through = Report.source_labels.through
            rows = through.objects.filter(
                report__study_items__study_id=study.pk,
                report__study_items__id__gt=after,
                report__study_items__id__lte=last,
            ).values_list("report_id", "sourcelabel__name")
            for report_id, name in rows.order_by():
                source_labels.setdefault(report_id, []).append(name)

        yield _Chunk(items, finals, complete, annotations, source_labels)
        if len(items) < chunk_size:
            return
        after = last


def csv_chunks(study: Study, *, chunk_size: int = CHUNK_SIZE, progress: Callable[[int], None] | None = None):
    """The CSV export as text chunks: the header line, then one chunk of lines per item chunk."""
    columns = export_columns(study)
    no_finals = (None,) * len(columns)
    out = io.StringIO()
    csvsafe.writer(out).writerow(csv_header(columns))
    yield out.getvalue()
    for chunk in _chunks(study, columns, chunk_size=chunk_size, detailed=False):
        finals, complete = chunk.finals, chunk.complete
        rows = [
            (
                *fields,  # source_id, title, url, framework, kind, screening, exclusion_reason
                *finals.get(item_id, no_finals),  # None (no final label) is written as an empty cell
                complete.get(item_id, 0),  # a number: never quoted
            )
            for item_id, *fields in chunk.items
        ]
        out = io.StringIO()
        csvsafe.writer(out).writerows(rows)
        yield out.getvalue()
        if progress:
            progress(len(chunk.items))


def _json_value(col: ExportColumn, value: str):
    return value_codes(value) if col.is_multi else value


def jsonl_chunks(study: Study, *, chunk_size: int = CHUNK_SIZE, progress: Callable[[int], None] | None = None):
    """The JSONL export as text chunks, one chunk of lines per item chunk."""
    columns = export_columns(study)
    n = len(columns)
    no_finals = (None,) * (2 * n)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    for chunk in _chunks(study, columns, chunk_size=chunk_size, detailed=True):
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
            obj["final_labels"] = {
                col.code: {"value": _json_value(col, finals[i]), "method": finals[n + i]}
                for i, col in enumerate(columns)
                if finals[n + i] is not None
            }
            per_annotator = chunk.annotations.get(item_id, _EMPTY)
            obj["annotations"] = {
                username: {col.code: given[col.id] for col in columns if col.id in given}
                for username, given in sorted(per_annotator.items())
            }
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


def export_chunks(
    *, study: Study, fmt: str, chunk_size: int = CHUNK_SIZE, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The whole export of ``study`` in ``fmt`` ("csv" or "jsonl") as a stream of text chunks.

    ``progress`` (optional) is called with the number of rows written after each chunk.
    """
    if fmt == "csv":
        return csv_chunks(study, chunk_size=chunk_size, progress=progress)
    if fmt == "jsonl":
        return jsonl_chunks(study, chunk_size=chunk_size, progress=progress)
    raise ValueError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")


def export_filename(*, study: Study, fmt: str, date) -> str:
    """``<slug>-<YYYY-MM-DD>.<fmt>``: the name a download is saved under."""
    return f"{study.slug}-{date.isoformat()}.{fmt}"
