"""reports_import (triage/reports/services.py) and the file pipeline (triage/reports/files.py)."""

import io
import json
from datetime import UTC, datetime

import pytest

from config.errors import ApplicationError
from tests.factories import ReportFactory
from tests.triage.conftest import record
from triage.models import Report, SourceLabel
from triage.reports import services
from triage.reports.services import reports_import

pytestmark = pytest.mark.django_db


def _problems(exc_info) -> set[tuple]:
    return {(d["line"], d["field"]) for d in exc_info.value.details}


def test_jsonl_import_stores_normalised_fields(write_file):
    path = write_file(
        "reports.jsonl",
        [
            record(1, framework="  PyTorch ", labels=["bug", "module: nn", "bug"], extra={"comments": 3}),
            record(2, kind="crash", created_at="2023-05-01", closed_at="2023-05-02T12:00:00+02:00", url=""),
            record(3, created_at="2023-05-01T10:00:00", closed_at=None, labels=[], state=None, body=None),
        ],
    )
    result = reports_import(source=path)

    assert (result.total, result.created, result.updated, result.unchanged) == (3, 3, 0, 0)
    r1, r2, r3 = Report.objects.order_by("source_id")
    assert r1.framework == "pytorch" and r1.kind == "issue"
    assert sorted(r1.source_labels.values_list("name", flat=True)) == ["bug", "module: nn"]
    assert r1.raw == {"extra": {"comments": 3}}  # named fields have columns; only the rest is raw
    assert r1.content_hash and len(r1.content_hash) == 64
    assert r2.kind == "crash" and r2.url == ""
    assert r2.created_at == datetime(2023, 5, 1, tzinfo=UTC)
    assert r2.closed_at == datetime(2023, 5, 2, 10, 0, tzinfo=UTC)
    assert r3.created_at == datetime(2023, 5, 1, 10, 0, tzinfo=UTC)  # naive: taken as UTC
    assert r3.closed_at is None and r3.state == "" and r3.body == ""
    assert r3.source_labels.count() == 0


def test_csv_import_splits_labels_on_semicolons_and_keeps_multiline_bodies(write_file):
    path = write_file(
        "reports.csv",
        "source_id,framework,title,body,labels,created_at,severity\n"
        'tf#1,TensorFlow,"Title, with comma","line one\nline two",type:bug; comp:ops ;,2022-01-01,high\n'
        "tf#2,tensorflow,Second,,,,\n",
    )
    result = reports_import(source=path)

    assert result.created == 2
    first = Report.objects.get(source_id="tf#1")
    assert first.title == "Title, with comma" and first.body == "line one\nline two"
    assert sorted(first.source_labels.values_list("name", flat=True)) == ["comp:ops", "type:bug"]
    assert first.raw["severity"] == "high" and first.framework == "tensorflow"
    assert Report.objects.get(source_id="tf#2").source_labels.count() == 0


def test_explicit_format_overrides_the_extension(write_file):
    path = write_file("export.txt", "source_id,framework,title\nx#1,jax,A title\n")
    assert reports_import(source=path, fmt="csv").created == 1


def test_file_object_source_is_read(write_file):
    data = (json.dumps(record(1)) + "\n").encode()
    handle = io.BytesIO(data)
    handle.name = "upload.jsonl"
    assert reports_import(source=handle).created == 1


def test_reimport_of_the_same_file_changes_nothing(write_file):
    path = write_file("reports.jsonl", [record(1), record(2)])
    reports_import(source=path)
    stamps = dict(Report.objects.values_list("source_id", "updated_at"))

    result = reports_import(source=path)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    assert Report.objects.count() == 2
    assert dict(Report.objects.values_list("source_id", "updated_at")) == stamps  # not rewritten


def test_reimport_counts_a_changed_title_as_updated_and_replaces_labels(write_file):
    reports_import(source=write_file("a.jsonl", [record(1, labels=["bug", "old"]), record(2)]))
    old_id = Report.objects.get(source_id=record(1)["source_id"]).pk

    result = reports_import(source=write_file("b.jsonl", [record(1, title="New title", labels=["new"]), record(2)]))

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    report = Report.objects.get(source_id=record(1)["source_id"])
    assert report.pk == old_id and report.title == "New title"
    assert list(report.source_labels.values_list("name", flat=True)) == ["new"]
    assert Report.objects.count() == 2 and SourceLabel.objects.filter(name="new").count() == 1


