"""Answering through JSON: GET/POST /api/surveys/respond/TOKEN/ (public)."""

import pytest
from rest_framework.test import APIClient

from surveys.models import Answer, Invitation, Response, Survey
from surveys.services import open_link_make, survey_close, survey_definition_update, survey_settings_update
from tests.surveys.conftest import FULL_ANSWERS, example

pytestmark = pytest.mark.django_db


def _url(token):
    return f"/api/surveys/respond/{token}/"


def _post(token, body):
    return APIClient().post(_url(token), body, format="json")


def _rows():
    return Response.objects.count(), Answer.objects.count()


def test_get_gives_the_definition_without_login(open_survey):
    r = APIClient().get(_url(open_survey["tokens"][0]))
    assert r.status_code == 200
    assert r.json()["status"] == "new" and r.json()["version"] == 1
    assert [s["title"] for s in r.json()["definition"]["sections"]] == ["About you", "Wrong shape"]


def test_the_issue_body_submits_every_kind(open_survey):
    token = open_survey["tokens"][0]
    r = _post(token, {"consent": True, "answers": FULL_ANSWERS, "submit": True})
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "submitted"
    response = Response.objects.get()
    assert response.status == "submitted" and response.submitted_at is not None
    stored = {(a.question.code, a.row_code): (a.value, a.number) for a in response.answers.select_related("question")}
    assert stored == {
        ("familiar", None): ("Yes", None),
        ("tools", None): (["a"], None),
        ("scale", None): (4, 4.0),
        ("wrong_shape", "clear"): (5, 5.0),
        ("wrong_shape", "relevant"): (4, 4.0),
        ("years", None): (3, 3.0),
        ("comments", None): ("Nice survey", None),
    }
    assert response.invitation.used_at == response.submitted_at
    # nothing about the respondent: the model has no such field at all
    names = {f.name for f in Response._meta.get_fields()}
    assert not names & {"user", "ip", "ip_address", "user_agent", "created_at"}


@pytest.mark.parametrize(
    ("answers", "question", "words"),
    [
        ({"familiar": "Maybe"}, "familiar", "not one of its options"),
        ({"tools": ["z"]}, "tools", "not one of its options"),
        ({"tools": "a"}, "tools", "give a list"),
        ({"scale": 9}, "scale", "out of range"),
        ({"scale": 2.5}, "scale", "whole number"),
        ({"scale": True}, "scale", "whole number"),
        ({"wrong_shape": {"clear": 6, "relevant": 1}}, "wrong_shape", "row 'clear': 6 is out of range"),
        ({"wrong_shape": {"vague": 1}}, "wrong_shape", "'vague' is not one of its rows"),
        ({"years": -1}, "years", "out of range"),
        ({"years": "three"}, "years", "give a number"),
        ({"comments": 5}, "comments", "give text"),
        ({"nope": 1}, "nope", "not a question of this survey"),
    ],
)
def test_a_bad_answer_is_a_400_naming_the_question_and_nothing_is_stored(open_survey, answers, question, words):
    body = {"consent": True, "answers": {**FULL_ANSWERS, **answers}, "submit": True}
    r = _post(open_survey["tokens"][0], body)
    assert r.status_code == 400
    assert f"'{question}'" in r.json()["message"] and words in r.json()["message"]
    assert r.json()["details"][0]["question"] == question
    assert _rows() == (0, 0)


def test_a_missing_required_answer_is_named(open_survey):
    answers = {k: v for k, v in FULL_ANSWERS.items() if k not in ("familiar", "years")}
    answers["wrong_shape"] = {"clear": 3}  # a matrix is complete only with every row
    r = _post(open_survey["tokens"][0], {"consent": True, "answers": answers, "submit": True})
    assert r.status_code == 400
    assert [d["question"] for d in r.json()["details"]] == ["familiar", "wrong_shape"]
    assert "required" in r.json()["message"]
    assert _rows() == (0, 0)


def test_unknown_token_is_404_and_used_token_409(open_survey):
    assert _post("not-a-token", {"consent": True, "answers": {}}).status_code == 404
    assert APIClient().get(_url("not-a-token")).status_code == 404
    token = open_survey["tokens"][0]
    assert _post(token, {"consent": True, "answers": FULL_ANSWERS, "submit": True}).status_code == 200
    again = _post(token, {"consent": True, "answers": {"comments": "changed my mind"}, "submit": True})
    assert again.status_code == 409 and "already submitted" in again.json()["message"]
    assert APIClient().get(_url(token)).status_code == 409
    assert Answer.objects.get(question__code="comments").value == "Nice survey"


def test_consent_declined_stores_nothing_and_consent_is_needed_first(open_survey):
    token = open_survey["tokens"][0]
    r = _post(token, {"consent": False, "answers": FULL_ANSWERS, "submit": True})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert _rows() == (0, 0)
    r = _post(token, {"answers": FULL_ANSWERS})
    assert r.status_code == 400 and "consent" in r.json()["message"]
    assert _rows() == (0, 0)
    assert Invitation.objects.filter(used_at__isnull=False).count() == 0


