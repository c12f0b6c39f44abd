"""POST /api/surveys/ (the study's owner) and GET /api/surveys/."""

import pytest
from rest_framework.test import APIClient

from surveys.models import Survey
from tests.surveys.conftest import example

pytestmark = pytest.mark.django_db


def _client(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("outsider", 404), ("ann1", 403), ("viewer", 403), ("owner", 201)]
)
def test_only_the_owner_creates(small_study, who, status):
    user = None if who == "anonymous" else small_study[who]
    r = _client(user).post("/api/surveys/", {"study": "small", "slug": "s1", "definition": example()}, format="json")
    assert r.status_code == status, r.content
    assert Survey.objects.count() == (1 if status == 201 else 0)


def test_staff_creates_too(small_study):
    from tests.factories import UserFactory

    r = _client(UserFactory(is_staff=True)).post(
        "/api/surveys/", {"study": "small", "slug": "s1", "from_codebook": ["symptom"]}, format="json"
    )
    assert r.status_code == 201
    assert [s["title"] for s in r.json()["definition"]["sections"]] == [
        "Symptom: Crash",
        "Symptom: Hang",
        "Symptom: Incorrect Functionality",
    ]


def test_bad_definition_names_the_question(small_study):
    doc = example()
    doc["sections"][1]["questions"][0]["rows"] = []
    r = _client(small_study["owner"]).post(
        "/api/surveys/", {"study": "small", "slug": "s1", "definition": doc}, format="json"
    )
    assert r.status_code == 400
    assert "Section 2 ('Wrong shape'), question 1 ('wrong_shape'): 'rows'" in r.json()["message"]
    assert r.json()["details"][0]["where"] == "Section 2 ('Wrong shape'), question 1 ('wrong_shape')"
    assert Survey.objects.count() == 0


def test_neither_or_both_sources_and_duplicate_slug(small_study):
    owner = _client(small_study["owner"])
    assert owner.post("/api/surveys/", {"study": "small", "slug": "s1"}, format="json").status_code == 400
    both = {"study": "small", "slug": "s1", "definition": example(), "from_codebook": ["symptom"]}
    assert owner.post("/api/surveys/", both, format="json").status_code == 400
    assert (
        owner.post(
            "/api/surveys/", {"study": "small", "slug": "s1", "definition": example()}, format="json"
        ).status_code
        == 201
    )
    again = owner.post("/api/surveys/", {"study": "small", "slug": "s1", "definition": example()}, format="json")
    assert again.status_code == 409 and "exists already" in again.json()["message"]


def test_list_shows_surveys_of_studies_whose_results_you_read(small_study):
    _client(small_study["owner"]).post(
        "/api/surveys/", {"study": "small", "slug": "s1", "definition": example()}, format="json"
    )
    assert [s["slug"] for s in _client(small_study["viewer"]).get("/api/surveys/").json()["results"]] == ["s1"]
    assert _client(small_study["ann1"]).get("/api/surveys/").json()["results"] == []
    assert _client(small_study["outsider"]).get("/api/surveys/").json()["results"] == []
