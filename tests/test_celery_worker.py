"""A real `celery -A config worker` process imports a file uploaded through the web page.

Works with CELERY_BROKER_URL=redis://... and with the default filesystem broker (the worker
gets the same environment and working directory, so the same var dir, broker folder and
media folder), on PostgreSQL (DATABASE_URL) or SQLite (the test database file).
"""

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.celery_workers import start_worker
from tests.triage.conftest import record
from triage.models import ImportJob, Report

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 60


@pytest.fixture
def worker(tmp_path):
    from config.celery import app

    app.control.purge()  # messages left by earlier runs would point at rows that no longer exist
    started = start_worker(tmp_path, name="import", queues="celery")
    try:
        yield started.process, started.log_path
    finally:
        started.stop()


def test_worker_imports_a_file_uploaded_on_the_web(client, small_study, worker):
    process, log_path = worker
    client.force_login(small_study["curator"])
    data = "".join(json.dumps(record(n)) + "\n" for n in (1, 2, 3)).encode()

    response = client.post("/reports/import/", {"file": SimpleUploadedFile("reports.jsonl", data)})
    assert response.status_code == 302
    job = ImportJob.objects.get()

    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.25)
        log = log_path.read_text(errors="replace")[-3000:]
        assert job.status == ImportJob.Status.SUCCEEDED, f"job is {job.status} ({job.message}); worker log:\n{log}"
        assert job.created_count == 3 and job.processed == job.total == 3
        assert set(Report.objects.values_list("source_id", flat=True)) == {record(n)["source_id"] for n in (1, 2, 3)}
    finally:
        job.file.delete(save=False)
