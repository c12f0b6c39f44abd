"""surveys.results and surveys.exports without a database: counts against Counters over the raw CSV."""

import csv
import datetime
import io
import statistics

import pandas as pd
import pytest

from surveys.exports import (
    ResponseRecord,
    answer_rows,
    category_rows,
    csv_text,
    long_rows,
    spss_name,
    spss_syntax,
    wide_rows,
)
from surveys.results import survey_results, tally_rows
from tests.surveys.fixtures import DEFINITION, answers_of, expected_results, raw_rows


def records(rows):
    return [
        ResponseRecord(i, datetime.date.fromisoformat(r["Timestamp"]), answers_of(r)) for i, r in enumerate(rows, 1)
    ]


def results_of(rows):
    recs = records(rows)
    tally = tally_rows(DEFINITION, (a for r in recs for a in answer_rows(DEFINITION, r)), responses=len(recs))
    return survey_results(DEFINITION, tally)


@pytest.mark.parametrize("n", [0, 1, 7, 103])
def test_counts_match_counters_over_the_raw_csv(n):
    rows = raw_rows(n)
    expected = expected_results(rows)
    got = {q["code"]: q for q in results_of(rows)["questions"]}
    assert results_of(rows)["responses"] == n

    answered, counter = expected["Q1 Keras"]
    assert got["familiar"]["answered"] == answered
    assert got["familiar"]["counts"] == {"Yes": counter["Yes"], "No": counter["No"]}
    if answered:
        assert got["familiar"]["percentages"]["Yes"] == round(100 * counter["Yes"] / answered, 1)

    answered, counter = expected["Q2 Tools"]
    assert got["tools"]["answered"] == answered
    assert got["tools"]["counts"] == {t: counter[t] for t in ("pdb", "=SUM(A1)", "prints")}

    answered, counter = expected["Q3 Common"]
    assert got["scale"]["answered"] == answered
    assert got["scale"]["counts"] == {str(p): counter[str(p)] for p in range(1, 6)}
    if answered:
        assert got["scale"]["agree_share"] == round(100 * (counter["4"] + counter["5"]) / answered, 1)
        assert got["scale"]["disagree_share"] == round(100 * (counter["1"] + counter["2"]) / answered, 1)
        values = [int(v) for v, k in counter.items() for _ in range(k)]
        assert got["scale"]["mean"] == round(statistics.mean(values), 2)

    assert got["wrong_shape"]["answered"] == expected["wrong_shape answered"]
    assert got["wrong_shape"]["category"] == "effect/wrong_shape"
    for row, column in (("clear", "Q5a Clear"), ("relevant", "Q5b Relevant")):
        answered, counter = expected[column]
        (got_row,) = [r for r in got["wrong_shape"]["rows"] if r["code"] == row]
        assert got_row["answered"] == answered
        assert got_row["counts"] == {str(p): counter[str(p)] for p in range(1, 6)}
        if answered:
            assert got_row["agree_share"] == round(100 * (counter["4"] + counter["5"]) / answered, 1)

    answered, counter = expected["Q4 Years"]
    assert got["years"]["answered"] == answered
    years = pd.Series([int(v) for v, k in counter.items() for _ in range(k)], dtype=float)
    if answered:
        assert got["years"]["mean"] == round(years.mean(), 2)
        assert got["years"]["median"] == years.median()
        assert got["years"]["min"] == years.min() and got["years"]["max"] == years.max()
    if answered > 1:
        assert got["years"]["sd"] == round(years.std(), 2)  # pandas: sample sd (ddof=1)

    assert got["comments"]["answers"] == expected["Q6"]
    assert got["comments"]["answered"] == len(expected["Q6"])


def test_values_outside_the_definition_are_counted_after_the_known_ones():
    recs = [ResponseRecord(1, None, {"familiar": "Maybe", "scale": 9}), ResponseRecord(2, None, {"familiar": "Yes"})]
    tally = tally_rows(DEFINITION, (a for r in recs for a in answer_rows(DEFINITION, r)), responses=2)
    got = {q["code"]: q for q in survey_results(DEFINITION, tally)["questions"]}
    assert got["familiar"]["counts"] == {"Yes": 1, "No": 0, "Maybe": 1}
    assert got["scale"]["counts"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "9": 1}
    assert got["scale"]["agree_share"] == 0.0


def test_no_answers_gives_zero_counts_and_no_percentages():
    got = {q["code"]: q for q in survey_results(DEFINITION, tally_rows(DEFINITION, [], responses=0))["questions"]}
    assert got["familiar"] == {**got["familiar"], "answered": 0, "counts": {"Yes": 0, "No": 0}}
    assert got["familiar"]["percentages"] == {"Yes": None, "No": None}
    assert got["years"]["mean"] is None and got["comments"]["answers"] == []


