"""The results page, its downloads, the results/export/import API and the two commands, by role."""

import csv
import io
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from labelling.models import Membership
from surveys.models import Response
from surveys.response_import_services import survey_responses_import
from surveys.services import invitations_make, response_answer, survey_create, survey_open
from tests.factories import MembershipFactory, UserFactory
from tests.surveys.fixtures import DEFINITION, RAW_MAPPING, raw_csv, raw_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def results_survey(small_study):
    """The fixture survey of the small study, open: 40 imported responses, and two batches of
    invitation links, 'first mail' (4 links, 3 answered) and 'reminder' (2 links, none answered)."""
    owner = small_study["owner"]
    survey = survey_create(study=small_study["study"], slug="devs", definition=DEFINITION, created_by=owner)
    survey = survey_open(survey=survey, user=owner)
    rows = raw_rows(40)
    survey_responses_import(survey=survey, source=io.BytesIO(raw_csv(rows).encode()), mapping=RAW_MAPPING)
    first = invitations_make(survey=survey, count=4, batch="first mail")
    invitations_make(survey=survey, count=2, batch="reminder")
    for made in first[:3]:
        response_answer(
            token=made.token,
            consent=True,
            answers={"familiar": "No", "scale": 5, "wrong_shape": {"clear": 1}},
            submit=True,
        )
    adjudicator = UserFactory(username="ada")
    MembershipFactory(study=small_study["study"], user=adjudicator, role=Membership.Role.ADJUDICATOR)
    return {**small_study, "survey": survey, "rows": rows, "adjudicator": adjudicator}


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api_for(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


READERS = ("owner", "viewer", "adjudicator")


@pytest.mark.parametrize(
    "role, status", [("owner", 200), ("viewer", 200), ("adjudicator", 200), ("ann1", 403), ("outsider", 404)]
)
def test_who_reads_the_results(results_survey, role, status):
    user = results_survey[role]
    page = client_for(user).get(reverse("surveys:results", args=["devs"]))
    assert page.status_code == status
    api = api_for(user).get("/api/surveys/devs/results/")
    assert api.status_code == status
    export = api_for(user).get("/api/surveys/devs/export/?format=csv")
    assert export.status_code == status
    download = client_for(user).get(reverse("surveys:results-export", args=["devs", "long"]))
    assert download.status_code == status
    if status == 200:
        assert api.json()["responses"] == 43
    else:
        assert "Yes" not in page.content.decode() and "responses" not in api.content.decode()


def test_anonymous_is_sent_to_log_in(results_survey):
    page = Client().get(reverse("surveys:results", args=["devs"]))
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]
    assert APIClient().get("/api/surveys/devs/results/").status_code in (401, 403)


def test_api_results_count_the_imported_csv_and_the_answered_links(results_survey):
    rows = results_survey["rows"]
    body = api_for(results_survey["viewer"]).get("/api/surveys/devs/results/").json()
    got = {q["code"]: q for q in body["questions"]}
    raw = Counter(r["Q1 Keras"] for r in rows)
    assert got["familiar"]["counts"] == {"Yes": raw["Yes"], "No": raw["No"] + 3}
    clear = Counter(r["Q5a Clear"] for r in rows if r["Q5a Clear"])
    (clear_row,) = [r for r in got["wrong_shape"]["rows"] if r["code"] == "clear"]
    assert clear_row["counts"]["1"] == clear["1"] + 3
    assert clear_row["agree_share"] == round(100 * (clear["4"] + clear["5"]) / (sum(clear.values()) + 3), 1)
    batches = {b["batch"]: b for b in body["batches"]}
    assert batches["first mail"] == {"batch": "first mail", "invited": 4, "responded": 3, "rate": 75.0}
    assert batches["reminder"]["rate"] == 0.0
    assert batches["Imported or unlinked"]["responded"] == 40
    assert sum(d["responses"] for d in body["per_day"]) == 43 and body["per_day"][-1]["total"] == 43


def test_in_progress_responses_are_not_counted(results_survey):
    survey = results_survey["survey"]
    (made,) = invitations_make(survey=survey, count=1, batch="late")
    response_answer(token=made.token, consent=True, answers={"familiar": "No"}, submit=False)
    assert Response.objects.filter(survey=survey).count() == 44
    body = api_for(results_survey["owner"]).get("/api/surveys/devs/results/").json()
    assert body["responses"] == 43


