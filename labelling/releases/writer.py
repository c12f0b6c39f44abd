"""Write a release package: the data files streamed chunk by chunk, then the metadata, then the zip.

The study is read with the plain export's chunked reader (``labelling.dataset.export.item_chunks``:
keyset pagination, a fixed number of queries per chunk, tuples not models), each chunk written
to the CSV writer and to a pyarrow ``ParquetWriter`` before the next one is read, so memory stays
flat for any study size.

Deterministic: rows in item order (then annotator pseudonym and codebook order), no build
timestamp inside a data file, zip entries in a fixed order with a fixed date (1980-01-01), so
the same study gives byte-identical data files (and a study loaded from a package gives back
the package's data files).
"""

from __future__ import annotations

import csv
import ctypes
import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.contrib.auth import get_user_model

from labelling.agreement.selectors import study_agreement
from labelling.dataset.export import export_columns, iso_utc, item_chunks
from labelling.models import Annotation, Assignment, Category, Dimension, FinalLabelDecision, Study, StudyItem
from labelling.releases import package as pk
from labelling.selectors.codebook import codebook_export
from surveys.release_tables import SurveyTable, study_survey_tables
from triage.models import Report, ReproductionRun

CHUNK_SIZE = 2000
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class WrittenFile:
    path: str
    size: int
    sha256: str
    rows: int | None = None


@dataclass
class Built:
    """What ``write_package`` made: the zip's files and what the dataset card and the release row need."""

    files: list[WrittenFile]
    counts: dict
    codebook: dict
    agreement: dict
    tables: dict = field(default_factory=dict)  # resource name -> list[pk.Field]
    final_headers: list[str] = field(default_factory=list)  # the final-label column of each dimension