def test_save_and_come_back(open_survey):
    token = open_survey["tokens"][0]
    r = _post(token, {"consent": True, "answers": {"familiar": "Yes", "tools": ["b", "a"]}})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    assert set(r.json()["missing"]) == {"wrong_shape"}
    back = APIClient().get(_url(token)).json()
    assert back["status"] == "in_progress"
    assert back["answers"] == {"familiar": "Yes", "tools": ["a", "b"]}  # in the options' order
    r = _post(token, {"answers": {"tools": None, "wrong_shape": {"clear": 2, "relevant": 3}}, "submit": True})
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert set(Answer.objects.values_list("question__code", flat=True)) == {"familiar", "wrong_shape"}
    consent_day = Response.objects.get().consent_at
    assert str(consent_day).count("-") == 2  # a date: no time of day is kept


def test_condition_enforced_on_the_server(open_survey):
    token = open_survey["tokens"][0]
    answers = {**FULL_ANSWERS, "familiar": "No"}  # years is asked only of Keras users
    r = _post(token, {"consent": True, "answers": answers, "submit": True})
    assert r.status_code == 400 and r.json()["details"][0]["question"] == "years"
    assert _rows() == (0, 0)
    answers.pop("years")
    assert _post(token, {"consent": True, "answers": answers, "submit": True}).status_code == 200


def test_changing_an_earlier_answer_drops_the_hidden_one(open_survey):
    token = open_survey["tokens"][0]
    _post(token, {"consent": True, "answers": {"familiar": "Yes", "years": 4}})
    _post(token, {"answers": {"familiar": "No"}})
    assert APIClient().get(_url(token)).json()["answers"] == {"familiar": "No"}


def test_closed_survey_and_past_closing_date_are_409(open_survey):
    from datetime import timedelta

    from django.utils import timezone

    survey = open_survey["survey"]
    survey_settings_update(survey=survey, closes_at=timezone.now() - timedelta(minutes=1), open_link_cap=None)
    r = _post(open_survey["tokens"][0], {"consent": True, "answers": FULL_ANSWERS, "submit": True})
    assert r.status_code == 409 and "closed" in r.json()["message"]
    survey_settings_update(survey=survey, closes_at=None, open_link_cap=None)
    survey_close(survey=survey)
    assert _post(open_survey["tokens"][1], {"consent": True, "answers": {}}).status_code == 409
    assert _rows() == (0, 0)


def test_draft_survey_takes_no_answers(small_study):
    from surveys.services import invitations_make, survey_create

    survey = survey_create(study=small_study["study"], slug="draft", definition=example(), created_by=None)
    token = invitations_make(survey=survey, count=1)[0].token
    r = _post(token, {"consent": True, "answers": {}})
    assert r.status_code == 409 and "not open yet" in r.json()["message"]


def test_open_link_gives_each_respondent_their_own_link_and_honours_the_cap(open_survey):
    survey = open_survey["survey"]
    open_token = open_link_make(survey=survey, cap=2)
    first = _post(open_token, {"consent": True, "answers": {"familiar": "No"}})
    assert first.status_code == 200
    own = first.json()["token"]
    assert own and first.json()["url"].endswith(f"/s/{own}/")
    assert APIClient().get(_url(own)).json()["answers"] == {"familiar": "No"}
    wrong_shape = {"clear": 1, "relevant": 1}
    assert _post(own, {"answers": {"wrong_shape": wrong_shape}, "submit": True}).json()["status"] == "submitted"
    body = {"consent": True, "answers": {"familiar": "No", "wrong_shape": wrong_shape}, "submit": True}
    assert _post(open_token, body).status_code == 200
    third = _post(open_token, body)
    assert third.status_code == 409 and "limit of 2 responses" in third.json()["message"]
    assert Response.objects.filter(invitation__from_open_link=True, status="submitted").count() == 2
    # invitation links are not counted against the open link's cap
    assert _post(open_survey["tokens"][0], body).status_code == 200


def test_answers_keep_the_version_they_answered(open_survey):
    survey = open_survey["survey"]
    token_old, token_new = open_survey["tokens"][:2]
    _post(token_old, {"consent": True, "answers": {"familiar": "Yes"}})
    changed = example()
    changed["sections"][0]["questions"][0]["options"] = ["Yes", "No", "Sometimes"]
    survey = survey_definition_update(survey=survey, definition=changed, user=open_survey["owner"])
    assert survey.current_version.number == 2
    assert APIClient().get(_url(token_old)).json()["version"] == 1
    assert APIClient().get(_url(token_new)).json()["version"] == 2
    r = _post(token_old, {"answers": {"familiar": "Sometimes"}})
    assert r.status_code == 400  # not an option of version 1
    r = _post(token_new, {"consent": True, "answers": {"familiar": "Sometimes"}})
    assert r.status_code == 200
    versions = dict(Response.objects.values_list("invitation__batch", "version__number"))
    assert set(Response.objects.values_list("version__number", flat=True)) == {1, 2}
    assert versions  # both responses exist
    # saving the same document again makes no new version
    survey = survey_definition_update(survey=survey, definition=changed, user=open_survey["owner"])
    assert Survey.objects.get().versions.count() == 2


def test_deleting_the_study_takes_its_surveys_and_answers(open_survey):
    _post(open_survey["tokens"][0], {"consent": True, "answers": FULL_ANSWERS, "submit": True})
    open_survey["study"].delete()
    assert (Survey.objects.count(), Response.objects.count(), Answer.objects.count()) == (0, 0, 0)


def test_a_version_with_answers_cannot_be_deleted_alone(open_survey):
    from django.db.models import RestrictedError

    _post(open_survey["tokens"][0], {"consent": True, "answers": FULL_ANSWERS, "submit": True})
    with pytest.raises(RestrictedError):
        open_survey["survey"].versions.get().delete()
