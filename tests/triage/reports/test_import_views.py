"""/reports/import/ (upload), the job page and its htmx progress partial, and the import task."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import ReportFactory, UserFactory
from tests.triage.conftest import record
from triage.models import ImportJob, Report
from triage.reports import tasks

pytestmark = pytest.mark.django_db

IMPORT_URL = "/reports/import/"


def _upload(name="reports.jsonl", records=None, content=None):
    data = (
        content if content is not None else "".join(json.dumps(r) + "\n" for r in (records or [record(1), record(2)]))
    )
    return SimpleUploadedFile(name, data.encode() if isinstance(data, str) else data)


def _login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "role, status", [("curator", 200), ("owner", 403), ("ann1", 403), ("viewer", 403), ("outsider", 403)]
)
def test_the_import_page_is_for_curators_not_study_owners(client, small_study, role, status):
    response = _login(client, small_study[role]).get(IMPORT_URL)
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert "github:pytorch/pytorch#1234" in page and "source_id" in page  # field help and example line
        assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page


def test_staff_may_import_and_anonymous_users_are_sent_to_log_in(client, db):
    assert client.get(IMPORT_URL).status_code == 302
    assert client.post(IMPORT_URL, {"file": _upload()}).status_code == 302
    assert ImportJob.objects.count() == 0
    staff = UserFactory(is_staff=True)
    assert _login(client, staff).get(IMPORT_URL).status_code == 200


@pytest.mark.parametrize("role", ["ann1", "viewer", "outsider"])
def test_others_cannot_post_a_file(client, small_study, media, queued, role):
    response = _login(client, small_study[role]).post(IMPORT_URL, {"file": _upload()})
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0 and queued == []


def test_upload_saves_a_job_and_queues_it_after_commit(
    client, small_study, media, queued, django_capture_on_commit_callbacks
):
    _login(client, small_study["curator"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT_URL, {"file": _upload("my reports.jsonl"), "format": ""})

    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("triage:import-job", args=[job.pk])
    assert queued == [job.pk]
    assert job.status == ImportJob.Status.QUEUED and job.created_by == small_study["curator"]
    assert job.filename == "my reports.jsonl" and job.file.name.endswith(".jsonl")
    assert (media / job.file.name).exists()
    assert Report.objects.count() == 0  # the worker imports, not the request


def test_chosen_format_is_kept_with_the_stored_file(client, small_study, media, queued):
    _login(client, small_study["curator"])
    client.post(
        IMPORT_URL, {"file": _upload("export.txt", content="source_id,framework,title\na#1,jax,T\n"), "format": "csv"}
    )
    job = ImportJob.objects.get()
    assert job.file.name.endswith(".csv")
    tasks.import_job_run(job.pk)
    assert Report.objects.filter(source_id="a#1").exists()


@pytest.mark.parametrize(
    "data, words",
    [
        pytest.param({}, "Choose a file", id="no-file"),
        pytest.param({"file": _upload("reports.xml")}, "does not say its format", id="unknown-extension"),
        pytest.param({"file": _upload(content="")}, "empty", id="empty-file"),
        pytest.param({"file": _upload(), "format": "xml"}, "Select a valid choice", id="unknown-format"),
    ],
)
def test_an_obviously_wrong_upload_shows_the_form_again(client, small_study, media, queued, data, words):
    response = _login(client, small_study["curator"]).post(IMPORT_URL, data)
    assert response.status_code == 400
    assert words in response.content.decode()
    assert ImportJob.objects.count() == 0 and queued == []


def test_a_too_big_upload_is_refused(client, small_study, media, queued, settings):
    settings.BUGSIFT_MAX_UPLOAD_BYTES = 50
    response = _login(client, small_study["curator"]).post(IMPORT_URL, {"file": _upload()})
    assert response.status_code == 413 and "50 bytes limit for an upload" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.fixture
def job(client, small_study, media, queued):
    _login(client, small_study["curator"]).post(IMPORT_URL, {"file": _upload()})
    client.logout()
    return ImportJob.objects.get()


def _progress(client, job):
    return client.get(reverse("triage:import-job-progress", args=[job.pk]))


def test_job_pages_are_for_their_owner_and_staff(client, small_study, job):
    page, partial = reverse("triage:import-job", args=[job.pk]), reverse("triage:import-job-progress", args=[job.pk])
    assert client.get(page).status_code == 302
    for role in ("ann1", "viewer", "outsider"):
        _login(client, small_study[role])
        assert client.get(page).status_code == 404 and client.get(partial).status_code == 404
    _login(client, UserFactory(username="staffer", is_staff=True))
    assert client.get(page).status_code == 200
    _login(client, small_study["curator"])
    assert client.get(page).status_code == 200 and client.get(partial).status_code == 200


def test_the_progress_partial_polls_until_the_job_is_finished(client, small_study, job):
    _login(client, small_study["curator"])
    page = client.get(reverse("triage:import-job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and reverse("triage:import-job-progress", args=[job.pk]) in page

    queued_partial = _progress(client, job).content.decode()
    assert 'hx-trigger="every 1s"' in queued_partial and "Waiting for a worker" in queued_partial

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, total=10, processed=4)
    running = _progress(client, job).content.decode()
    assert 'value="40"' in running and "4 of 10" in running and "every 1s" in running

    assert tasks.import_job_run(job.pk) == "succeeded"
    done = _progress(client, job).content.decode()
    assert "hx-get" not in done  # polling stops
    assert "<strong>2</strong> created" in done and 'value="100"' in done


def test_a_failed_job_lists_the_line_problems_and_writes_nothing(client, small_study, media, queued):
    existing = ReportFactory(source_id=record(1)["source_id"], title="Before")
    _login(client, small_study["curator"]).post(
        IMPORT_URL, {"file": _upload(records=[record(1, title="After"), record(2, url="javascript:alert(1)")])}
    )
    job = ImportJob.objects.get()

    assert tasks.import_job_run(job.pk) == "failed"

    job.refresh_from_db()
    assert job.errors == [{"line": 2, "field": "url", "message": job.errors[0]["message"]}]
    partial = _progress(client, job).content.decode()
    assert (
        "hx-get" not in partial and "<td>2</td>" in partial and "url" in partial and "nothing was imported" in partial
    )
    existing.refresh_from_db()
    assert existing.title == "Before" and Report.objects.count() == 1


def test_the_job_is_safe_to_run_twice(job):
    assert tasks.import_job_run(job.pk) == "succeeded"
    job.refresh_from_db()
    finished = job.finished_at

    assert tasks.import_job_run(job.pk) == "succeeded"

    job.refresh_from_db()
    assert job.finished_at == finished and job.created_count == 2 and Report.objects.count() == 2


def test_a_missing_job_or_file_does_not_crash_the_worker(job):
    assert tasks.import_job_run(job.pk + 1000) == "missing"
    job.file.storage.delete(job.file.name)
    assert tasks.import_job_run(job.pk) == "failed"
    job.refresh_from_db()
    assert "missing" in job.message


def test_the_import_page_lists_my_recent_jobs(client, small_study, job):
    page = _login(client, small_study["curator"]).get(IMPORT_URL).content.decode()
    assert reverse("triage:import-job", args=[job.pk]) in page and "Queued" in page


def test_a_long_or_odd_file_name_is_stored_safely(client, small_study, media, queued):
    name = "../" + "ü" * 150 + " reports; rm -rf.jsonl"
    client.force_login(small_study["curator"])
    assert client.post(IMPORT_URL, {"file": _upload("..jsonl")}).status_code == 302
    response = _login(client, small_study["curator"]).post(IMPORT_URL, {"file": _upload(name)})
    assert response.status_code == 302
    assert ImportJob.objects.order_by("id").first().file.name.endswith("/reports.jsonl")
    job = ImportJob.objects.order_by("id").last()
    assert job.file.name.startswith("imports/") and ".." not in job.file.name and job.file.name.endswith(".jsonl")
    assert len(job.file.name) <= 100
