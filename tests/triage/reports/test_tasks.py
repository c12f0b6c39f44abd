"""triage/reports/tasks.py: import_job_run retries only on database OperationalError."""

import pytest
from django.db import OperationalError

from triage.models import ImportJob, Report
from triage.reports import services, tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def job():
    return ImportJob.objects.create(filename="a.jsonl", file="imports/a.jsonl")


def test_a_database_outage_is_retried_with_backoff(job, monkeypatch):
    calls = []

    def flaky(*, job_id):
        calls.append(job_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return ImportJob(status=ImportJob.Status.SUCCEEDED)

    monkeypatch.setattr(services, "import_job_run", flaky)
    result = tasks.import_job_run.apply(args=[job.pk], throw=False)
    assert result.get() == "succeeded"
    assert calls == [job.pk, job.pk]


def test_after_the_last_retry_the_job_is_marked_failed(job, monkeypatch):
    def down(*, job_id):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "import_job_run", down)
    with pytest.raises(OperationalError):
        tasks.import_job_run.apply(args=[job.pk], retries=tasks.MAX_RETRIES).get()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "database" in job.message


def test_other_errors_are_not_retried(job, monkeypatch):
    calls = []

    def broken(*, job_id):
        calls.append(job_id)
        raise ValueError("a bug")

    monkeypatch.setattr(services, "import_job_run", broken)
    with pytest.raises(ValueError):
        tasks.import_job_run.apply(args=[job.pk]).get()
    assert calls == [job.pk]


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_other_connections_while_the_import_transaction_is_open():
    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: progress appears when the job finishes")
    job = ImportJob.objects.create(filename="a.jsonl", file="imports/a.jsonl")
    progress = services._JobProgress(job.pk)
    reader = connection.copy()
    try:
        with transaction.atomic():
            Report.objects.create(source_id="x#1", framework="jax", title="written inside the transaction")
            progress(2000, 5000)
            with reader.cursor() as cursor:
                cursor.execute("SELECT processed, total FROM triage_importjob WHERE id = %s", [job.pk])
                assert cursor.fetchone() == (2000, 5000)
    finally:
        progress.close()
        reader.close()
