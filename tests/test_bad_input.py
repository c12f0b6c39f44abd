"""Bad input that used to reach the database or the decoder and answer 500 (issue 10, point 11):
NUL characters, Unicode digits in ids, JSON nested 100,000 levels, a dropped database connection.
Each is a 400 (or the empty result an unknown value deserves) with a message, and nothing is stored.
PostgreSQL is the database that refuses NUL; on SQLite these tests still check the answers."""

import io
import json

import pytest
from django.db import connection
from django.urls import reverse

from labelling.dataset.label_import import CodebookLookup, read_label_rows, validate_label_rows
from labelling.models import Annotation
from tests.factories import ReportFactory
from tests.fakes.crash_traces import crash_report
from triage.models import CrashOccurrence, Report
from triage.reports.files import ReportFile

DEEP = 100_000


def deep_json(depth=DEEP) -> str:
    return "[" * depth + "]" * depth


# ---- NUL characters ---------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["fuzzer", "framework", "oracle", "version", "f\x00uzzer"])
def test_nul_in_a_crash_group_filter_is_a_400(client, small_study, param):
    client.force_login(small_study["owner"])
    response = client.get(reverse("triage:crash-list"), {param: "torch\x00"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_nul_in_an_api_query_parameter_is_a_json_400(api_client, small_study):
    api_client.force_authenticate(small_study["owner"])
    response = api_client.get(reverse("labelling-api:disagreement-list", args=["small"]), {"dimension": "a\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["message"] and "'dimension'" in response.json()["message"]


def test_nul_in_a_crash_extra_key_or_value_is_refused_with_where(fuzzer):
    report = crash_report("torch_conv2d_weight", 0)
    report["extra"] = {"seed\x00": 7, "ok": ["fine", "bad\x00"]}
    response = fuzzer.post("/api/crashes/", data=json.dumps([report]), content_type="application/json")
    assert response.status_code == 400, response.content
    details = response.json()["details"]
    assert details[0]["field"] == "extra" and "NUL" in details[0]["message"]
    assert "extra (a key)" in details[0]["message"] and "extra.ok[1]" in details[0]["message"]
    assert not CrashOccurrence.objects.exists()


def test_nul_in_a_label_file_note_is_refused_with_its_line(small_study):
    ReportFactory(source_id="gh#1")
    text = "source_id,annotator,dimension,value,note\ngh#1,alice,symptom,crash,ok\ngh#1,bob,symptom,crash,bad\x00note\n"
    rows, errors = read_label_rows(io.BytesIO(text.encode()))
    assert errors == []
    dims = [(d, d.categories.all()) for d in (small_study["symptom"], small_study["component"])]
    _, problems = validate_label_rows(rows, codebook=CodebookLookup(dims), known_source_ids={"gh#1"})
    assert [(p.line, p.field) for p in problems] == [(3, "note")]
    assert "NUL" in problems[0].message


def test_nul_in_a_label_file_through_the_api_is_a_400_and_stores_nothing(api_client, small_study):
    ReportFactory(source_id="gh#1")
    api_client.force_authenticate(small_study["owner"])
    upload = io.BytesIO(b"source_id,annotator,dimension,value,note\ngh#1,alice,symptom,crash,a\x00b\n")
    upload.name = "labels.csv"
    response = api_client.post(reverse("labelling-api:labels-import", args=["small"]), {"file": upload})
    assert response.status_code == 400
    assert "NUL" in json.dumps(response.json())
    assert not Annotation.objects.exists()


def test_nul_in_a_labelling_form_note_is_a_400_and_saves_nothing(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    url = reverse("labelling:label-item", args=[s["study"].slug, s["items"][0].id])
    data = {"value-symptom": "crash", "value-component": ["layers"], "note-symptom": "a\x00b", "time_spent_ms": "5"}
    response = client.post(url, data)
    assert response.status_code == 400 and "NUL" in response.content.decode()
    assert not Annotation.objects.exists()


def test_nul_in_an_api_json_body_is_a_400_naming_the_path(api_client, labelling_study):
    s = labelling_study
    api_client.force_authenticate(s["ann1"])
    url = reverse("labelling-api:item-annotations", args=[s["study"].slug, s["items"][0].id])
    body = {"values": {"symptom": "crash"}, "notes": {"symptom": "a\x00b"}}
    response = api_client.put(url, body, format="json")
    assert response.status_code == 400
    assert "$.notes.symptom" in response.json()["message"]
    assert not Annotation.objects.exists()


# ---- digits that int() refuses ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "①", "٣", "99999999999999999999999"])
def test_unicode_digits_in_annotator_and_item_filters(api_client, small_study, value):
    api_client.force_authenticate(small_study["owner"])
    url = reverse("labelling-api:annotation-list", args=["small"])
    by_annotator = api_client.get(url, {"annotator": value})
    assert by_annotator.status_code == 200 and by_annotator.json()["results"] == []
    by_item = api_client.get(url, {"item": value})
    assert by_item.status_code in (200, 400)
    if by_item.status_code == 200:
        assert by_item.json()["results"] == []


@pytest.mark.parametrize("value", ["²", "①", "99999999999999999999999"])
def test_unicode_digits_in_the_screening_item_are_a_404_not_a_500(client, small_study, value):
    client.force_login(small_study["owner"])
    assert client.get(reverse("labelling:screening", args=["small"]), {"item": value}).status_code == 404


# ---- JSON nested 100,000 levels -------------------------------------------------------------------


def test_deep_json_on_an_api_endpoint_is_a_400(api_client, small_study):
    api_client.force_authenticate(small_study["owner"])
    response = api_client.patch(
        reverse("labelling-api:study-detail", args=["small"]), data=deep_json(), content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]


def test_deep_json_on_the_crash_intake_is_a_400(fuzzer):
    response = fuzzer.post("/api/crashes/", data=deep_json(), content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]


def test_deep_json_in_a_report_file_line_is_a_problem_of_that_line(db, tmp_path):
    path = tmp_path / "reports.jsonl"
    good = {"source_id": "gh#1", "title": "t", "framework": "pytorch"}
    path.write_text(json.dumps(good) + "\n" + deep_json() + "\n")
    with ReportFile(path) as file:
        result = file.check()
    assert [p.line for p in result.problems] == [2]
    assert "nested too deeply" in str(result.problems[0])
    assert not Report.objects.exists()


# ---- a dropped database connection ----------------------------------------------------------------


def test_kept_connections_are_health_checked(settings):
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True)
def test_a_terminated_connection_is_replaced_at_the_next_request():
    """What a PostgreSQL restart does to a kept connection: the next request reconnects."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite has no server connection to lose")
    import psycopg2
    from django.db import close_old_connections

    from config.wsgi import application  # noqa: F401 - the request signals are connected

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = psycopg2.connect(**connection.get_connection_params())
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()

    close_old_connections()  # what request_started runs, as a WSGI server sends it
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
