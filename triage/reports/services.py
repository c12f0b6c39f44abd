"""Writes for triage: importing report files, and the import jobs that run them in a worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from config.analyze import analyze_after_bulk_write
from config.errors import ApplicationError
from labelling.services.items import study_items_flag_for_review
from labelling.services.results import report_results_changed
from triage.codeblocks import extract_code_blocks
from triage.models import CodeBlock, Comment, ImportJob, Report, SourceLabel
from triage.reports.counts import report_counts_changed
from triage.reports.files import ReportFile, ReportRow, format_for

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
MAX_LISTED_PROBLEMS = 200
REPORT_UPDATE_FIELDS = [
    "kind",
    "framework",
    "title",
    "body",
    "url",
    "state",
    "created_at",
    "closed_at",
    "raw",
    "content_hash",
    "updated_at",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """How an import went: reports in the file, and how many were new, changed or the same."""

    total: int
    created: int
    updated: int
    unchanged: int
    flagged: int = 0  # study items flagged for re-review because their report changed

    def summary(self) -> str:
        text = f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"
        if self.flagged:
            text += f"; {self.flagged} study item{'s' if self.flagged != 1 else ''} flagged for re-review"
        return text


# -- importing a file ------------------------------------------------------------------


def reports_import(
    *, source: str | Path | IO, fmt: str | None = None, progress: Progress | None = None
) -> ImportResult:
    """Import a JSONL or CSV file of reports: all of it, or nothing.

    Pass 1 checks every line (fields, dates, urls, duplicate source_ids) and keeps only the
    problems; any problem raises ``ApplicationError`` with ``details=[{line, field, message}]``
    (at most 200 listed, the message counts the rest) and nothing is written. Pass 2 reads
    the file again and upserts by ``source_id`` in batches inside one transaction; rows whose
    ``content_hash`` is unchanged are not rewritten. ``progress(done, total)`` runs per batch.
    """
    with ReportFile(source, fmt=fmt, max_bytes=settings.BUGSIFT_MAX_UPLOAD_BYTES) as report_file:
        checked = report_file.check(max_listed=MAX_LISTED_PROBLEMS)
        if not checked.ok:
            n = checked.problem_count
            message = (
                f"The file has {n} problem{'s' if n != 1 else ''}; nothing was imported. "
                "Fix the file and import it again."
            )
            if n > len(checked.problems):
                message += f" The first {len(checked.problems)} are listed; {n - len(checked.problems)} more are not."
            raise ApplicationError(message, details=[p.as_dict() for p in checked.problems])
        return _reports_write(rows=report_file.rows(), total=checked.total, progress=progress)


@transaction.atomic
def _reports_write(*, rows: Iterable[ReportRow], total: int, progress: Progress | None) -> ImportResult:
    if progress:
        progress(0, total)
    created = updated = unchanged = done = flagged = 0
    label_ids: dict[str, int] = {}
    changed: list[int] = []
    for batch in _batched(rows, BATCH_SIZE):
        c, u, n, f = _reports_upsert_batch(batch, label_ids, changed)
        created, updated, unchanged, done = created + c, updated + u, unchanged + n, done + len(batch)
        flagged += f
        if progress:
            progress(done, total)
    # Last in the import's transaction: the studies holding a changed report (framework, labels) recount.
    report_results_changed(report_ids=changed)
    # A large import refreshes the planner statistics of what it wrote, once it commits (config/analyze.py).
    analyze_after_bulk_write(models_written=[Report, Report.source_labels.through, CodeBlock], rows=created + updated)
    return ImportResult(total=done, created=created, updated=updated, unchanged=unchanged, flagged=flagged)


def _reports_upsert_batch(
    batch: list[ReportRow], label_ids: dict[str, int], changed_report_ids: list[int]
) -> tuple[int, int, int, int]:
    """Upsert one batch; returns (created, updated, unchanged, study items flagged) and adds the
    ids of the reports it changed to ``changed_report_ids``. Validated rows only: the checks of
    ``full_clean()`` were done by the pipeline, line by line, before any write."""
    existing = {
        source_id: (pk, digest)
        for source_id, pk, digest in Report.objects.filter(source_id__in=[r.source_id for r in batch]).values_list(
            "source_id", "id", "content_hash"
        )
    }
    to_write: list[ReportRow] = []
    created = 0
    for row in batch:
        current = existing.get(row.source_id)
        if current is None:
            created += 1
        elif current[1] == row.content_hash:
            continue  # unchanged: not rewritten
        to_write.append(row)
    if not to_write:
        return 0, 0, len(batch), 0
    # what the reports already in a study were, to tell their annotators what changed
    updated_ids = [existing[r.source_id][0] for r in to_write if r.source_id in existing]
    before = {}
    if updated_ids:
        rows = Report.objects.filter(pk__in=updated_ids, study_items__isnull=False).values(*REVIEWED_FIELDS, "id")
        before = {row["id"]: row for row in rows}

    reports = [
        Report(
            source_id=r.source_id,
            kind=r.kind,
            framework=r.framework,
            title=r.title,
            body=r.body,
            url=r.url,
            state=r.state,
            created_at=r.created_at,
            closed_at=r.closed_at,
            raw=r.raw,
            content_hash=r.content_hash,
        )
        for r in to_write
    ]
    ids = reports_upsert(reports=reports)
    changed_ids = [existing[r.source_id][0] for r in to_write if r.source_id in existing]
    report_source_labels_replace(
        labels_by_report={ids[r.source_id]: r.labels for r in to_write}, label_ids=label_ids, clear_ids=changed_ids
    )
    report_code_blocks_refresh(report_ids=list(ids.values()))
    reasons = {}
    for r in to_write:
        old = before.get(existing.get(r.source_id, (None,))[0])
        if old is not None and (why := report_change_reasons(before=old, after=r)):
            reasons[old["id"]] = why
    flagged = study_items_flag_for_review(reasons_by_report=reasons) if reasons else 0
    changed_report_ids.extend(changed_ids)
    return created, len(to_write) - created, len(batch) - len(to_write), flagged


REVIEWED_FIELDS = ["title", "body", "state", "framework", "url"]


def report_code_blocks_refresh(*, report_ids: list[int]) -> int:
    """Extract again the fenced and indented code blocks of these reports' bodies and comments (the
    extractor the GitHub sync uses), replacing the stored ones; returns how many there are now. A
    reproducer keeps its script when its block is replaced (its link to the block is cleared)."""
    if not report_ids:
        return 0
    CodeBlock.objects.filter(report_id__in=report_ids).delete()
    blocks = [
        CodeBlock(report_id=pk, language=b.language, code=b.code, position=b.position, is_python=b.is_python)
        for pk, body in Report.objects.filter(pk__in=report_ids).values_list("pk", "body").iterator(chunk_size=500)
        for b in extract_code_blocks(body)
    ]
    blocks += [
        CodeBlock(
            report_id=report_id,
            comment_id=comment_id,
            language=b.language,
            code=b.code,
            position=b.position,
            is_python=b.is_python,
        )
        for comment_id, report_id, body in Comment.objects.filter(report_id__in=report_ids)
        .values_list("id", "report_id", "body")
        .iterator(chunk_size=500)
        for b in extract_code_blocks(body)
    ]
    CodeBlock.objects.bulk_create(blocks, batch_size=1000)
    return len(blocks)


@transaction.atomic
def code_blocks_extract_all(*, batch_size: int = 500, only_missing: bool = False) -> tuple[int, int]:
    """``manage.py extract_code_blocks``: (reports, code blocks) after extracting every report's blocks
    again (``only_missing``: only reports that have none)."""
    reports = Report.objects.order_by("pk")
    if only_missing:
        reports = reports.filter(code_blocks__isnull=True)
    ids = list(reports.values_list("pk", flat=True).distinct())
    total = 0
    for start in range(0, len(ids), batch_size):
        total += report_code_blocks_refresh(report_ids=ids[start : start + batch_size])
    return len(ids), total


def report_change_reasons(*, before: dict, after) -> list[str]:
    """What changed in a report that its annotators should know, e.g. ``["reopened", "body edited"]``.
    ``before``: the stored values of ``REVIEWED_FIELDS``; ``after``: a row or record with (some of)
    those attributes; a field the source does not carry (a GitHub record has no framework) is skipped."""
    why = []
    if before["state"] != after.state:
        why.append("reopened" if after.state == "open" else str(after.state or "state cleared"))
    for name in ("title", "body", "framework", "url"):
        if name in before and before[name] != getattr(after, name, before[name]):
            why.append(f"{name} edited")
    return why


def reports_upsert(*, reports: list[Report]) -> dict[str, int]:
    """Insert or update unsaved ``Report`` instances by ``source_id`` in one statement (the
    fields of ``REPORT_UPDATE_FIELDS`` are overwritten); returns source_id -> id. The caller
    has validated the rows. Shared by report files and GitHub syncs."""
    Report.objects.bulk_create(
        reports, update_conflicts=True, unique_fields=["source_id"], update_fields=REPORT_UPDATE_FIELDS
    )
    report_counts_changed()
    ids = {report.source_id: report.pk for report in reports}
    if any(pk is None for pk in ids.values()):  # a database that cannot return ids from an upsert
        ids.update(Report.objects.filter(source_id__in=list(ids)).values_list("source_id", "id"))
    return ids


def report_source_labels_replace(
    *, labels_by_report: dict[int, Iterable[str]], label_ids: dict[str, int], clear_ids: Iterable[int] | None = None
) -> None:
    """Make the source labels of these reports (id -> label names) exactly the given names.

    Missing ``SourceLabel`` rows are created; ``label_ids`` (name -> id) is a cache the caller
    keeps across batches. ``clear_ids``: the reports that may already have labels (default: all
    of ``labels_by_report``; a new report has none, so an import passes only the updated ones).
    """
    wanted = {report_id: set(names) for report_id, names in labels_by_report.items()}
    _labels_ensure({name for names in wanted.values() for name in names}, label_ids)
    through = Report.source_labels.through
    clear = list(wanted) if clear_ids is None else list(clear_ids)
    if clear:
        through.objects.filter(report_id__in=clear).delete()
    pairs = [(report_id, label_ids[name]) for report_id, names in wanted.items() for name in sorted(names)]
    _report_labels_insert(through, pairs)


def _report_labels_insert(through, pairs: list[tuple[int, int]]) -> None:
    """Insert (report_id, sourcelabel_id) rows. On PostgreSQL one INSERT ... SELECT unnest()
    of two arrays (no model instances: a 100k import has ~250k of these rows)."""
    if not pairs:
        return
    if connection.vendor != "postgresql":
        through.objects.bulk_create([through(report_id=r, sourcelabel_id=label) for r, label in pairs])
        return
    quote = connection.ops.quote_name
    report_ids, label_ids = zip(*pairs, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(through._meta.db_table)} ({quote('report_id')}, {quote('sourcelabel_id')}) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
            [list(report_ids), list(label_ids)],
        )


def _labels_ensure(names: set[str], label_ids: dict[str, int]) -> None:
    """Fill ``label_ids`` (name -> id) for ``names``, creating the SourceLabels that are missing."""
    missing = names - label_ids.keys()
    if not missing:
        return
    label_ids.update(SourceLabel.objects.filter(name__in=missing).values_list("name", "id"))
    missing -= label_ids.keys()
    if missing:
        SourceLabel.objects.bulk_create([SourceLabel(name=name) for name in missing], ignore_conflicts=True)
        label_ids.update(SourceLabel.objects.filter(name__in=missing).values_list("name", "id"))


def _batched(rows: Iterable[ReportRow], size: int) -> Iterator[list[ReportRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


# -- import jobs (a file imported by a worker) -------------------------------------------------


@transaction.atomic
def import_job_create(*, upload, fmt: str | None, created_by) -> ImportJob:
    """Keep an uploaded report file as a queued ImportJob and queue its import after commit.

    Refuses at once what is obviously wrong (no file, empty, too big, unknown format); line
    problems are found by the worker and recorded on the job. The chosen format is kept as
    the stored file's extension (``imports/<yyyy>/<mm>/<name>.<fmt>``).
    """
    if upload is None:
        raise ApplicationError("Choose a file to import (JSON Lines or CSV).", details={"file": ["No file was sent."]})
    limit = settings.BUGSIFT_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ApplicationError(
            f"The file is {upload.size / 1048576:.1f} MB; the limit is {limit / 1048576:.1f} MB. "
            "Split it into smaller files and import each.",
            details={"file": ["The file is too big."]},
        )
    if upload.size == 0:
        raise ApplicationError(
            "The file is empty: choose a file with reports.", details={"file": ["The file is empty."]}
        )
    try:
        fmt = format_for(upload.name, fmt)
    except ApplicationError as exc:
        raise ApplicationError(exc.message, details={"format": [exc.message]}) from None

    try:
        stem = get_valid_filename(Path(upload.name).stem)[:60]  # the FileField holds 100 characters
    except SuspiciousFileOperation:  # a name such as "..jsonl"
        stem = ""
    job = ImportJob(filename=Path(upload.name).name[:255], created_by=created_by)
    job.file.save(f"{stem or 'reports'}.{fmt}", upload, save=False)
    job.full_clean()
    job.save()
    _import_job_queue(job.pk)
    return job


def _import_job_queue(job_id: int) -> None:
    from triage.reports.tasks import import_job_run as import_job_task

    transaction.on_commit(partial(import_job_task.delay, job_id))


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job (the Celery task calls this). Safe to run twice.

    A finished job (succeeded or failed) is left alone. Not one transaction on purpose: the
    job is marked running first, the import has its own transaction, and progress is written
    on a second connection so the page can show it while the import is still open.
    ``OperationalError`` propagates so the task can retry.
    """
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    job.status = ImportJob.Status.RUNNING
    job.started_at = timezone.now()
    job.processed = 0
    job.errors = []
    job.message = ""
    job.save(update_fields=["status", "started_at", "processed", "errors", "message"])

    progress = _JobProgress(job.pk)
    try:
        with job.file.open("rb") as handle:
            result = reports_import(source=handle, progress=progress)
    except FileNotFoundError:
        return _import_job_finish(job, failed="The uploaded file is missing from storage; upload it again.")
    except ApplicationError as exc:
        return _import_job_finish(job, failed=exc.message, errors=exc.details)
    except OperationalError:
        raise
    except Exception:
        logger.exception("import job %s stopped on an unexpected error", job.pk)
        _import_job_finish(
            job,
            failed="The import stopped on an unexpected error; nothing was written. "
            "Ask an administrator to look at the worker log.",
        )
        raise
    finally:
        progress.close()
    return _import_job_finish(job, result=result)


