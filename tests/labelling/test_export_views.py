"""The export download: the study page (labelling/views/export.py) and the API (labelling/api/dataset.py)."""

import csv
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import AnnotationFactory, FinalLabelFactory, ReportFactory, StudyItemFactory

ROLES = ["owner", "ann1", "viewer", "outsider"]
EXPECTED = {"owner": 200, "viewer": 200, "ann1": 403, "outsider": 404}


@pytest.fixture
def study(small_study):
    item = StudyItemFactory(
        study=small_study["study"], report=ReportFactory(source_id="github:a/b#7", title='Ünï, "x"')
    )
    FinalLabelFactory(item=item, dimension=small_study["component"], value="layers;model")
    AnnotationFactory(item=item, annotator=small_study["ann1"], dimension=small_study["symptom"], value="crash")
    return small_study


def _body(response) -> str:
    assert response.streaming  # never built in memory
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", ["csv", "long", "jsonl"])
def test_page_export_per_role(client, study, role, fmt):
    client.force_login(study[role])
    response = client.get(reverse("labelling:export", args=["small", fmt]))
    assert response.status_code == EXPECTED[role]
    if response.status_code == 200:
        today = timezone.localdate().isoformat()
        ext = {"long": "long.csv"}.get(fmt, fmt)
        assert response["Content-Disposition"] == f'attachment; filename="small-{today}.{ext}"'
        body = _body(response)
        if fmt == "long":
            assert response["Content-Type"] == "text/csv; charset=utf-8"
            (row,) = csv.DictReader(io.StringIO(body, newline=""))
            assert (row["annotator"], row["dimension"], row["value"]) == ("alice", "symptom", "crash")
        elif fmt == "csv":
            assert response["Content-Type"] == "text/csv; charset=utf-8"
            (row,) = csv.DictReader(io.StringIO(body, newline=""))
            assert (row["title"], row["component"], row["symptom"]) == ('Ünï, "x"', "layers;model", "")
        else:
            assert response["Content-Type"].startswith("application/x-ndjson")
            (obj,) = [json.loads(line) for line in body.splitlines()]
            (label,) = obj["annotations"]
            assert (label["annotator"], label["dimension"], label["value"]) == ("alice", "symptom", "crash")


def test_page_export_anonymous_goes_to_login(client, study):
    response = client.get(reverse("labelling:export", args=["small", "csv"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_export_unknown_format_is_404(client, study):
    client.force_login(study["owner"])
    assert client.get(reverse("labelling:export", args=["small", "xlsx"])).status_code == 404


def test_page_export_unknown_study_is_404(client, study):
    client.force_login(study["owner"])
    assert client.get(reverse("labelling:export", args=["nope", "csv"])).status_code == 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", ["csv", "long", "jsonl"])
def test_api_export_per_role(api_client, study, role, fmt):
    api_client.force_authenticate(study[role])
    response = api_client.get(reverse("labelling-api:study-export", args=["small"]), {"format": fmt})
    assert response.status_code == EXPECTED[role]
    if response.status_code == 200:
        body = _body(response)
        assert 'attachment; filename="small-' in response["Content-Disposition"]
        if fmt in ("csv", "long"):
            assert next(csv.DictReader(io.StringIO(body, newline="")))["source_id"] == "github:a/b#7"
        else:
            assert json.loads(body.splitlines()[0])["final_labels"]["component"]["value"] == ["layers", "model"]
    else:
        assert set(response.json()) == {"message", "details"}  # errors stay JSON whatever ?format= says


def test_api_export_anonymous_is_refused(api_client, study):
    response = api_client.get(reverse("labelling-api:study-export", args=["small"]), {"format": "csv"})
    assert response.status_code in (401, 403)


def test_api_export_defaults_to_csv_and_refuses_unknown_formats(api_client, study):
    api_client.force_authenticate(study["viewer"])
    url = reverse("labelling-api:study-export", args=["small"])
    assert _body(api_client.get(url)).startswith("source_id,title,")
    response = api_client.get(url, {"format": "xlsx"})
    assert response.status_code == 400
    assert "?format=csv, ?format=long or ?format=jsonl" in response.json()["message"]


def test_api_export_with_a_token(api_client, study):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=study["viewer"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api_client.get(reverse("labelling-api:study-export", args=["small"]), {"format": "jsonl"})
    assert response.status_code == 200 and json.loads(_body(response))["source_id"] == "github:a/b#7"
