"""`manage.py import_reports` and `manage.py requeue_import_jobs`."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import ReportFactory
from tests.triage.conftest import record
from triage.models import ImportJob, Report

pytestmark = pytest.mark.django_db


def test_import_prints_the_counts_and_shows_a_progress_bar_on_stderr(write_file, capsys):
    path = write_file("reports.jsonl", [record(1), record(2)])

    call_command("import_reports", str(path))
    first = capsys.readouterr()
    call_command("import_reports", str(path))
    second = capsys.readouterr()

    assert "created 2, updated 0, unchanged 0" in first.out
    assert "2/2" in first.err  # tqdm's bar
    assert "created 0, updated 0, unchanged 2" in second.out
    assert Report.objects.count() == 2


def test_format_option_reads_a_csv_with_another_extension(write_file, capsys):
    path = write_file("reports.txt", "source_id,framework,title,labels\nk#1,keras,A,bug;silent\n")
    call_command("import_reports", str(path), "--format", "csv")
    assert "created 1" in capsys.readouterr().out
    assert Report.objects.get().source_labels.count() == 2


def test_a_bad_file_prints_every_problem_and_fails_without_writing(write_file, capsys):
    existing = ReportFactory(source_id=record(1)["source_id"], title="Before")
    path = write_file(
        "reports.jsonl", [record(1, title="After"), record(2, url="javascript:alert(1)"), record(3, framework="")]
    )

    with pytest.raises(CommandError, match="2 problems"):
        call_command("import_reports", str(path))

    err = capsys.readouterr().err
    assert "line 2: field 'url': " in err and "line 3: field 'framework': " in err
    existing.refresh_from_db()
    assert existing.title == "Before" and Report.objects.count() == 1


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="no file"):
        call_command("import_reports", str(tmp_path / "nope.jsonl"))


def test_requeue_queues_jobs_left_queued_too_long(queued, django_capture_on_commit_callbacks, capsys):
    old = ImportJob.objects.create(filename="old.jsonl", file="imports/old.jsonl")
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=30))
    fresh = ImportJob.objects.create(filename="fresh.jsonl", file="imports/fresh.jsonl")
    done = ImportJob.objects.create(filename="done.jsonl", file="imports/done.jsonl", status=ImportJob.Status.SUCCEEDED)
    ImportJob.objects.filter(pk=done.pk).update(created_at=timezone.now() - timedelta(minutes=30))
    stuck = ImportJob.objects.create(
        filename="stuck.jsonl",
        file="imports/stuck.jsonl",
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now() - timedelta(hours=7),
    )

    with django_capture_on_commit_callbacks(execute=True):
        call_command("requeue_import_jobs", "--minutes", "10")

    assert sorted(queued) == sorted([old.pk, stuck.pk])
    assert fresh.pk not in queued and done.pk not in queued
    assert "2 job(s)" in capsys.readouterr().out