def test_report_made_elsewhere_is_updated_not_duplicated(write_file):
    existing = ReportFactory(source_id="github:pytorch/pytorch#1", title="Old")
    result = reports_import(source=write_file("a.jsonl", [record(1)]))
    assert (result.created, result.updated) == (0, 1)
    existing.refresh_from_db()
    assert existing.title == "Report 1" and Report.objects.count() == 1


def test_progress_is_reported_per_batch(write_file, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    calls = []
    reports_import(
        source=write_file("a.jsonl", [record(i) for i in range(5)]), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert Report.objects.count() == 5


BAD_LINES = [
    pytest.param({"framework": "jax", "title": "t"}, "source_id", id="missing-source-id"),
    pytest.param(record(9, source_id="x" * 256), "source_id", id="long-source-id"),
    pytest.param(record(9, source_id=12), "source_id", id="numeric-source-id"),
    pytest.param(record(9, framework=""), "framework", id="missing-framework"),
    pytest.param(record(9, title="  "), "title", id="blank-title"),
    pytest.param(record(9, kind="bug"), "kind", id="bad-kind"),
    pytest.param(record(9, url="javascript:alert(1)"), "url", id="javascript-url"),
    pytest.param(record(9, url="ftp://example.org/x"), "url", id="ftp-url"),
    pytest.param(record(9, url="https://exa mple.org"), "url", id="url-with-space"),
    pytest.param(record(9, created_at="yesterday"), "created_at", id="bad-date"),
    pytest.param(record(9, created_at=1700000000), "created_at", id="numeric-date"),
    pytest.param(record(9, created_at="2023-05-02", closed_at="2023-05-01"), "closed_at", id="closed-before-created"),
    pytest.param(record(9, labels="bug;crash"), "labels", id="labels-not-a-list"),
    pytest.param(record(9, labels=["bug", 3]), "labels", id="label-not-a-string"),
    pytest.param(record(9, body="a\u0000b"), "body", id="nul-character"),
    pytest.param(record(9, title="\ud800"), "title", id="lone-surrogate"),
]


@pytest.mark.parametrize("bad, field", BAD_LINES)
def test_a_bad_line_is_reported_and_nothing_is_written(write_file, bad, field):
    existing = ReportFactory(source_id=record(1)["source_id"], title="Before")
    path = write_file("a.jsonl", [record(1, title="After"), record(2), bad])
    count = Report.objects.count()

    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=path)

    assert (3, field) in _problems(exc_info)
    assert "nothing was imported" in exc_info.value.message
    assert Report.objects.count() == count
    existing.refresh_from_db()
    assert existing.title == "Before"


def test_malformed_json_duplicates_and_non_objects_are_line_problems(write_file):
    text = "\n".join(
        [json.dumps(record(1)), "{not json", json.dumps(record(1, title="again")), "[1, 2]", "", json.dumps(record(2))]
    )
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=write_file("a.jsonl", text))
    assert _problems(exc_info) == {(2, ""), (3, "source_id"), (4, "")}
    duplicate = next(d for d in exc_info.value.details if d["line"] == 3)
    assert "line 1" in duplicate["message"]
    assert Report.objects.count() == 0


def test_every_problem_of_every_line_is_reported(write_file):
    path = write_file(
        "a.jsonl",
        [record(1, framework="", url="javascript:x"), record(2), record(3, created_at="nope", kind="bogus")],
    )
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=path)
    assert _problems(exc_info) == {(1, "framework"), (1, "url"), (3, "created_at"), (3, "kind")}
    assert "4 problems" in exc_info.value.message


def test_the_problem_list_is_capped_with_a_count_of_the_rest(write_file):
    path = write_file("a.jsonl", [record(i, framework="") for i in range(250)])
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=path)
    assert len(exc_info.value.details) == 200
    assert "250 problems" in exc_info.value.message and "50 more" in exc_info.value.message


