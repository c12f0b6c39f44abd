"""The owner's survey pages: roles, making a survey, editing with feedback, versions, invitations."""

import json

import pytest
from django.test import Client

from surveys.models import Invitation, Survey
from surveys.services import survey_create
from tests.factories import UserFactory
from tests.surveys.conftest import example

pytestmark = pytest.mark.django_db

ROLES = {"anonymous": 302, "outsider": 404, "ann1": 403, "viewer": 403, "owner": 200, "staff": 200}


def _client(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _users(s):
    return {
        "anonymous": None,
        **{k: s[k] for k in ("outsider", "ann1", "viewer", "owner")},
        "staff": UserFactory(is_staff=True),  # the owner and staff last: they do open it
    }


@pytest.mark.parametrize("page", ["edit", "invitations"])
def test_builder_pages_by_role(small_study, page):
    survey_create(study=small_study["study"], slug="s1", definition=example(), created_by=None)
    for role, user in _users(small_study).items():
        r = _client(user).get(f"/surveys/s1/{page}/")
        assert r.status_code == ROLES[role], role
    for role, user in _users(small_study).items():
        r = _client(user).post("/surveys/s1/status/", {"action": "open"})
        expected = {200: 302}.get(ROLES[role], ROLES[role])
        assert r.status_code == expected, role
        if role != "owner" and role != "staff":
            assert Survey.objects.get().status == "draft", role


def test_survey_list_by_role(small_study):
    expected = {**ROLES, "viewer": 200}
    for role, user in _users(small_study).items():
        assert _client(user).get("/studies/small/surveys/").status_code == expected[role], role
    r = _client(small_study["viewer"]).post("/studies/small/surveys/", {"slug": "x", "dimensions": ["symptom"]})
    assert r.status_code == 403 and Survey.objects.count() == 0


def test_generate_from_the_codebook_then_edit_and_version(small_study):
    owner = _client(small_study["owner"])
    page = owner.get("/studies/small/surveys/").content.decode()
    assert 'value="symptom"' in page and "Surveys</a>" in page
    r = owner.post("/studies/small/surveys/", {"slug": "feedback", "dimensions": ["symptom", "component"]})
    assert r.status_code == 302 and r["Location"] == "/surveys/feedback/edit/"
    survey = Survey.objects.get()
    assert len(survey.definition["sections"]) == 6
    # a bad edit: every problem listed, nothing saved
    doc = survey.definition
    doc["sections"][0]["questions"][0]["max"] = 99
    doc["sections"][1]["questions"][1]["options"] = []
    r = owner.post("/surveys/feedback/edit/", {"definition": json.dumps(doc)})
    html = r.content.decode()
    assert r.status_code == 400 and "these 2 problems" in html
    assert "Section 1 (&#x27;Symptom: Crash&#x27;), question 1 (&#x27;symptom__crash&#x27;)" in html
    r = owner.post("/surveys/feedback/edit/", {"definition": "{not json"})
    assert r.status_code == 400 and "This is not JSON" in r.content.decode()
    # open: version 1; an edit while open: version 2
    owner.post("/surveys/feedback/status/", {"action": "open"})
    survey.refresh_from_db()
    assert survey.status == "open" and survey.current_version.number == 1
    doc = survey.definition
    doc["sections"][0]["questions"][0]["rows"][0]["text"] = "The definition is easy to apply."
    r = owner.post("/surveys/feedback/edit/", {"definition": json.dumps(doc)})
    assert r.status_code == 302
    survey.refresh_from_db()
    assert survey.current_version.number == 2
    assert survey.versions.get(number=1).definition["sections"][0]["questions"][0]["rows"][0]["text"] == (
        "The definition is clear."
    )
    owner.post("/surveys/feedback/status/", {"action": "close"})
    assert Survey.objects.get().status == "closed"


def test_invitations_page_makes_lists_and_downloads(small_study):
    survey_create(study=small_study["study"], slug="s1", definition=example(), created_by=None)
    owner = _client(small_study["owner"])
    r = owner.post("/surveys/s1/invitations/", {"count": "3", "batch": "=mailing", "output": "page"})
    html = r.content.decode()
    assert r.status_code == 200 and html.count("/s/") >= 3
    r = owner.post("/surveys/s1/invitations/", {"count": "2", "batch": "reddit", "output": "csv"})
    assert r["Content-Type"].startswith("text/csv")
    lines = r.content.decode().splitlines()
    assert lines[0] == "survey,batch,url" and len(lines) == 3 and "/s/" in lines[1]
    assert Invitation.objects.count() == 5
    listing = owner.get("/surveys/s1/invitations/").content.decode()
    assert "reddit" in listing and "=mailing" in listing
    r = owner.post("/surveys/s1/invitations/", {"count": "0"})
    assert r.status_code == 400 and Invitation.objects.count() == 5
    # the open link and the closing date
    r = owner.post("/surveys/s1/open-link/", {"action": "make"})
    assert "/s/" in r.content.decode() and Survey.objects.get().open_link_token_hash
    owner.post("/surveys/s1/settings/", {"closes_at": "2030-01-31T12:00", "open_link_cap": "50"})
    survey = Survey.objects.get()
    assert survey.open_link_cap == 50 and survey.closes_at.year == 2030
    owner.post("/surveys/s1/open-link/", {"action": "remove"})
    assert Survey.objects.get().open_link_token_hash is None
