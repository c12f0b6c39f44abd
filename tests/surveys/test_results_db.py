"""Survey results through the database: import a raw CSV, count in SQL, compare with Counters
over that CSV; export the wide CSV and import it back into another survey: the same results."""

import io

import pytest

from config.errors import ApplicationError
from surveys.exports import csv_text, long_rows, wide_rows
from surveys.models import Answer, Response
from surveys.response_import_services import survey_responses_import
from surveys.results_selectors import response_records, results_for
from surveys.services import survey_create, survey_open
from tests.factories import StudyFactory, UserFactory
from tests.surveys.fixtures import DEFINITION, RAW_MAPPING, expected_results, raw_csv, raw_rows

pytestmark = pytest.mark.django_db


def open_survey(slug, study=None):
    owner = UserFactory(username="olivia")
    survey = survey_create(study=study or StudyFactory(), slug=slug, definition=DEFINITION, created_by=owner)
    return survey_open(survey=survey, user=owner)


def upload(text: str):
    return io.BytesIO(text.encode("utf-8"))


def by_code(results):
    return {q["code"]: q for q in results["questions"]}


def test_sql_counts_of_an_imported_csv_match_counters_over_it():
    rows = raw_rows(103)
    survey = open_survey("devs")
    report = survey_responses_import(survey=survey, source=upload(raw_csv(rows)), mapping=RAW_MAPPING)
    assert report["imported"] == 103
    expected = expected_results(rows)
    got = by_code(results_for(survey=survey))
    assert results_for(survey=survey)["responses"] == 103

    answered, counter = expected["Q1 Keras"]
    assert (got["familiar"]["answered"], got["familiar"]["counts"]) == (answered, dict(counter) | {})
    answered, counter = expected["Q2 Tools"]
    assert got["tools"]["answered"] == answered
    assert got["tools"]["counts"] == {t: counter[t] for t in ("pdb", "=SUM(A1)", "prints")}
    answered, counter = expected["Q3 Common"]
    assert got["scale"]["counts"] == {str(p): counter[str(p)] for p in range(1, 6)}
    assert got["scale"]["agree_share"] == round(100 * (counter["4"] + counter["5"]) / answered, 1)
    for row, column in (("clear", "Q5a Clear"), ("relevant", "Q5b Relevant")):
        answered, counter = expected[column]
        (got_row,) = [r for r in got["wrong_shape"]["rows"] if r["code"] == row]
        assert (got_row["answered"], got_row["counts"]) == (answered, {str(p): counter[str(p)] for p in range(1, 6)})
    assert got["wrong_shape"]["answered"] == expected["wrong_shape answered"]
    answered, counter = expected["Q4 Years"]
    assert got["years"]["answered"] == answered
    assert got["years"]["max"] == max(int(v) for v in counter)
    assert sorted(got["comments"]["answers"]) == sorted(expected["Q6"])


def test_wide_csv_round_trip_gives_the_same_results():
    study = StudyFactory()
    first = open_survey("first", study)
    survey_responses_import(survey=first, source=upload(raw_csv(raw_rows(60, seed=3))), mapping=RAW_MAPPING)
    wide = csv_text(wide_rows(first.current_version.definition, response_records(survey=first)))
    second = open_survey("second", study)
    survey_responses_import(survey=second, source=upload(wide))  # no mapping: the header is the codes
    a, b = results_for(survey=first), results_for(survey=second)
    assert a.pop("survey") == "first" and b.pop("survey") == "second"
    assert a == b
    # and the long CSV is the same, response ids aside
    strip = lambda rows: sorted(tuple(map(str, r[1:])) for r in list(rows)[1:])  # noqa: E731
    definition = first.current_version.definition
    assert strip(long_rows(definition, response_records(survey=first))) == strip(
        long_rows(definition, response_records(survey=second))
    )


def test_a_bad_row_names_line_and_column_and_nothing_is_stored():
    rows = raw_rows(5)
    rows[1]["Q1 Keras"] = "Perhaps"
    rows[3]["Q3 Common"] = "7"
    rows[4]["Q5a Clear"] = "lots"
    survey = open_survey("bad")
    with pytest.raises(ApplicationError) as caught:
        survey_responses_import(survey=survey, source=upload(raw_csv(rows)), mapping=RAW_MAPPING)
    problems = [(d["line"], d["field"]) for d in caught.value.details]
    assert problems == [(3, "Q1 Keras"), (5, "Q3 Common"), (6, "Q5a Clear")]
    assert "'Perhaps' is not an option of 'familiar'" in caught.value.details[0]["message"]
    assert Response.objects.count() == 0 and Answer.objects.count() == 0


def test_a_missing_required_answer_is_named():
    rows = raw_rows(3)
    rows[2]["Q1 Keras"] = ""
    survey = open_survey("req")
    with pytest.raises(ApplicationError) as caught:
        survey_responses_import(survey=survey, source=upload(raw_csv(rows)), mapping=RAW_MAPPING)
    assert [(d["line"], d["field"]) for d in caught.value.details] == [(4, "Q1 Keras")]
    assert "'familiar' is required" in caught.value.details[0]["message"]


@pytest.mark.parametrize(
    "mapping, field, words",
    [
        ({**RAW_MAPPING, "Q9": "familiar"}, "Q9", "the header does not have"),
        ({**RAW_MAPPING, "Q6": "nosuch"}, "Q6", "'nosuch' is not a question"),
        ({**RAW_MAPPING, "Q5a Clear": "wrong_shape.vague"}, "Q5a Clear", "has no row 'vague'"),
        ({**RAW_MAPPING, "Q2 Tools": "tools.4"}, "Q2 Tools", "options 1 to 3"),
        ({**RAW_MAPPING, "Q6": "familiar"}, "Q6", "mapped from both"),
    ],
)
def test_a_bad_mapping_is_refused_before_any_row(mapping, field, words):
    survey = open_survey("map")
    with pytest.raises(ApplicationError) as caught:
        survey_responses_import(survey=survey, source=upload(raw_csv(raw_rows(4))), mapping=mapping)
    assert any(d["field"] == field and words in d["message"] and d["line"] == 1 for d in caught.value.details), (
        caught.value.details
    )
    assert Response.objects.count() == 0


def test_an_unmapped_required_question_is_an_error_on_every_line():
    mapping = {k: v for k, v in RAW_MAPPING.items() if v != "familiar"}
    survey = open_survey("unmapped")
    with pytest.raises(ApplicationError) as caught:
        survey_responses_import(survey=survey, source=upload(raw_csv(raw_rows(2))), mapping=mapping)
    assert [d["field"] for d in caught.value.details] == ["familiar", "familiar"]
    assert "no column (map a column to it)" in caught.value.details[0]["message"]


def test_a_draft_survey_has_no_version_to_import_into():
    owner = UserFactory(username="olivia")
    survey = survey_create(study=StudyFactory(), slug="draft", definition=DEFINITION, created_by=owner)
    with pytest.raises(ApplicationError) as caught:
        survey_responses_import(survey=survey, source=upload(raw_csv(raw_rows(2))), mapping=RAW_MAPPING)
    assert caught.value.status == 409