def test_wide_csv_has_codes_text_row_and_multi_as_indicator_columns():
    recs = records(raw_rows(30))
    text = csv_text(wide_rows(DEFINITION, recs, header="text"))
    table = list(csv.reader(io.StringIO(text)))
    header, labels, body = table[0], table[1], table[2:]
    assert header == [
        "response",
        "submitted",
        "familiar",
        "tools.1",
        "tools.2",
        "tools.3",
        "scale",
        "years",
        "wrong_shape.clear",
        "wrong_shape.relevant",
        "comments",
    ]
    assert labels[3] == "Which tools? - pdb"
    assert labels[4] == "Which tools? - =SUM(A1)"  # not a formula at the start of the cell: unchanged
    assert len(body) == 30
    frame = pd.read_csv(io.StringIO(text), skiprows=[1], keep_default_na=False, dtype=str)
    for rec, (_, row) in zip(recs, frame.iterrows(), strict=True):
        tools = rec.answers.get("tools")
        for n, option in enumerate(("pdb", "=SUM(A1)", "prints"), start=1):
            assert row[f"tools.{n}"] == ("" if not tools else str(int(option in tools)))
        assert row["familiar"] == rec.answers["familiar"]
        comment = rec.answers.get("comments", "")
        assert row["comments"] == ("'" + comment if comment[:1] in "=-" and comment else comment)


def test_numeric_coding_writes_option_positions():
    recs = [ResponseRecord("r1", datetime.date(2026, 12, 1), {"familiar": "No", "tools": ["prints"], "scale": 2})]
    (header, row) = list(wide_rows(DEFINITION, recs, coding="numeric"))
    assert dict(zip(header, row, strict=True)) == {
        "response": "r1",
        "submitted": "2026-12-01",
        "familiar": 2,
        "tools.1": 0,
        "tools.2": 0,
        "tools.3": 1,
        "scale": 2,
        "years": None,
        "wrong_shape.clear": None,
        "wrong_shape.relevant": None,
        "comments": None,
    }


def test_long_csv_one_row_per_answer_with_the_category():
    recs = [
        ResponseRecord(
            7, datetime.date(2026, 12, 1), {"familiar": "Yes", "tools": ["pdb", "prints"], "wrong_shape": {"clear": 5}}
        )
    ]
    assert list(long_rows(DEFINITION, recs)) == [
        ["response", "submitted", "question", "row", "value", "dimension", "category"],
        [7, "2026-12-01", "familiar", "", "Yes", "", ""],
        [7, "2026-12-01", "tools", "", "pdb", "", ""],
        [7, "2026-12-01", "tools", "", "prints", "", ""],
        [7, "2026-12-01", "wrong_shape", "clear", 5, "effect", "wrong_shape"],
    ]


def test_category_rows_join_key_is_dimension_and_category():
    rows = raw_rows(50)
    table = list(category_rows(DEFINITION, results_of(rows)))
    assert table[0][:4] == ["dimension", "category", "question", "row"]
    assert [r[:4] for r in table[1:]] == [
        ["effect", "wrong_shape", "wrong_shape", "clear"],
        ["effect", "wrong_shape", "wrong_shape", "relevant"],
    ]
    answered, counter = expected_results(rows)["Q5a Clear"]
    assert table[1][5] == answered
    assert table[1][6] == round(100 * (counter["4"] + counter["5"]) / answered, 1)


def test_spss_syntax_names_every_wide_column_and_labels_options():
    syntax = spss_syntax(DEFINITION, filename="s.csv")
    for name in ("familiar", "tools.1", "wrong_shape.clear", "comments"):
        assert f"  {name} " in syntax
    assert '/familiar 1 "Yes" 2 "No"' in syntax or 'familiar 1 "Yes" 2 "No"' in syntax
    assert spss_name("1st question") == "v1st_question"
    assert spss_name("a.") == "a"


def test_each_kind_carries_only_its_own_figures():
    got = {q["code"]: q for q in results_of(raw_rows(10))["questions"]}
    assert set(got["familiar"]) == {"code", "kind", "text", "answered", "counts", "percentages"}
    assert "answers" not in got["tools"] and "rows" not in got["scale"]
    assert (got["scale"]["min"], got["scale"]["max"], got["scale"]["max_label"]) == (1, 5, "Agree")
    assert set(got["years"]) >= {"mean", "median", "sd", "min", "max"} and "counts" not in got["years"]


def test_diverging_bars_put_disagreement_left_and_agreement_right():
    from surveys.results_charts import question_chart

    got = {q["code"]: q for q in results_of(raw_rows(80))["questions"]}
    matrix = got["wrong_shape"]
    figure = question_chart(matrix)
    by_point: dict = {}
    for trace in figure["data"]:
        by_point.setdefault(trace["legendgroup"], []).append(trace["x"])
    for k, row in enumerate(matrix["rows"]):
        for point in ("1", "2"):
            assert by_point[point][0][k] == -row["percentages"][point]
        for point in ("4", "5"):
            assert by_point[point][0][k] == row["percentages"][point]
        left, right = by_point["3"][0][k], by_point["3"][1][k]  # the middle point split across zero
        assert left == -right and abs(right * 2 - row["percentages"]["3"]) < 1e-9
        assert figure["data"][0]["y"][k].endswith(f"({row['agree_share']}% 4-5)")
    # stacked outwards from zero: on each side the point nearest the middle comes first
    order = [t["legendgroup"] for t in figure["data"]]
    assert order == ["3", "2", "1", "3", "4", "5"]
    assert question_chart(got["years"]) is None and question_chart(got["comments"]) is None
    assert question_chart(got["familiar"])["data"][0]["x"] == list(got["familiar"]["counts"].values())