def _import_job_finish(job: ImportJob, *, result: ImportResult | None = None, failed: str = "", errors=None):
    job.finished_at = timezone.now()
    if result is not None:
        job.status = ImportJob.Status.SUCCEEDED
        job.total = job.processed = result.total
        job.created_count, job.updated_count, job.unchanged_count = result.created, result.updated, result.unchanged
        job.message = result.summary()
        job.errors = []
    else:
        job.status = ImportJob.Status.FAILED
        job.processed = 0
        job.message = failed
        job.errors = list(errors or [])
    job.save(
        update_fields=[
            "status",
            "total",
            "processed",
            "created_count",
            "updated_count",
            "unchanged_count",
            "message",
            "errors",
            "finished_at",
        ]
    )
    return job


def import_job_fail(*, job_id: int, message: str) -> None:
    """Mark a job failed (the task gave up retrying). Finished jobs are left alone."""
    ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )


class _JobProgress:
    """``progress(done, total)`` that writes to the job row on its own database connection.

    The import holds one transaction until the end, so a write on the same connection would
    stay invisible to the page that polls. SQLite allows one writer at a time, so there the
    counts appear only when the job finishes.
    """

    def __init__(self, job_id: int):
        self.job_id = job_id
        self._conn = None if connection.vendor == "sqlite" else connection.copy()

    def __call__(self, done: int, total: int) -> None:
        if self._conn is None:
            return
        table = self._conn.ops.quote_name(ImportJob._meta.db_table)
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET processed = %s, total = %s WHERE id = %s", [done, total, self.job_id]
                )
        except OperationalError:
            logger.warning("could not record the progress of import job %s", self.job_id, exc_info=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@transaction.atomic
def import_jobs_requeue_stale(
    *, queued_for: timedelta = timedelta(minutes=10), running_for: timedelta = timedelta(hours=6)
) -> list[int]:
    """Queue again the jobs the broker lost: still queued after ``queued_for`` (queued while
    the broker was down), or running for longer than ``running_for`` (their worker died).
    Running a job twice is safe. Returns the ids queued."""
    now = timezone.now()
    job_ids = list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=now - queued_for).values_list(
            "id", flat=True
        )
    ) + list(
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING, started_at__lt=now - running_for).values_list(
            "id", flat=True
        )
    )
    for job_id in job_ids:
        _import_job_queue(job_id)
    return job_ids
