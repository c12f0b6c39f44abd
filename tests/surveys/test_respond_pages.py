"""The respondent's pages, as plain forms (no JavaScript): consent, sections, save, submit."""

import pytest
from django.test import Client

from surveys.models import Answer, Response
from surveys.services import open_link_make

pytestmark = pytest.mark.django_db


def _section_one(client, token, **extra):
    data = {"q:familiar": "Yes", "q:tools": ["a", "c"], "q:scale": "4", "action": "next", **extra}
    return client.post(f"/s/{token}/1/", data)


def test_consent_then_every_kind_through_the_forms(open_survey):
    token = open_survey["tokens"][0]
    client = Client()
    page = client.get(f"/s/{token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>silent bugs</strong>" in html  # markdown rendered
    assert "<script>alert" not in html  # and sanitised
    assert page["Cache-Control"].startswith("max-age=0")
    assert Response.objects.count() == 0  # opening the link stores nothing
    r = client.post(f"/s/{token}/", {"consent": "yes"})
    assert r.status_code == 302 and r["Location"] == f"/s/{token}/1/"
    section = client.get(f"/s/{token}/1/").content.decode()
    assert 'progress id="survey-progress" max="2" value="1"' in section
    assert 'type="radio" name="q:familiar" value="Yes"' in section
    r = _section_one(client, token)
    assert r.status_code == 302 and r["Location"] == f"/s/{token}/2/"
    second = client.get(f"/s/{token}/2/").content.decode()
    assert 'value="2"' in second and "Section 2 of 2" in second
    assert "Answer only if" not in second  # years's condition is in an earlier section: holds, no hint
    r = client.post(
        f"/s/{token}/2/",
        {
            "q:wrong_shape:clear": "5",
            "q:wrong_shape:relevant": "4",
            "q:years": "3,5",
            "q:comments": "ok",
            "action": "submit",
        },
    )
    assert r.status_code == 200 and "Thank you" in r.content.decode()
    response = Response.objects.get()
    assert response.status == "submitted"
    values = {(a.question.code, a.row_code): a.value for a in Answer.objects.select_related("question")}
    assert values == {
        ("familiar", None): "Yes",
        ("tools", None): ["a", "c"],
        ("scale", None): 4,
        ("wrong_shape", "clear"): 5,
        ("wrong_shape", "relevant"): 4,
        ("years", None): 3.5,
        ("comments", None): "ok",
    }
    # the link is used: the page says so, and no more answers go in
    assert "were submitted" in client.get(f"/s/{token}/").content.decode()
    client.post(f"/s/{token}/2/", {"q:comments": "again", "action": "submit"})
    assert Answer.objects.get(question__code="comments").value == "ok"


def test_declining_stores_nothing(open_survey):
    token = open_survey["tokens"][0]
    r = Client().post(f"/s/{token}/", {"consent": "no"})
    assert r.status_code == 200 and "Nothing was stored" in r.content.decode()
    assert (Response.objects.count(), Answer.objects.count()) == (0, 0)
    # and the sections are not reachable without consent
    assert Client().get(f"/s/{token}/1/")["Location"] == f"/s/{token}/"


def test_save_and_come_back_with_the_same_link(open_survey):
    token = open_survey["tokens"][0]
    Client().post(f"/s/{token}/", {"consent": "yes"})
    r = _section_one(Client(), token, action="save")
    assert r.status_code == 200 and f"/s/{token}/" in r.content.decode()
    later = Client()  # another browser, same link
    assert later.get(f"/s/{token}/")["Location"] == f"/s/{token}/1/"
    html = later.get(f"/s/{token}/1/").content.decode()
    assert 'value="Yes" checked' in html and 'value="c" checked' in html and 'value="4" checked' in html


def test_a_bad_answer_shows_next_to_its_question_and_keeps_the_input(open_survey):
    token = open_survey["tokens"][0]
    client = Client()
    client.post(f"/s/{token}/", {"consent": "yes"})
    client.post(f"/s/{token}/1/", {"q:familiar": "Yes", "action": "next"})
    r = client.post(f"/s/{token}/2/", {"q:years": "99", "q:wrong_shape:clear": "5", "action": "next"})
    html = r.content.decode()
    assert r.status_code == 400
    assert 'id="error-years"' in html and "out of range" in html
    assert not Answer.objects.filter(question__code="years").exists()


def test_submit_with_a_required_question_missing_elsewhere(open_survey):
    token = open_survey["tokens"][0]
    client = Client()
    client.post(f"/s/{token}/", {"consent": "yes"})
    r = client.post(f"/s/{token}/2/", {"q:wrong_shape:clear": "5", "q:wrong_shape:relevant": "4", "action": "submit"})
    html = r.content.decode()
    assert r.status_code == 400 and "&#x27;familiar&#x27; is required" in html
    assert f'href="/s/{token}/1/"' in html
    assert Response.objects.get().status == "in_progress"


def test_a_condition_hides_the_question_in_a_later_section(open_survey):
    token = open_survey["tokens"][0]
    client = Client()
    client.post(f"/s/{token}/", {"consent": "yes"})
    client.post(f"/s/{token}/1/", {"q:familiar": "No", "action": "next"})
    html = client.get(f"/s/{token}/2/").content.decode()
    assert "q:years" not in html and "q:wrong_shape:clear" in html


def test_unknown_link_is_404_and_the_open_link_makes_a_personal_one(open_survey):
    assert Client().get("/s/nothing-here/").status_code == 404
    open_token = open_link_make(survey=open_survey["survey"])
    r = Client().post(f"/s/{open_token}/", {"consent": "yes"})
    assert r.status_code == 302
    own = r["Location"].split("/")[2]
    assert own != open_token and r["Location"] == f"/s/{own}/1/"
    assert Response.objects.get().invitation.from_open_link


def test_the_page_works_on_the_closed_survey_by_saying_so(open_survey):
    from surveys.services import survey_close

    survey_close(survey=open_survey["survey"])
    r = Client().get(f"/s/{open_survey['tokens'][0]}/")
    assert r.status_code == 409 and "closed" in r.content.decode()
