"""Request-size limits (config.limits): over the limit is a 413 that says the limit and the fix,
in the API's JSON error shape under /api/ and as a page elsewhere, and nothing is written."""

import io
import json

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse

from tests.factories import UserFactory
from tests.fakes.crash_traces import crash_report
from triage.models import CrashOccurrence

MB = 1024 * 1024
CRASHES = "/api/crashes/"


@pytest.fixture
def small_limits(settings):
    settings.BUGSIFT_MAX_REQUEST_BYTES = 1 * MB
    settings.BUGSIFT_MAX_UPLOAD_BYTES = 2 * MB
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1 * MB


def _batch(size: int) -> bytes:
    """A valid crash batch of about ``size`` bytes (long reproducers)."""
    count = 4
    reports = [crash_report("torch_conv2d_weight", v, reproducer="x" * (size // count)) for v in range(count)]
    return json.dumps(reports).encode()


def _chunked(body: bytes) -> dict:
    """WSGI environ of a body sent with Transfer-Encoding: chunked (no Content-Length)."""
    return {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}


def test_crash_batch_over_the_upload_limit_is_a_json_413_and_stores_nothing(fuzzer, small_limits):
    response = fuzzer.post(CRASHES, data=_batch(3 * MB), content_type="application/json")
    assert response.status_code == 413
    body = response.json()
    assert set(body) == {"message", "details"} and body["details"] == []
    assert "2 MB limit for a crash batch" in body["message"]
    assert "fewer crash reports" in body["message"] and "BUGSIFT_MAX_UPLOAD_MB" in body["message"]
    assert not CrashOccurrence.objects.exists()


def test_crash_batch_under_the_upload_limit_is_stored(fuzzer, small_limits):
    response = fuzzer.post(CRASHES, data=_batch(int(1.5 * MB)), content_type="application/json")
    assert response.status_code == 201, response.json()
    assert CrashOccurrence.objects.count() == 4


def test_chunked_crash_batch_is_read_up_to_the_limit(fuzzer, small_limits):
    response = fuzzer.generic("POST", CRASHES, content_type="application/json", **_chunked(_batch(int(1.5 * MB))))
    assert response.status_code == 201, response.json()
    assert CrashOccurrence.objects.count() == 4


def test_chunked_crash_batch_over_the_limit_is_a_json_413_and_stores_nothing(fuzzer, small_limits):
    response = fuzzer.generic("POST", CRASHES, content_type="application/json", **_chunked(_batch(3 * MB)))
    assert response.status_code == 413
    assert "2 MB limit for a crash batch" in response.json()["message"]
    assert not CrashOccurrence.objects.exists()


def test_api_request_over_the_request_limit_is_a_json_413(db, api_client, small_limits):
    user = UserFactory()
    api_client.force_authenticate(user)
    response = api_client.post("/api/studies/", data=b"{" + b" " * (MB + 10) + b"}", content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is over the 1 MB limit for a request. Send less data at once, or ask the "
        "administrator to raise BUGSIFT_MAX_REQUEST_MB (and the reverse proxy's client_max_body_size to match).",
        "details": [],
    }


def test_page_over_the_limit_is_the_413_page(client, db, small_limits):
    response = client.post(reverse("login"), data=b"a" * (MB + 1), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Request too large" in page and "1 MB limit for a request" in page and "BUGSIFT_MAX_REQUEST_MB" in page


def test_form_fields_over_data_upload_max_memory_size_are_a_413_not_a_400(client, db, small_limits):
    # multipart: the body may be as large as the upload limit, but its text fields are held in
    # memory, so Django raises RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE
    response = client.post(reverse("login"), {"username": "a" * (MB + 10), "password": "x"})
    assert response.status_code == 413
    assert "form fields (files not counted) are over the 1 MB limit" in response.content.decode()


def test_api_form_fields_over_data_upload_max_memory_size_are_a_json_413(db, api_client, small_limits):
    api_client.force_authenticate(UserFactory())
    response = api_client.post(
        reverse("labelling-api:labels-import", args=["nope"]), {"dry_run": "a" * (MB + 10)}, format="multipart"
    )
    assert response.status_code == 413
    assert "form fields (files not counted)" in response.json()["message"]


def test_uploaded_files_go_to_a_temporary_file_never_memory(settings, rf):
    assert settings.FILE_UPLOAD_HANDLERS == ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
    request = rf.post("/", {"file": io.BytesIO(b"source_id,annotator,dimension,value\n")})
    upload = request.FILES["file"]
    assert isinstance(upload, TemporaryUploadedFile)
    assert isinstance(request.upload_handlers[0], TemporaryFileUploadHandler)