def test_csv_line_numbers_count_physical_lines(write_file):
    path = write_file(
        "a.csv",
        "source_id,framework,title,body,url\n"
        'a#1,jax,One,"two\nline body",https://ok.example\n'
        "a#2,jax,Two,,javascript:alert(1)\n"
        "a#3,jax,Three,,,extra-value\n",
    )
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=path)
    assert _problems(exc_info) == {(4, "url"), (5, "")}


@pytest.mark.parametrize(
    "name, content, words",
    [
        pytest.param("a.jsonl", "", "empty", id="empty"),
        pytest.param("a.jsonl", "\n\n  \n", "no reports", id="blank-lines"),
        pytest.param("a.csv", "source_id,framework,title\n", "no reports", id="csv-header-only"),
        pytest.param("a.jsonl", "caf\xe9".encode("latin-1"), "not UTF-8", id="latin-1"),
        pytest.param("a.csv", "a#1,jax,A title\n", "no header row", id="csv-without-header"),
        pytest.param("a.csv", "source_id,title\na#1,A\n", "framework", id="csv-header-lacks-column"),
        pytest.param("a.xml", "<reports/>", "format", id="unknown-extension"),
    ],
)
def test_file_level_problems_are_clear_errors(write_file, name, content, words):
    ReportFactory()
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=write_file(name, content))
    assert words in exc_info.value.message
    assert Report.objects.count() == 1


def test_an_oversized_file_is_refused(write_file, settings):
    settings.BUGSIFT_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ApplicationError, match="limit"):
        reports_import(source=write_file("a.jsonl", [record(1), record(2)]))
    assert Report.objects.count() == 0


def test_a_utf8_bom_is_accepted(write_file):
    path = write_file("a.csv", "\ufeffsource_id,framework,title\na#1,jax,Ünïcode title\n")
    reports_import(source=path)
    assert Report.objects.get().title == "Ünïcode title"


def test_imported_reports_get_their_code_blocks_with_the_syncs_extractor(write_file):
    from triage.codeblocks import extract_code_blocks
    from triage.models import CodeBlock

    body = (
        "Repro:\n\n```python\nimport torch\ntorch.zeros(2)[5]\n```\n\nOutput:\n\n~~~\nIndexError: index 5\n~~~\n\n"
        "Also, indented:\n\n    import numpy as np\n    np.ones(3).reshape(2, 2)\n"
    )
    path = write_file("reports.jsonl", [record(1, body=body), record(2, body="No code here.")])
    reports_import(source=path)
    first = Report.objects.get(source_id=record(1)["source_id"])
    stored = [(b.language, b.code, b.position, b.is_python) for b in CodeBlock.objects.filter(report=first)]
    expected = [(b.language, b.code, b.position, b.is_python) for b in extract_code_blocks(body)]
    assert sorted(stored) == sorted(expected) and len(stored) == 3
    assert {b.is_python for b in CodeBlock.objects.filter(report=first, language="python")} == {True}
    assert not CodeBlock.objects.filter(report__source_id=record(2)["source_id"]).exists()

    # An edited body is extracted again; an unchanged one is not rewritten.
    path = write_file("again.jsonl", [record(1, body="```python\nprint('only this')\n```")])
    reports_import(source=path)
    assert list(CodeBlock.objects.filter(report=first).values_list("code", flat=True)) == ["print('only this')"]


def test_extract_code_blocks_command_fills_reports_stored_before(write_file):
    from io import StringIO

    from django.core.management import call_command

    from triage.models import CodeBlock

    old = ReportFactory(body="```python\nimport jax\njax.numpy.ones(3)\n```\n")
    CodeBlock.objects.filter(report=old).delete()  # as a report imported before extraction at import
    out = StringIO()
    call_command("extract_code_blocks", "--only-missing", stdout=out)
    assert "code block(s) stored" in out.getvalue()
    (block,) = CodeBlock.objects.filter(report=old)
    assert block.is_python and block.code == "import jax\njax.numpy.ones(3)"
    call_command("extract_code_blocks", stdout=StringIO())  # again: the same blocks, not twice
    assert CodeBlock.objects.filter(report=old).count() == 1