@contextmanager
def system_memory_pool():
    """pyarrow allocating with malloc while a release is built, then the pool it had before.

    pyarrow's default pool (mimalloc) keeps per-thread heaps it does not give back: reading and
    writing a release's Parquet files cost 20 to 40 MB more with it than with the system allocator,
    for no gain at a release's small batches. Buffers remember their pool, so restoring it is safe."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def give_back_freed_memory() -> None:
    """Return the heap memory freed by a finished step to the system (glibc's ``malloc_trim``), so the
    next step does not start on top of it. Nothing elsewhere (another C library, macOS)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dimension_specs(study: Study) -> list[pk.DimensionSpec]:
    columns = export_columns(study)
    dims = {d.id: d for d in Dimension.objects.filter(codebook__study=study)}
    codes: dict[int, list[str]] = {}
    for dim_id, code in (
        Category.objects.filter(dimension__in=list(dims)).order_by("order", "id").values_list("dimension_id", "code")
    ):
        codes.setdefault(dim_id, []).append(code)
    return [pk.DimensionSpec(c, dims[c.id].kind, dims[c.id].name, tuple(codes.get(c.id, ()))) for c in columns]


class _Table:
    """One table written to CSV and (optionally) Parquet at once, batch by batch."""

    def __init__(self, directory: Path, name: str, fields: list[pk.Field], *, parquet: bool):
        self.fields = fields
        self.rows = 0
        self.csv_path = directory / pk.DATA_PATHS[name]
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.csv_path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow([f.name for f in fields])
        self.parquet_path = directory / pk.PARQUET_PATHS[name] if parquet else None
        self._schema = pk.arrow_schema(fields)
        self._parquet = (
            pq.ParquetWriter(self.parquet_path, self._schema, compression="zstd") if self.parquet_path else None
        )

    def write(self, rows: list[tuple]) -> None:
        if rows:
            self.write_columns([list(c) for c in zip(*rows, strict=True)])

    def write_columns(self, columns: list[list]) -> None:
        """One batch, column by column (the fast path: each column converted once, not each cell)."""
        if not columns or not columns[0]:
            return
        self.rows += len(columns[0])
        text = []
        for values, f in zip(columns, self.fields, strict=True):
            if f.type == "datetime":
                text.append([iso_utc(v) for v in values])
            elif f.type == "boolean":
                text.append(["true" if v else "false" for v in values])
            else:
                text.append(values)  # the csv module writes None as an empty cell
        self._csv.writerows(zip(*text, strict=True))
        if self._parquet is not None:
            arrays = []
            for values, f in zip(columns, self.fields, strict=True):
                if f.type == "string":
                    array = pa.array(values, type=pa.string())
                    arrays.append(array.dictionary_encode() if f.categorical else array)
                else:
                    arrays.append(pa.array(values, type=f.arrow_type()))
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        self._fh.close()
        if self._parquet is not None:
            self._parquet.close()


def _items_and_labels(
    study: Study,
    directory: Path,
    dims: list[pk.DimensionSpec],
    names: dict[str, str],
    *,
    include_bodies: bool,
    chunk_size: int,
    progress: Callable[[int], None] | None,
) -> tuple[_Table, _Table]:
    columns = [d.column for d in dims]
    n = len(columns)
    no_finals = (None,) * (4 * n)
    order = {name: i for i, name in enumerate(names.values())}
    user_ids = dict(get_user_model().objects.filter(username__in=list(names)).values_list("id", "username"))
    names_by_id = {user_id: names[username] for user_id, username in user_ids.items()}
    order_by_id = {user_id: i for i, user_id in enumerate(sorted(names_by_id, key=lambda u: order[names_by_id[u]]))}
    items = _Table(directory, pk.ITEMS, pk.item_fields(dims, include_bodies=include_bodies), parquet=True)
    labels = _Table(directory, pk.LABELS, pk.label_fields(dims, list(names.values())), parquet=True)
    code_of = {d.column.id: d.column.code for d in dims}
    dim_order = {d.column.id: i for i, d in enumerate(dims)}
    try:
        for chunk in item_chunks(study, columns, chunk_size=chunk_size, detailed=True, annotations=False):
            first, last = chunk.items[0][0], chunk.items[-1][0]
            bodies = {}
            if include_bodies:
                bodies = dict(Report.objects.filter(id__in=[row[8] for row in chunk.items]).values_list("id", "body"))
            finished = set(
                Assignment.objects.filter(
                    study_id=study.pk, item_id__gte=first, item_id__lte=last, completed_at__isnull=False
                ).values_list("item_id", "annotator_id")
            )
            item_rows = []
            source_of = {}
            for (item_id, source_id, title, url, framework, kind, screening, reason, report_id, created_at,
                 closed_at, state) in chunk.items:  # fmt: skip
                source_of[item_id] = source_id
                finals = chunk.finals.get(item_id, no_finals)
                row = [source_id, kind, framework, title, url, state, created_at, closed_at,
                       ";".join(sorted(chunk.source_labels.get(report_id, ())))]  # fmt: skip
                if include_bodies:
                    row.append(bodies.get(report_id, ""))
                row += [screening, reason, chunk.complete.get(item_id, 0)]
                for i in range(n):
                    method = finals[n + i]
                    adjudicator = finals[2 * n + i]
                    row += [
                        finals[i],
                        method,
                        names.get(adjudicator, adjudicator) if adjudicator else None,
                        finals[3 * n + i] if method is not None else None,
                    ]
                item_rows.append(tuple(row))
            items.write(item_rows)
            # The labels: one lean query (ids, no timestamps), sorted here by item, pseudonym, codebook order.
            found = list(
                Annotation.objects.filter(dimension_id__in=list(code_of), item_id__gte=first, item_id__lte=last)
                .order_by()
                .values_list("item_id", "annotator_id", "dimension_id", "value", "note", "time_spent_ms")
            )
            found.sort(key=lambda a: (a[0], order_by_id.get(a[1], 1 << 30), dim_order[a[2]]))
            labels.write_columns(
                [
                    [source_of[a[0]] for a in found],
                    [names_by_id[a[1]] for a in found],
                    [code_of[a[2]] for a in found],
                    [a[3] for a in found],
                    [a[4] for a in found],
                    [a[5] for a in found],
                    [(a[0], a[1]) in finished for a in found],
                ]
            )
            if progress:
                progress(len(chunk.items))
    finally:
        items.close()
        labels.close()
    return items, labels


def _adjudications(study: Study, directory: Path, names: dict[str, str]) -> _Table:
    table = _Table(directory, pk.ADJUDICATIONS, pk.ADJUDICATION_FIELDS, parquet=False)
    rows = (
        FinalLabelDecision.objects.filter(item__study=study)
        .order_by("item_id", "decided_at", "id")
        .values_list(
            "item__report__source_id",
            "dimension__code",
            "decided_at",
            "decided_by__username",
            "value",
            "chosen_from",
            "rationale",
            "replaced_method",
            "replaced_value",
        )
    )
    batch = []
    for source_id, code, at, username, value, chosen, rationale, replaced_method, replaced_value in rows.iterator(
        chunk_size=2000
    ):
        chosen_text = json.dumps(chosen, ensure_ascii=False, separators=(",", ":"))
        batch.append(
            (
                source_id,
                code,
                at,
                names.get(username, username) if username else None,
                value,
                chosen_text,
                rationale,
                replaced_method,
                replaced_value,
            )
        )
        if len(batch) >= 2000:
            table.write(batch)
            batch = []
    table.write(batch)
    table.close()
    return table


def _reproductions(study: Study, directory: Path) -> _Table:
    table = _Table(directory, pk.REPRODUCTIONS, pk.REPRODUCTION_FIELDS, parquet=False)
    runs = (
        ReproductionRun.objects.filter(reproducer__report__study_items__study=study)
        .order_by("reproducer__report__study_items__id", "reproducer_id", "reproduction_id", "index", "side", "id")
        .values_list(
            "reproducer__report__source_id",
            "reproducer_id",
            "reproduction_id",
            "reproduction__kind",
            "reproducer__oracle",
            "index",
            "side",
            "device",
            "requirements",
            "environment__python",
            "version",
            "status",
            "verdict",
            "verdict_detail",
            "exit_code",
            "duration_ms",
            "peak_memory_kb",
        )
    )
    # Database ids differ between instances: reproducers and reproductions are numbered per report.
    reproducer_no: dict[int, int] = {}
    reproduction_no: dict[int, int] = {}
    per_report: dict[str, int] = {}
    per_reproducer: dict[int, int] = {}
    batch = []
    for source_id, reproducer_id, reproduction_id, *rest in runs.iterator(chunk_size=2000):
        if reproducer_id not in reproducer_no:
            per_report[source_id] = reproducer_no[reproducer_id] = per_report.get(source_id, 0) + 1
        if reproduction_id not in reproduction_no:
            per_reproducer[reproducer_id] = reproduction_no[reproduction_id] = per_reproducer.get(reproducer_id, 0) + 1
        batch.append((source_id, reproducer_no[reproducer_id], reproduction_no[reproduction_id], *rest))
    table.write(batch)
    table.close()
    return table


def survey_tables(study: Study) -> list[SurveyTable]:
    """The study's surveys (``surveys.release_tables``): each becomes ``data/survey_<slug>.csv`` (its
    submitted answers, long) and ``surveys/<slug>.json`` (its versions' definitions)."""
    return study_survey_tables(study)


def _renamed(value, names: dict[str, str]):
    """``value`` with every string equal to a username replaced by the annotator's release name."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list | tuple):
        return [_renamed(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    return value


def study_figures(study: Study, names: dict[str, str]) -> list:
    """The analytics charts (``labelling.analytics.study_figures``), annotators by their release names.
    Charts are objects with ``.id``, ``.title``, ``.figure`` and ``.csv_text()``; dataclasses (rows and
    Plotly spec) are renamed field by field, so a username inside other text is never touched."""
    try:
        from labelling.analytics import study_figures as figures
    except ImportError:  # the analytics app is not there: no figures
        return []
    out = []
    for chart in figures(study):
        if dataclasses.is_dataclass(chart) and hasattr(chart, "rows") and hasattr(chart, "spec"):
            chart = dataclasses.replace(
                chart,
                rows=_renamed(chart.rows, names),
                spec=_renamed(chart.spec, names),
                table_rows=_renamed(getattr(chart, "table_rows", None), names),
            )
        out.append(chart)
    return out


def pseudonymised_agreement(study: Study, names: dict[str, str]) -> dict:
    """The agreement command's JSON, annotators' usernames replaced by their release names."""
    result = study_agreement(study=study)
    for dim in result["dimensions"]:
        for pair in dim.get("cohen_kappa") or []:
            pair["raters"] = [names.get(r, r) for r in pair["raters"]]
    return result


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def write_data(
    *,
    study: Study,
    directory: Path,
    names: dict[str, str],
    include_bodies: bool,
    figures: bool = True,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Built:
    """Write every data file, codebook.json, agreement.json and the figures into ``directory``.

    The agreement is computed first: its labels are held while it runs and freed after, before
    pyarrow's compute kernels (about 50 MB once loaded) and the data chunks take their share, so the
    two never add up in the process's peak memory."""
    agreement = pseudonymised_agreement(study, names)
    write_json(directory / "agreement.json", agreement)
    give_back_freed_memory()
    dims = dimension_specs(study)
    items, labels = _items_and_labels(
        study, directory, dims, names, include_bodies=include_bodies, chunk_size=chunk_size, progress=progress
    )
    give_back_freed_memory()
    adjudications = _adjudications(study, directory, names)
    reproductions = _reproductions(study, directory)
    tables = {
        pk.ITEMS: items.fields,
        pk.LABELS: labels.fields,
        pk.ADJUDICATIONS: pk.ADJUDICATION_FIELDS,
        pk.REPRODUCTIONS: pk.REPRODUCTION_FIELDS,
    }
    rows = {
        pk.ITEMS: items.rows,
        pk.LABELS: labels.rows,
        pk.ADJUDICATIONS: adjudications.rows,
        pk.REPRODUCTIONS: reproductions.rows,
    }
    for survey in survey_tables(study):
        path = directory / "data" / f"survey_{survey.name}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(survey.header)
            count = 0
            for row in survey.rows:
                writer.writerow(row)
                count += 1
        write_json(directory / "surveys" / f"{survey.name}.json", survey.document)
        tables[f"survey_{survey.name}"] = survey.fields
        rows[f"survey_{survey.name}"] = count
    # The template format (what a new study starts from); where it was exported from is the
    # release's own metadata, so it is left out and a loaded study's release is byte-identical.
    codebook = codebook_export(study=study)
    codebook.pop("exported_from", None)
    for figure in study_figures(study, names) if figures else ():
        (directory / "figures").mkdir(exist_ok=True)
        html = figure.figure.to_html(include_plotlyjs=True, full_html=True, div_id=f"figure-{figure.id}")
        (directory / "figures" / f"{figure.id}.html").write_text(html, encoding="utf-8")
        (directory / "figures" / f"{figure.id}.csv").write_text(figure.csv_text(), encoding="utf-8")
    included = StudyItem.objects.filter(study=study, screening=StudyItem.Screening.INCLUDED).count()
    counts = {
        "items": rows[pk.ITEMS],
        "included": included,
        "labels": rows[pk.LABELS],
        "annotators": len(names),
        "adjudications": rows[pk.ADJUDICATIONS],
        "reproduction_runs": rows[pk.REPRODUCTIONS],
        "dimensions": len(dims),
        "rows": rows,
    }
    files = [WrittenFile(p, (directory / p).stat().st_size, sha256_of(directory / p)) for p in _paths(directory)]
    return Built(
        files=files,
        counts=counts,
        codebook=codebook,
        agreement=agreement,
        tables=tables,
        final_headers=[d.column.header for d in dims],
    )


def _paths(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def write_zip(directory: Path, target, order: list[str]) -> None:
    """Zip ``order`` (paths relative to ``directory``) into ``target`` (a path or a binary file) with a
    fixed date and permissions on every entry, so the same files give the same bytes."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for rel in order:
            info = zipfile.ZipInfo(rel, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            # The figures each inline plotly.js (~4.7 MB): the fastest level keeps the zip quick to write.
            # (ZipInfo.compress_level from Python 3.13, _compresslevel before.)
            level_attribute = "compress_level" if hasattr(info, "compress_level") else "_compresslevel"
            setattr(info, level_attribute, 1 if rel.endswith(".html") else 6)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            with (directory / rel).open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                for block in iter(lambda src=src: src.read(1 << 20), b""):
                    dst.write(block)


def checksums_text(files: list[WrittenFile]) -> str:
    """``sha256sum`` format: ``<hex>  <path>`` per line, sorted by path (``sha256sum -c`` checks it)."""
    return "".join(f"{f.sha256}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))