def test_the_page_shows_tables_and_chart_data(results_survey):
    html = client_for(results_survey["viewer"]).get(reverse("surveys:results", args=["devs"])).content.decode()
    assert "js/plotly.min.js" in html and "js/survey_results.js" in html
    assert 'id="chart-1" type="application/json"' in html  # the familiar question's bars
    assert "first mail" in html and "75.0%" in html
    assert "Shapes, again<br>and again" in html  # text answers listed, line breaks kept
    assert "=HYPERLINK(&quot;x&quot;)" in html and '=HYPERLINK("x")' not in html  # escaped, never raw
    assert "<script>" not in html.split("<main>")[1].split("</main>")[0]  # no inline script in the content
    assert "Import responses" not in html  # viewers do not import


def test_exports_by_format(results_survey):
    api = api_for(results_survey["owner"])
    wide = api.get("/api/surveys/devs/export/?format=csv&header=text")
    assert wide["Content-Type"].startswith("text/csv")
    assert 'filename="devs-' in wide["Content-Disposition"]
    table = list(csv.reader(io.StringIO(b"".join(wide.streaming_content).decode())))
    assert table[0][:3] == ["response", "submitted", "familiar"] and table[1][2] == "Do you use Keras?"
    assert len(table) == 2 + 43
    numeric = list(
        csv.reader(
            io.StringIO(b"".join(api.get("/api/surveys/devs/export/?format=numeric").streaming_content).decode())
        )
    )
    assert {r[2] for r in numeric[1:]} == {"1", "2"}
    long = b"".join(api.get("/api/surveys/devs/export/?format=long").streaming_content).decode()
    assert long.splitlines()[0] == "response,submitted,question,row,value,dimension,category"
    assert ",wrong_shape,clear,1,effect,wrong_shape" in long
    categories = b"".join(api.get("/api/surveys/devs/export/?format=categories").streaming_content).decode()
    assert categories.splitlines()[1].startswith("effect,wrong_shape,wrong_shape,clear,")
    spss = b"".join(api.get("/api/surveys/devs/export/?format=spss").streaming_content).decode()
    assert "VALUE LABELS" in spss and "wrong_shape.clear" in spss


@pytest.mark.parametrize(
    "query, field",
    [
        ("format=xlsx", "format"),
        ("format=csv&header=both", "header"),
        ("version=two", "version"),
        ("version=9", "version"),
    ],
)
def test_bad_export_parameters_are_400_naming_them(results_survey, query, field):
    response = api_for(results_survey["owner"]).get(f"/api/surveys/devs/export/?{query}")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


def test_import_api_owner_only_and_all_or_nothing(results_survey):
    upload = lambda text: io.BytesIO(text.encode())  # noqa: E731
    rows = raw_rows(5, seed=99)
    data = {"file": upload(raw_csv(rows)), "map": [f"{c}={t}" for c, t in RAW_MAPPING.items()]}
    assert api_for(results_survey["viewer"]).post("/api/surveys/devs/responses/import/", data).status_code == 403
    assert api_for(results_survey["ann1"]).post("/api/surveys/devs/responses/import/", data).status_code == 403
    owner = api_for(results_survey["owner"])
    data["file"] = upload(raw_csv(rows))
    done = owner.post("/api/surveys/devs/responses/import/", data)
    assert done.status_code == 200 and done.json()["imported"] == 5
    rows[2]["Q3 Common"] = "six"
    data["file"] = upload(raw_csv(rows))
    bad = owner.post("/api/surveys/devs/responses/import/", data)
    assert bad.status_code == 400
    assert bad.json()["details"] == [{"line": 4, "field": "Q3 Common", "message": "'six' is not a number."}]
    data["file"], data["map"] = upload(raw_csv(rows)), ["no equals sign"]
    assert owner.post("/api/surveys/devs/responses/import/", data).json()["details"][0]["field"] == "map"
    assert Response.objects.filter(survey=results_survey["survey"]).count() == 48


def test_import_page_lists_every_problem(results_survey):
    client = client_for(results_survey["owner"])
    url = reverse("surveys:responses-import", args=["devs"])
    assert client.get(url).status_code == 200
    rows = raw_rows(3)
    rows[0]["Q1 Keras"] = "Perhaps"
    rows[2]["Q4 Years"] = "-4"
    upload = io.BytesIO(raw_csv(rows).encode())
    upload.name = "other.csv"
    mapping = "\n".join(f"{c}={t}" for c, t in RAW_MAPPING.items())
    page = client.post(url, {"file": upload, "mapping": mapping})
    assert page.status_code == 400
    text = page.content.decode()
    assert "Line 2 (Q1 Keras)" in text and "Line 4 (Q4 Years)" in text
    upload = io.BytesIO(raw_csv(raw_rows(3)).encode())
    upload.name = "other.csv"
    done = client.post(url, {"file": upload, "mapping": mapping})
    assert done.status_code == 302 and done["Location"] == reverse("surveys:results", args=["devs"])
    assert client_for(results_survey["viewer"]).get(url).status_code == 403


