"""The adjudication endpoints (labelling/api/adjudication.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labelling.models import FinalLabel, FinalLabelDecision, Membership
from labelling.services.annotations import item_labels_save
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NEXT = "/api/studies/small/adjudication/next/"


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def disagreeing(labelling_study):
    s = labelling_study
    item = s["items"][0]
    item_labels_save(
        item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]},
        notes={"symptom": "quokka-alice"},
    )
    item_labels_save(
        item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]},
        notes={"symptom": "pangolin-bob"},
    )
    return s


def test_next_then_decide_then_list(disagreeing):
    s = disagreeing
    item = s["items"][0]
    client = _client(s["owner"])
    body = client.get(NEXT).json()
    assert body["item"] == item.id and body["remaining"] == 1
    [row] = body["dimensions"]
    assert row["dimension"]["code"] == "symptom"
    assert [c["code"] for c in row["dimension"]["categories"]] == ["crash", "hang", "wrong_output"]
    assert [(v["annotator"], v["value"], v["note"]) for v in row["values"]] == [
        ("Annotator 1", "crash", "quokka-alice"),
        ("Annotator 2", "hang", "pangolin-bob"),
    ]
    assert body["verdicts"] == []

    url = f"/api/studies/small/items/{item.id}/adjudication/"
    payload = {"dimension": "symptom", "value": "hang", "rationale": "The trace hangs."}
    response = client.post(url, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["method"] == "adjudicated" and response.json()["decided_by"] == "olivia"
    assert client.get(NEXT).status_code == 204

    decisions = client.get("/api/studies/small/adjudications/").json()["results"]
    assert [(d["item"], d["dimension"], d["value"], d["chosen_from"], d["rationale"], d["decided_by"])
            for d in decisions] == [(item.id, "symptom", "hang", ["crash", "hang"], "The trace hangs.", "olivia")]


def test_an_adjudicator_member_may_adjudicate(disagreeing):
    s = disagreeing
    ada = UserFactory(username="ada")
    MembershipFactory(study=s["study"], user=ada, role=Membership.Role.ADJUDICATOR)
    client = _client(ada)
    assert client.get(NEXT).status_code == 200
    url = f"/api/studies/small/items/{s['items'][0].id}/adjudication/"
    response = client.post(url, {"dimension": "symptom", "value": "crash", "rationale": "r"}, format="json")
    assert response.status_code == 201
    assert FinalLabel.objects.get(item=s["items"][0], dimension=s["symptom"]).decided_by == ada


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"dimension": "symptom", "value": "hang"}, "rationale"),
        ({"dimension": "symptom", "value": "hang", "rationale": "  "}, "rationale"),
        ({"dimension": "symptom", "value": "bogus", "rationale": "r"}, "value"),
        ({"dimension": "symptom", "value": {"a": 1}, "rationale": "r"}, "value"),
        ({"value": "hang", "rationale": "r"}, "dimension"),
    ],
)
def test_bad_input_is_a_clear_400_and_writes_nothing(disagreeing, payload, field):
    s = disagreeing
    url = f"/api/studies/small/items/{s['items'][0].id}/adjudication/"
    response = _client(s["owner"]).post(url, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not FinalLabelDecision.objects.exists()


def test_unknown_dimension_item_and_after(disagreeing):
    s = disagreeing
    client = _client(s["owner"])
    url = f"/api/studies/small/items/{s['items'][0].id}/adjudication/"
    assert client.post(url, {"dimension": "nope", "value": "x", "rationale": "r"}, format="json").status_code == 404
    bad = "/api/studies/small/items/999999/adjudication/"
    payload = {"dimension": "symptom", "value": "hang", "rationale": "r"}
    assert client.post(bad, payload, format="json").status_code == 404
    assert client.get(NEXT + "?after=abc").status_code == 400
    assert client.get(NEXT + f"?after={s['items'][0].id}").json()["item"] == s["items"][0].id  # wraps round


@pytest.mark.parametrize("blind", [True, False])
def test_an_annotator_reaches_no_adjudication_data(disagreeing, blind):
    s = disagreeing
    s["study"].blind = blind
    s["study"].save()
    client = _client(s["ann1"])
    url = f"/api/studies/small/items/{s['items'][0].id}/adjudication/"
    for response in (
        client.get(NEXT),
        client.post(url, {"dimension": "symptom", "value": "crash", "rationale": "mine"}, format="json"),
        client.get("/api/studies/small/adjudications/"),
    ):
        assert response.status_code == 403
        assert b"pangolin-bob" not in response.content
    assert not FinalLabelDecision.objects.exists()
    # The viewer reads the decisions but does not adjudicate.
    viewer = _client(s["viewer"])
    assert viewer.get("/api/studies/small/adjudications/").status_code == 200
    assert viewer.get(NEXT).status_code == 403
