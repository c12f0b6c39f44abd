"""labelling/dataset/export.py: the rows, the CSV and JSONL writers, and streaming in chunks."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.csvsafe import safe_cell
from labelling.dataset.export import export_chunks
from labelling.models import Dimension, FinalLabel, StudyItem
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    CategoryFactory,
    DimensionFactory,
    FinalLabelFactory,
    ReportFactory,
    StudyFactory,
    StudyItemFactory,
)
from triage.models import SourceLabel

NASTY_TITLE = 'conv2d, "same" padding\nbreaks — ünïcode ✓ 🚀'


def export_text(study, fmt, **kwargs) -> str:
    return "".join(export_chunks(study=study, fmt=fmt, **kwargs))


def csv_rows(study, **kwargs) -> list[dict]:
    return list(csv.DictReader(io.StringIO(export_text(study, "csv", **kwargs), newline="")))


def jsonl_objects(study, **kwargs) -> list[dict]:
    text = export_text(study, "jsonl", **kwargs)
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def dataset(small_study):
    """Three items: one fully labelled with a nasty title, one excluded, one with formula-like text."""
    s = small_study
    study = s["study"]
    notes = DimensionFactory(codebook=study.codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    created = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    labelled = StudyItemFactory(
        study=study,
        report=ReportFactory(
            source_id="github:pytorch/pytorch#1", title=NASTY_TITLE, created_at=created, closed_at=None
        ),
    )
    labelled.report.source_labels.add(
        SourceLabel.objects.create(name="module: nn"), SourceLabel.objects.create(name="bug")
    )
    excluded = StudyItemFactory(
        study=study,
        report=ReportFactory(source_id="github:pytorch/pytorch#2", title="Question about docs"),
        screening=StudyItem.Screening.EXCLUDED,
        exclusion_reason="Not a framework bug",
    )
    formula = StudyItemFactory(
        study=study, report=ReportFactory(source_id="github:pytorch/pytorch#3", title='=HYPERLINK("http://x")')
    )
    done = timezone.now()
    for who in ("ann1", "ann2"):
        AssignmentFactory(item=labelled, annotator=s[who], completed_at=done)
    AssignmentFactory(item=formula, annotator=s["ann1"], completed_at=done)
    AssignmentFactory(item=formula, annotator=s["ann2"], completed_at=None)
    AnnotationFactory(
        item=labelled, annotator=s["ann1"], dimension=s["symptom"], value="crash", note='segfault, "core"'
    )
    AnnotationFactory(item=labelled, annotator=s["ann1"], dimension=s["component"], value="layers;model")
    AnnotationFactory(item=labelled, annotator=s["ann2"], dimension=s["symptom"], value="crash")
    AnnotationFactory(item=labelled, annotator=s["ann2"], dimension=s["component"], value="layers")
    FinalLabelFactory(item=labelled, dimension=s["symptom"], value="crash", method=FinalLabel.Method.UNANIMOUS)
    FinalLabelFactory(
        item=labelled,
        dimension=s["component"],
        value="layers;model",
        method=FinalLabel.Method.ADJUDICATED,
        decided_by=s["owner"],
        rationale='=both, "see" the trace',
    )
    FinalLabelFactory(
        item=labelled, dimension=notes, value="pad input, then call", method=FinalLabel.Method.ADJUDICATED
    )
    FinalLabelFactory(item=formula, dimension=notes, value="+SUM(A1:A9)", method=FinalLabel.Method.IMPORTED)
    # Another study's item and labels must not leak in.
    other = StudyFactory(slug="other")
    other_dim = DimensionFactory(codebook=other.codebook, code="symptom")
    other_item = StudyItemFactory(study=other, report=ReportFactory(source_id="github:other#9"))
    FinalLabelFactory(item=other_item, dimension=other_dim, value="x")
    return {**s, "fix": notes, "labelled": labelled, "excluded": excluded, "formula": formula}


def test_csv_has_one_row_per_item_with_final_labels_in_dimension_columns(dataset):
    text = export_text(dataset["study"], "csv")
    header = next(csv.reader(io.StringIO(text)))
    assert header == [
        "source_id", "title", "url", "framework", "kind", "screening", "exclusion_reason",
        "symptom", "component", "fix", "n_annotations_complete",
        "status_symptom", "status_component", "status_fix", "method_symptom", "method_component", "method_fix",
        "adjudicator_symptom", "adjudicator_component", "adjudicator_fix",
        "rationale_symptom", "rationale_component", "rationale_fix",
    ]  # fmt: skip
    rows = csv_rows(dataset["study"])
    assert [r["source_id"] for r in rows] == [
        "github:pytorch/pytorch#1",
        "github:pytorch/pytorch#2",
        "github:pytorch/pytorch#3",
    ]
    first, excluded, formula = rows
    assert first["title"] == NASTY_TITLE  # commas, quotes, a newline and unicode survive the round trip
    assert first["url"] == "https://github.com/pytorch/pytorch/issues/1"
    assert (first["framework"], first["kind"], first["screening"]) == ("pytorch", "issue", "included")
    assert (first["symptom"], first["component"], first["fix"]) == ("crash", "layers;model", "pad input, then call")
    assert first["n_annotations_complete"] == "2"
    # Who decided each final label and why: empty for the automatic rule, quoted against formulas.
    assert (first["method_symptom"], first["adjudicator_symptom"], first["rationale_symptom"]) == ("unanimous", "", "")
    assert (first["method_component"], first["adjudicator_component"], first["rationale_component"]) == (
        "adjudicated",
        "olivia",
        '\'=both, "see" the trace',
    )
    # An item without final labels has empty cells; the excluded item says why.
    assert (excluded["symptom"], excluded["component"], excluded["fix"]) == ("", "", "")
    assert (excluded["screening"], excluded["exclusion_reason"]) == ("excluded", "Not a framework bug")
    assert excluded["n_annotations_complete"] == "0"
    assert formula["n_annotations_complete"] == "1"  # the unfinished assignment does not count


def test_csv_keeps_per_annotator_labels_out(dataset):
    text = export_text(dataset["study"], "csv")
    assert "segfault" not in text
    assert "alice" not in text and "bob" not in text


def test_csv_quotes_formula_like_titles_and_free_text(dataset):
    formula = csv_rows(dataset["study"])[2]
    assert formula["title"] == '\'=HYPERLINK("http://x")'
    assert formula["fix"] == "'+SUM(A1:A9)"
    assert [safe_cell(t) for t in ("-1", "@x", "\tx", "a=b", "")] == ["'-1", "'@x", "'\tx", "a=b", ""]


def test_jsonl_has_final_labels_annotations_and_report_facts(dataset):
    first, excluded, formula = jsonl_objects(dataset["study"])
    assert first["source_id"] == "github:pytorch/pytorch#1"
    assert first["title"] == NASTY_TITLE
    assert first["symptom"] == "crash" and first["component"] == "layers;model"
    assert first["n_annotations_complete"] == 2
    assert first["final_labels"] == {
        "symptom": {"value": "crash", "method": "unanimous", "adjudicator": None, "rationale": ""},
        "component": {
            "value": ["layers", "model"],
            "method": "adjudicated",
            "adjudicator": "olivia",
            "rationale": '=both, "see" the trace',
        },
        "fix": {"value": "pad input, then call", "method": "adjudicated", "adjudicator": None, "rationale": ""},
    }
    assert [(a["annotator"], a["dimension"], a["value"], a["note"]) for a in first["annotations"]] == [
        ("alice", "symptom", "crash", 'segfault, "core"'),
        ("alice", "component", ["layers", "model"], ""),
        ("bob", "symptom", "crash", ""),
        ("bob", "component", ["layers"], ""),
    ]
    assert {a["time_spent_ms"] for a in first["annotations"]} == {0}
    assert first["item_id"] == dataset["labelled"].id
    assert first["status"] == {"symptom": "final", "component": "final", "fix": "final"}
    assert first["report"] == {
        "created_at": "2021-03-04T05:06:07+00:00",
        "closed_at": None,
        "state": "closed",
        "labels": ["bug", "module: nn"],
    }
    assert excluded["final_labels"] == {} and excluded["annotations"] == []
    assert excluded["status"] == {"symptom": "empty", "component": "empty", "fix": "empty"}
    assert excluded["symptom"] == "" and excluded["exclusion_reason"] == "Not a framework bug"
    assert formula["title"] == '=HYPERLINK("http://x")'  # JSONL is left as written
    assert formula["final_labels"]["fix"] == {
        "value": "+SUM(A1:A9)",
        "method": "imported",
        "adjudicator": None,
        "rationale": "",
    }


def test_a_dimension_named_like_a_column_gets_a_prefixed_header(dataset):
    DimensionFactory(codebook=dataset["study"].codebook, code="title", order=9)
    rows = csv_rows(dataset["study"])
    assert rows[0]["title"] == NASTY_TITLE and rows[0]["final_title"] == ""


def test_chunks_cover_every_item_once_in_id_order(dataset):
    study = dataset["study"]
    extra = [StudyItemFactory(study=study, screening=StudyItem.Screening.PENDING) for _ in range(4)]
    FinalLabelFactory(item=extra[-1], dimension=dataset["symptom"], value="hang")
    expected = list(StudyItem.objects.filter(study=study).order_by("id").values_list("report__source_id", flat=True))
    for chunk_size in (1, 2, 3, 7, 2000):
        rows = csv_rows(study, chunk_size=chunk_size)
        assert [r["source_id"] for r in rows] == expected
        assert rows[-1]["symptom"] == "hang" and rows[0]["symptom"] == "crash"
        objects = jsonl_objects(study, chunk_size=chunk_size)
        assert [o["source_id"] for o in objects] == expected
        assert sorted({a["annotator"] for a in objects[0]["annotations"]}) == ["alice", "bob"]


def _queries(study, fmt, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        export_text(study, fmt, **kwargs)
    return len(ctx.captured_queries)


@pytest.mark.parametrize("fmt", ["csv", "long", "jsonl"])
def test_query_count_does_not_grow_with_the_number_of_items(dataset, fmt):
    study = dataset["study"]
    few = _queries(study, fmt)
    for _ in range(30):
        item = StudyItemFactory(study=study)
        FinalLabelFactory(item=item, dimension=dataset["symptom"], value="crash")
        AnnotationFactory(item=item, annotator=dataset["ann1"], dimension=dataset["symptom"], value="crash")
        AssignmentFactory(item=item, annotator=dataset["ann1"], completed_at=timezone.now())
        item.report.source_labels.add(SourceLabel.objects.get_or_create(name="bug")[0])
    many = _queries(study, fmt)
    assert few == many
    # With smaller chunks it grows with the number of chunks only: the codebook query, then
    # the same queries for each of the 4 chunks of 33 items.
    per_chunk = many - 1
    assert _queries(study, fmt, chunk_size=9) == 1 + 4 * per_chunk


def test_an_empty_study_exports_a_header_only(small_study):
    assert export_text(small_study["study"], "csv").splitlines() == [
        "source_id,title,url,framework,kind,screening,exclusion_reason,symptom,component,n_annotations_complete,"
        "status_symptom,status_component,method_symptom,method_component,"
        "adjudicator_symptom,adjudicator_component,rationale_symptom,rationale_component"
    ]
    assert export_text(small_study["study"], "long").splitlines() == [
        "source_id,item_id,annotator,dimension,value,note,time_spent_ms,created_at,updated_at"
    ]
    assert export_text(small_study["study"], "jsonl") == ""


def test_the_export_is_a_generator_that_reads_lazily(dataset):
    chunks = export_chunks(study=dataset["study"], fmt="csv", chunk_size=1)
    with CaptureQueriesContext(connection) as ctx:
        next(chunks)  # the header
    header_queries = len(ctx.captured_queries)
    with CaptureQueriesContext(connection) as ctx:
        first_row = next(chunks)
    # the chunk's last id, then its rows with every cell computed in SQL (labelling/dataset/wide_csv.py)
    assert header_queries == 1 and len(ctx.captured_queries) == 2
    assert first_row.startswith("github:pytorch/pytorch#1,")
    with pytest.raises(ValueError, match="use one of: csv, long, jsonl"):
        export_chunks(study=dataset["study"], fmt="xlsx")


def test_multi_choice_is_codes_joined_in_csv_and_a_list_in_jsonl(small_study):
    extra = CategoryFactory(dimension=small_study["component"], code="data", name="Data")
    item = StudyItemFactory(study=small_study["study"])
    FinalLabelFactory(item=item, dimension=small_study["component"], value=f"{extra.code};layers")
    assert csv_rows(small_study["study"])[0]["component"] == "data;layers"
    assert jsonl_objects(small_study["study"])[0]["final_labels"]["component"]["value"] == ["data", "layers"]
