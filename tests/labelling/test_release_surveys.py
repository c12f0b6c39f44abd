"""A study's surveys in a release: data/survey_<slug>.csv and surveys/<slug>.json, loaded back."""

import copy
import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from labelling.models import Study
from labelling.releases.services import ReleaseOptions, release_create
from labelling.releases.writer import WrittenFile, checksums_text
from surveys.models import Answer, Response, Survey
from surveys.response_import_services import survey_responses_import
from surveys.results_selectors import results_for
from surveys.services import invitations_make, response_answer, survey_create, survey_definition_update, survey_open
from tests.surveys.fixtures import DEFINITION, RAW_MAPPING, raw_csv, raw_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(text: str):
    return io.BytesIO(text.encode("utf-8"))


@pytest.fixture
def surveyed(small_study):
    """The small study with a survey answered in two versions, plus one response still in progress."""
    study, owner = small_study["study"], small_study["owner"]
    survey = survey_create(study=study, slug="feedback", definition=DEFINITION, created_by=owner)
    survey = survey_open(survey=survey, user=owner)
    survey_responses_import(survey=survey, source=_upload(raw_csv(raw_rows(12, seed=4))), mapping=RAW_MAPPING)
    second = copy.deepcopy(DEFINITION)
    second["sections"][0]["questions"].append({"code": "ratio", "kind": "number", "text": "A ratio", "min": 0})
    survey = survey_definition_update(survey=survey, definition=second, user=owner)
    mapping = {**RAW_MAPPING, "Ratio": "ratio"}
    rows = raw_rows(5, seed=9)
    text = raw_csv(rows).splitlines()
    text = [text[0] + ",Ratio"] + [line + f",{n + 0.25}" for n, line in enumerate(text[1:])]
    survey_responses_import(survey=survey, source=_upload("\n".join(text) + "\n"), mapping=mapping)
    [invitation] = invitations_make(survey=survey, count=1)
    response_answer(token=invitation.token, consent=True, answers={"familiar": "Yes"}, submit=False)
    return study


def _release(study, version="1.0.0"):
    return release_create(study=study, version=version, created_by=None, options=ReleaseOptions(figures=False))


def _zip(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_the_release_holds_submitted_answers_and_every_version(surveyed, tmp_path):
    import frictionless

    files = _zip(_release(surveyed).file.path)
    rows = _rows(files["data/survey_feedback.csv"])
    survey = Survey.objects.get(slug="feedback")
    submitted = Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED)
    assert submitted.count() == 17 and Response.objects.filter(survey=survey).count() == 18
    assert sorted({r["response"] for r in rows}, key=lambda r: int(r[1:])) == [f"R{n}" for n in range(1, 18)]
    # Independent count: one row per answer, a matrix per row, multiple choice per option.
    expected = 0
    for a in Answer.objects.filter(response__in=submitted).select_related("question"):
        expected += len(a.value) if a.question.kind == "multi" else 1
    assert len(rows) == expected
    assert {r["version"] for r in rows if r["question"] == "ratio"} == {"2"}
    assert {(r["dimension"], r["category"]) for r in rows if r["question"] == "wrong_shape"} == {
        ("effect", "wrong_shape")
    }
    document = json.loads(files["surveys/feedback.json"])
    assert [v["number"] for v in document["versions"]] == [1, 2]
    assert document["versions"][1]["definition"]["sections"][0]["questions"][-1]["code"] == "ratio"
    descriptor = json.loads(files["datapackage.json"])
    resource = next(r for r in descriptor["resources"] if r["path"] == "data/survey_feedback.csv")
    types = {f["name"]: f["type"] for f in resource["schema"]["fields"]}
    assert types == {"response": "string", "version": "integer", "submitted": "date", "question": "string",
                     "row": "string", "value": "string", "dimension": "string", "category": "string"}  # fmt: skip
    assert any(r["path"] == "surveys/feedback.json" for r in descriptor["resources"])
    root = tmp_path / "pkg"
    with zipfile.ZipFile(_release(surveyed, "1.0.1").file.path) as zf:
        zf.extractall(root)
    report = frictionless.validate(str(root / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])


def test_round_trip_gives_identical_survey_files_and_results(surveyed):
    first = _release(surveyed)
    out = io.StringIO()
    call_command("load_release", first.file.path, "--study", "small-copy", "--owner", "rita", stdout=out)
    assert "Survey 'feedback' loaded as 'feedback-small-copy' (its slug is taken here): 17 responses" in out.getvalue()
    copy_study = Study.objects.get(slug="small-copy")
    loaded = Survey.objects.get(study=copy_study)
    original = Survey.objects.get(slug="feedback")
    a, b = results_for(survey=original), results_for(survey=loaded)
    assert (a.pop("survey"), b.pop("survey")) == ("feedback", "feedback-small-copy")
    assert a == b
    for number in (1, 2):
        x, y = results_for(survey=original, version=number), results_for(survey=loaded, version=number)
        x.pop("survey"), y.pop("survey")
        assert x == y
    again = _zip(_release(copy_study).file.path)
    before = _zip(first.file.path)
    assert again["data/survey_feedback-small-copy.csv"] == before["data/survey_feedback.csv"]
    doc_a, doc_b = json.loads(before["surveys/feedback.json"]), json.loads(again["surveys/feedback-small-copy.json"])
    assert doc_b.pop("slug") == "feedback-small-copy" and doc_a.pop("slug") == "feedback"
    assert doc_a == doc_b


