"""GET /api/reports/, /api/reports/<id>/, POST /api/reports/import/, GET /api/import-jobs/<id>/."""

import json
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import ReportFactory, UserFactory
from tests.triage.conftest import record
from triage.models import ImportJob, Report, SourceLabel
from triage.reports import tasks

pytestmark = pytest.mark.django_db

LIST = "/api/reports/"
IMPORT = "/api/reports/import/"


def _upload(name="reports.jsonl", records=None, content=None):
    data = (
        content if content is not None else "".join(json.dumps(r) + "\n" for r in (records or [record(1), record(2)]))
    )
    return SimpleUploadedFile(name, data.encode())


@pytest.fixture
def reports(db):
    bug, perf = SourceLabel.objects.create(name="type:bug"), SourceLabel.objects.create(name="type:performance")
    a = ReportFactory(
        framework="tensorflow", title="Gradient is NaN", state="open", created_at=datetime(2021, 3, 1, tzinfo=UTC)
    )
    b = ReportFactory(
        framework="pytorch",
        kind=Report.Kind.CRASH,
        title="Segfault in conv2d",
        created_at=datetime(2022, 6, 1, tzinfo=UTC),
    )
    c = ReportFactory(
        framework="pytorch",
        title="Slow dataloader",
        body="workers hang",
        created_at=datetime(2023, 1, 15, 10, tzinfo=UTC),
    )
    a.source_labels.add(bug)
    b.source_labels.add(bug, perf)
    return {"a": a, "b": b, "c": c}


def test_anonymous_requests_are_refused(api_client, reports):
    for response in (api_client.get(LIST), api_client.get(f"{LIST}{reports['a'].pk}/"), api_client.post(IMPORT, {})):
        assert response.status_code in (401, 403)
        assert set(response.json()) == {"message", "details"}


def test_list_is_paginated_with_labels(api_client, reports, django_assert_max_num_queries):
    api_client.force_authenticate(UserFactory())
    with django_assert_max_num_queries(4):
        body = api_client.get(LIST).json()
    assert len(body["results"]) == 3 and body["next"] is None and body["previous"] is None
    first = body["results"][0]
    assert first["source_id"] == reports["a"].source_id and first["labels"] == ["type:bug"]
    assert "body" not in first


@pytest.mark.parametrize(
    "query, expected",
    [
        ("framework=PyTorch", {"b", "c"}),
        ("label=type:performance", {"b"}),
        ("kind=crash", {"b"}),
        ("state=OPEN", {"a"}),
        ("q=SEGFAULT", {"b"}),
        ("q=hang", {"c"}),
        ("created_from=2022-01-01", {"b", "c"}),
        ("created_to=2023-01-15", {"a", "b", "c"}),  # a date alone includes that whole day
        ("created_to=2023-01-15T09:00:00Z", {"a", "b"}),
        ("framework=pytorch&created_from=2022-07-01", {"c"}),
    ],
)
def test_list_filters(api_client, reports, query, expected):
    api_client.force_authenticate(UserFactory())
    ids = {r["id"] for r in api_client.get(f"{LIST}?{query}").json()["results"]}
    assert ids == {reports[k].pk for k in expected}


def test_bad_filter_is_a_400_with_the_error_shape(api_client, reports):
    api_client.force_authenticate(UserFactory())
    response = api_client.get(f"{LIST}?created_from=last-week&kind=bug")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and {"created_from", "kind"} <= set(body["details"])


def test_list_pages_hold_fifty(api_client):
    ReportFactory.create_batch(51)
    api_client.force_authenticate(UserFactory())
    body = api_client.get(LIST).json()
    assert len(body["results"]) == 50 and body["next"]
    assert len(api_client.get(body["next"]).json()["results"]) == 1


def test_detail_has_body_and_raw(api_client, reports):
    api_client.force_authenticate(UserFactory())
    body = api_client.get(reverse("triage-api:report-detail", args=[reports["b"].pk])).json()
    assert body["title"] == "Segfault in conv2d" and body["labels"] == ["type:bug", "type:performance"]
    assert "body" in body and "raw" in body
    assert api_client.get(reverse("triage-api:report-detail", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    "role, status", [("curator", 202), ("owner", 403), ("ann1", 403), ("viewer", 403), ("outsider", 403)]
)
def test_import_is_for_curators_not_study_owners(
    api_client, small_study, media, queued, django_capture_on_commit_callbacks, role, status
):
    api_client.force_authenticate(small_study[role])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(IMPORT, {"file": _upload()}, format="multipart")
    assert response.status_code == status
    if status == 202:
        job = ImportJob.objects.get()
        body = response.json()
        assert body["id"] == job.pk and body["status"] == "queued"
        assert body["url"].endswith(reverse("triage-api:import-job-detail", args=[job.pk]))
        assert response["Location"] == body["url"]
        assert queued == [job.pk]
    else:
        assert ImportJob.objects.count() == 0 and queued == []


def test_staff_may_import(api_client, media, queued):
    api_client.force_authenticate(UserFactory(is_staff=True))
    assert api_client.post(IMPORT, {"file": _upload(), "format": "jsonl"}, format="multipart").status_code == 202


@pytest.mark.parametrize(
    "data, field",
    [
        pytest.param({}, "file", id="no-file"),
        pytest.param({"file": _upload(), "format": "xml"}, "format", id="unknown-format"),
        pytest.param({"file": _upload("reports.xml")}, "format", id="unknown-extension"),
        pytest.param({"file": _upload(content="")}, "file", id="empty"),
    ],
)
def test_an_obviously_wrong_upload_is_a_400(api_client, small_study, media, queued, data, field):
    api_client.force_authenticate(small_study["curator"])
    response = api_client.post(IMPORT, data, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and field in body["details"]
    assert ImportJob.objects.count() == 0


def test_a_too_big_upload_is_a_413_before_it_is_read(api_client, small_study, media, queued, settings):
    settings.BUGSIFT_MAX_UPLOAD_BYTES = 50
    api_client.force_authenticate(small_study["curator"])
    response = api_client.post(IMPORT, {"file": _upload()}, format="multipart")
    assert response.status_code == 413 and "50 bytes limit for an upload" in response.json()["message"]
    assert ImportJob.objects.count() == 0


def test_import_job_shows_counts_or_problems_to_its_owner_and_staff(api_client, small_study, media, queued):
    api_client.force_authenticate(small_study["curator"])
    good = api_client.post(IMPORT, {"file": _upload()}, format="multipart").json()
    bad = api_client.post(
        IMPORT, {"file": _upload(records=[record(1), record(2, framework="")])}, format="multipart"
    ).json()
    tasks.import_job_run(good["id"])
    tasks.import_job_run(bad["id"])

    done = api_client.get(good["url"]).json()
    assert (done["status"], done["created_count"], done["total"], done["percent"]) == ("succeeded", 2, 2, 100)
    failed = api_client.get(bad["url"]).json()
    assert (
        failed["status"] == "failed"
        and failed["errors"][0]["line"] == 2
        and failed["errors"][0]["field"] == "framework"
    )

    for role in ("ann1", "viewer", "outsider"):
        api_client.force_authenticate(small_study[role])
        assert api_client.get(good["url"]).status_code == 404
    api_client.force_authenticate(UserFactory(is_staff=True))
    assert api_client.get(good["url"]).status_code == 200
