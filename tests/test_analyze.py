"""config/analyze.py: ANALYZE of the touched tables after large bulk writes (report import, label
import, crash intake), once they commit; on PostgreSQL only."""

import io
import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config import analyze
from config.analyze import analyze_after_bulk_write
from labelling.models import Annotation
from labelling.services.label_import import labels_import
from tests.factories import ReportFactory
from tests.fakes.crash_traces import crash_report
from tests.triage.conftest import record
from triage.crashes.services import crashes_import, crashes_ingest
from triage.models import CrashOccurrence, Report
from triage.reports.services import reports_import

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="ANALYZE runs on PostgreSQL only")


def _analyzes(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("ANALYZE")]


def _run(django_capture_on_commit_callbacks, write):
    """Run ``write``, then its on-commit callbacks; the ANALYZE statements issued, and whether
    any was issued before the commit."""
    with CaptureQueriesContext(connection) as ctx:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            write()
        before_commit = _analyzes(ctx)
        for callback in callbacks:
            callback()
    return _analyzes(ctx), before_commit


def _reports_file(n, start=0):
    return io.BytesIO("".join(json.dumps(record(start + i)) + "\n" for i in range(n)).encode())


@postgres_only
def test_a_large_report_import_analyzes_its_tables_after_the_commit(django_capture_on_commit_callbacks):
    issued, before_commit = _run(
        django_capture_on_commit_callbacks, lambda: reports_import(source=_reports_file(1000), fmt="jsonl")
    )
    assert Report.objects.count() == 1000
    assert before_commit == []  # never inside the import's transaction
    (sql,) = issued
    assert '"triage_report"' in sql and '"triage_codeblock"' in sql and "source_labels" in sql


def test_a_small_report_import_does_not(django_capture_on_commit_callbacks):
    issued, _ = _run(django_capture_on_commit_callbacks, lambda: reports_import(source=_reports_file(3), fmt="jsonl"))
    assert Report.objects.count() == 3 and issued == []


@postgres_only
def test_a_large_crash_import_analyzes_once_for_all_its_batches(django_capture_on_commit_callbacks, tmp_path):
    path = tmp_path / "crashes.jsonl"
    path.write_text("".join(json.dumps(crash_report("torch_conv2d_weight", v)) + "\n" for v in range(1000)))
    issued, _ = _run(django_capture_on_commit_callbacks, lambda: crashes_import(path=path))
    assert CrashOccurrence.objects.count() == 1000
    (sql,) = issued  # two batches of 500, one ANALYZE
    assert '"triage_crashoccurrence"' in sql and '"triage_crashgroup"' in sql


@postgres_only
def test_a_crash_batch_analyzes_when_large_and_not_when_small(django_capture_on_commit_callbacks, monkeypatch):
    small = [crash_report("torch_conv2d_weight", v) for v in range(5)]
    issued, _ = _run(django_capture_on_commit_callbacks, lambda: crashes_ingest(reports=small, account=None))
    assert issued == []
    monkeypatch.setattr(analyze, "ANALYZE_MIN_ROWS", 5)  # the API's batches hold at most 1,000
    more = [crash_report("torch_conv2d_weight", v) for v in range(5, 10)]
    issued, _ = _run(django_capture_on_commit_callbacks, lambda: crashes_ingest(reports=more, account=None))
    assert len(issued) == 1 and '"triage_crashoccurrence"' in issued[0]


@postgres_only
@pytest.mark.parametrize("reports, analyzed", [(300, True), (3, False)])
def test_a_label_import_analyzes_when_large(small_study, django_capture_on_commit_callbacks, reports, analyzed):
    s = small_study
    lines = ["source_id,annotator,dimension,value,note"]
    for i in range(reports):
        report = ReportFactory(source_id=f"lab-{i}")
        lines.append(f"{report.source_id},alice,symptom,crash,")
        lines.append(f"{report.source_id},bob,symptom,hang,")
    source = io.BytesIO(("\n".join(lines) + "\n").encode())
    issued, before_commit = _run(
        django_capture_on_commit_callbacks, lambda: labels_import(study=s["study"], source=source)
    )
    assert Annotation.objects.count() == 2 * reports
    assert before_commit == []
    assert bool(issued) is analyzed
    if analyzed:
        assert '"labelling_annotation"' in issued[0] and '"labelling_assignment"' in issued[0]


def test_nothing_is_scheduled_below_the_threshold_or_on_sqlite(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert analyze_after_bulk_write(models_written=[Report], rows=999) is False
        scheduled = analyze_after_bulk_write(models_written=[Report], rows=1000)
    assert scheduled is (connection.vendor == "postgresql")
    assert len(callbacks) == int(scheduled)


@postgres_only
def test_a_rolled_back_write_analyzes_nothing(django_capture_on_commit_callbacks):
    with CaptureQueriesContext(connection) as ctx:
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic():
                    analyze_after_bulk_write(models_written=[Report], rows=5000)
                    raise RuntimeError("the import failed")
            except RuntimeError:
                pass
    assert _analyzes(ctx) == []