def test_a_study_without_surveys_has_no_survey_files(small_study):
    files = _zip(_release(small_study["study"]).file.path)
    assert not [p for p in files if "survey" in p]


def _repacked(files: dict, tmp_path, name="bad.zip"):
    """The package with its datapackage.json hashes and checksums.sha256 made to match the edited files."""
    descriptor = json.loads(files["datapackage.json"])
    for r in descriptor["resources"]:
        if r["path"] in files:
            r["hash"], r["bytes"] = "sha256:" + hashlib.sha256(files[r["path"]]).hexdigest(), len(files[r["path"]])
    files["datapackage.json"] = json.dumps(descriptor).encode()
    files["checksums.sha256"] = checksums_text(
        [WrittenFile(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in files.items() if p != "checksums.sha256"]
    ).encode()
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return str(path)


def _tampered(files: dict, edit) -> dict:
    rows = _rows(files["data/survey_feedback.csv"])
    edit(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return {**files, "data/survey_feedback.csv": out.getvalue().encode()}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: next(r for r in rows if r["question"] == "scale").update(value="9"), "out of range"),
        (lambda rows: next(r for r in rows if r["question"] == "ratio").update(version="1"), "earlier rows say"),
        (lambda rows: next(r for r in rows if r["question"] == "familiar").update(value="Maybe"), "not one of its"),
        (
            lambda rows: next(r for r in rows if r["question"] == "wrong_shape").update(row="vague"),
            "not one of its rows",
        ),
        (lambda rows: next(r for r in rows if r["question"] == "wrong_shape").update(category="hang"), "asks about"),
        (lambda rows: rows.append(dict(rows[0])), "twice"),
    ],
)
def test_a_contradictory_survey_row_is_refused_and_nothing_is_written(surveyed, tmp_path, edit, message):
    files = _zip(_release(surveyed).file.path)
    bad = _repacked(_tampered(files, edit), tmp_path)
    before = (Study.objects.count(), Survey.objects.count(), Response.objects.count(), Answer.objects.count())
    with pytest.raises(CommandError, match=message) as caught:
        call_command("load_release", bad, "--study", "evil", "--owner", "rita", stdout=io.StringIO())
    assert "data/survey_feedback.csv line" in str(caught.value)
    assert (Study.objects.count(), Survey.objects.count(), Response.objects.count(), Answer.objects.count()) == before


def test_a_survey_without_its_questions_is_refused(surveyed, tmp_path):
    files = _zip(_release(surveyed).file.path)
    del files["surveys/feedback.json"]
    descriptor = json.loads(files["datapackage.json"])
    descriptor["resources"] = [r for r in descriptor["resources"] if r["path"] != "surveys/feedback.json"]
    files["datapackage.json"] = json.dumps(descriptor).encode()
    with pytest.raises(CommandError, match=r"data/survey_feedback.csv has no surveys/feedback.json"):
        call_command("load_release", _repacked(files, tmp_path), "--study", "evil", "--owner", "rita",
                     stdout=io.StringIO())  # fmt: skip
    assert not Study.objects.filter(slug="evil").exists()


def test_a_tampered_survey_file_is_refused_by_its_checksum(surveyed, tmp_path):
    files = _zip(_release(surveyed).file.path)
    files["data/survey_feedback.csv"] = files["data/survey_feedback.csv"].replace(b",Yes,", b",No,", 1)
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    with pytest.raises(CommandError, match="'data/survey_feedback.csv' does not match its checksum"):
        call_command("load_release", str(path), "--study", "evil", "--owner", "rita", stdout=io.StringIO())


def test_a_response_that_answered_nothing_travels_as_one_empty_row(small_study):
    study, owner = small_study["study"], small_study["owner"]
    definition = {
        "title": "Optional only",
        "sections": [{"title": "S", "questions": [{"code": "comments", "kind": "text", "text": "Anything?"}]}],
    }
    survey = survey_open(survey=survey_create(study=study, slug="quiet", definition=definition, created_by=owner),
                         user=owner)  # fmt: skip
    survey_responses_import(survey=survey, source=_upload("submitted,comments\n2026-11-02,\n2026-11-03,Hi\n"))
    first = _release(study)
    rows = _rows(_zip(first.file.path)["data/survey_quiet.csv"])
    assert [(r["response"], r["submitted"], r["question"], r["value"]) for r in rows] == [
        ("R1", "2026-11-02", "", ""),
        ("R2", "2026-11-03", "comments", "Hi"),
    ]
    call_command("load_release", first.file.path, "--study", "quiet-copy", "--owner", "rita", stdout=io.StringIO())
    loaded = Survey.objects.get(study__slug="quiet-copy")
    assert loaded.slug == "quiet-quiet-copy"
    assert Response.objects.filter(survey=loaded, status=Response.Status.SUBMITTED).count() == 2
    a, b = results_for(survey=survey), results_for(survey=loaded)
    a.pop("survey"), b.pop("survey")
    assert a == b


def test_the_api_says_which_surveys_it_loaded(surveyed, small_study):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(small_study["researcher"])
    with open(_release(surveyed).file.path, "rb") as fh:
        response = api.post("/api/releases/load/", {"file": fh, "study": "api-copy"}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["surveys"] == [
        {"name": "feedback", "slug": "feedback-api-copy", "responses": 17, "answers": Answer.objects.filter(
            response__survey__slug="feedback", response__status="submitted").count()}
    ]  # fmt: skip