def test_survey_results_command_json_and_csv(results_survey, tmp_path, capsys):
    call_command("survey_results", "devs", "--format", "json")
    document = json.loads(capsys.readouterr().out)
    api = api_for(results_survey["owner"]).get("/api/surveys/devs/results/").json()
    assert document == api
    target = tmp_path / "wide.csv"
    call_command("survey_results", "devs", "--format", "csv", "--output", str(target))
    assert len(target.read_text().splitlines()) > 43
    with pytest.raises(CommandError, match="no version 7"):
        call_command("survey_results", "devs", "--survey-version", "7")
    with pytest.raises(CommandError, match="No survey 'nope'"):
        call_command("survey_results", "nope")


def test_import_command_round_trips_the_wide_export(results_survey, tmp_path, small_study):
    wide = tmp_path / "wide.csv"
    call_command("survey_results", "devs", "--format", "csv", "--output", str(wide))
    copy = survey_create(study=small_study["study"], slug="copy", definition=DEFINITION, created_by=None)
    survey_open(survey=copy, user=small_study["owner"])
    out = io.StringIO()
    call_command("import_survey_responses", "copy", str(wide), stdout=out)
    assert "Imported 43 responses" in out.getvalue()
    a = api_for(small_study["owner"]).get("/api/surveys/devs/results/").json()
    b = api_for(small_study["owner"]).get("/api/surveys/copy/results/").json()
    assert a["questions"] == b["questions"]


def test_import_command_names_bad_lines(results_survey, tmp_path):
    rows = raw_rows(3)
    rows[1]["Q5b Relevant"] = "0"
    path = tmp_path / "raw.csv"
    path.write_text(raw_csv(rows))
    maps = [arg for c, t in RAW_MAPPING.items() for arg in ("--map", f"{c}={t}")]
    with pytest.raises(CommandError) as caught:
        call_command("import_survey_responses", "devs", str(path), *maps)
    assert "line 3 (Q5b Relevant): 0 is outside the allowed range (1 to 5)." in str(caught.value)
    with pytest.raises(CommandError, match="not COLUMN=CODE"):
        call_command("import_survey_responses", "devs", str(path), "--map", "Q1")


def test_results_over_versions_and_of_one_version(results_survey):
    import copy

    from surveys.services import survey_definition_update

    survey = results_survey["survey"]
    changed = copy.deepcopy(survey.current_version.definition)
    changed["sections"][0]["questions"][0]["options"] = ["Yes", "No", "Maybe"]
    survey = survey_definition_update(survey=survey, definition=changed, user=results_survey["owner"])
    assert survey.current_version.number == 2
    rows = raw_rows(4, seed=5)
    for r in rows:
        r["Q1 Keras"] = "Maybe"
    survey_responses_import(survey=survey, source=io.BytesIO(raw_csv(rows).encode()), mapping=RAW_MAPPING)
    api = api_for(results_survey["viewer"])
    every = api.get("/api/surveys/devs/results/").json()
    first = api.get("/api/surveys/devs/results/?version=1").json()
    second = api.get("/api/surveys/devs/results/?version=2").json()
    assert (every["responses"], first["responses"], second["responses"]) == (47, 43, 4)
    familiar = lambda doc: next(q for q in doc["questions"] if q["code"] == "familiar")["counts"]  # noqa: E731
    assert familiar(second) == {"Yes": 0, "No": 0, "Maybe": 4}
    assert "Maybe" not in familiar(first)
    assert familiar(every)["Maybe"] == 4 and sum(familiar(every).values()) == 47
    page = client_for(results_survey["viewer"]).get(reverse("surveys:results", args=["devs"]) + "?version=2")
    assert "4 submitted responses to version 2" in page.content.decode()
    wide = client_for(results_survey["viewer"]).get(
        reverse("surveys:results-export", args=["devs", "csv"]) + "?version=2"
    )
    assert len(list(csv.reader(io.StringIO(b"".join(wide.streaming_content).decode())))) == 1 + 4
    missing = client_for(results_survey["viewer"]).get(reverse("surveys:results", args=["devs"]) + "?version=9")
    assert missing.status_code == 200 and "has no version 9" in missing.content.decode()
