"""labelling/dataset/export.py (issue 12): status_<dimension> and method_<dimension> in the CSV,
the long format (one row per label) and the JSONL's annotations list."""

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as dj_timezone

from labelling.dataset.export import export_chunks, label_status
from labelling.models import Annotation, Dimension, FinalLabel
from labelling.selectors.labelling import disagreements_for
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    DimensionFactory,
    FinalLabelFactory,
    ReportFactory,
    StudyItemFactory,
    UserFactory,
)


def text(study, fmt, **kwargs) -> str:
    return "".join(export_chunks(study=study, fmt=fmt, **kwargs))


def rows(study, fmt="csv", **kwargs) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text(study, fmt, **kwargs), newline="")))


@pytest.fixture
def cases(small_study):
    """One item per status case (k = 2; alice and bob annotate). Dimensions: symptom, component."""
    s = small_study
    study = s["study"]
    alice, bob = s["ann1"], s["ann2"]
    done = dj_timezone.now()

    def item(name):
        return StudyItemFactory(study=study, report=ReportFactory(source_id=f"gh#{name}"))

    def finished(it, *who):
        for user in who:
            AssignmentFactory(item=it, annotator=user, completed_at=done)

    def label(it, user, dimension, value, **kwargs):
        return AnnotationFactory(item=it, annotator=user, dimension=s[dimension], value=value, **kwargs)

    # final: both agreed on symptom (unanimous); component adjudicated to an empty value.
    agreed = item("agreed")
    finished(agreed, alice, bob)
    label(agreed, alice, "symptom", "crash")
    label(agreed, bob, "symptom", "crash")
    label(agreed, alice, "component", "layers")
    label(agreed, bob, "component", "model")
    FinalLabelFactory(item=agreed, dimension=s["symptom"], value="crash", method=FinalLabel.Method.UNANIMOUS)
    FinalLabelFactory(
        item=agreed, dimension=s["component"], value="", method=FinalLabel.Method.ADJUDICATED, decided_by=s["owner"]
    )
    # disagreement on symptom; component: one gave a value, the other left it empty -> disagreement too.
    differ = item("differ")
    finished(differ, alice, bob)
    label(differ, alice, "symptom", "crash")
    label(differ, bob, "symptom", "hang")
    label(differ, alice, "component", "layers")
    label(differ, bob, "component", "")
    # both finished and left component empty (symptom majority-decided by the other helper's rule).
    blank = item("blank")
    finished(blank, alice, bob)
    label(blank, alice, "symptom", "crash")
    label(blank, bob, "symptom", "hang")
    FinalLabelFactory(item=blank, dimension=s["symptom"], value="hang", method=FinalLabel.Method.MAJORITY)
    # pending: one of two finished; the other has not started.
    half = item("half")
    finished(half, alice)
    AssignmentFactory(item=half, annotator=bob, completed_at=None)
    label(half, alice, "symptom", "crash")
    label(half, alice, "component", "model")
    # pending too: assigned, nobody finished; an unfinished annotator's value does not count.
    started = item("started")
    AssignmentFactory(item=started, annotator=alice, completed_at=None)
    AssignmentFactory(item=started, annotator=bob, completed_at=None)
    label(started, alice, "symptom", "hang")
    # nobody asked: no assignment at all.
    unasked = item("unasked")
    return {**s, "agreed": agreed, "differ": differ, "blank": blank, "half": half, "started": started,
            "unasked": unasked}  # fmt: skip


def test_each_status_case(cases):
    by_id = {r["source_id"]: r for r in rows(cases["study"])}
    found = {sid[3:]: (r["status_symptom"], r["status_component"]) for sid, r in by_id.items()}
    assert found == {
        "agreed": ("final", "empty"),  # empty: adjudicated to an empty value
        "differ": ("disagreement", "disagreement"),
        "blank": ("final", "empty"),  # empty: both finished and left it empty
        "half": ("pending", "pending"),
        "started": ("pending", "pending"),
        "unasked": ("empty", "empty"),  # nobody was asked
    }
    # The final cell is empty exactly where the status is not "final".
    for r in by_id.values():
        for code in ("symptom", "component"):
            assert (r[code] != "") == (r[f"status_{code}"] == "final")


def test_the_disagreement_status_is_what_the_disagreements_list_shows(cases):
    """An independent reading: the disagreements page's selector finds the same (item, dimension) pairs."""
    study = cases["study"]
    listed = {
        (d.item.report.source_id, dd.dimension.code) for d in disagreements_for(study=study) for dd in d.dimensions
    }
    exported = {
        (r["source_id"], code)
        for r in rows(study)
        for code in ("symptom", "component")
        if r[f"status_{code}"] == "disagreement"
    }
    assert exported == listed == {("gh#differ", "symptom"), ("gh#differ", "component")}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_status_costs_a_fixed_number_of_queries_per_chunk(cases, fmt):
    study = cases["study"]
    with CaptureQueriesContext(connection) as whole:
        everything = text(study, fmt)
    with CaptureQueriesContext(connection) as chunked:
        assert text(study, fmt, chunk_size=1) == everything
    # csv: the chunk's last id and its rows (statuses in SQL); jsonl: items, finals, assignment counts,
    # labels given, labels, source labels
    per_chunk = 2 if fmt == "csv" else 6
    assert len(whole.captured_queries) == 1 + per_chunk
    assert len(chunked.captured_queries) <= 1 + 6 * per_chunk  # 6 items, one chunk each


def test_method_columns_say_how_each_final_label_was_made(cases):
    by_id = {r["source_id"]: r for r in rows(cases["study"])}
    assert (by_id["gh#agreed"]["method_symptom"], by_id["gh#agreed"]["method_component"]) == (
        "unanimous",
        "adjudicated",
    )
    assert (by_id["gh#blank"]["method_symptom"], by_id["gh#blank"]["method_component"]) == ("majority", "")
    assert by_id["gh#differ"]["method_symptom"] == ""


def test_the_method_is_read_as_stored_not_from_a_fixed_list(cases):
    FinalLabel.objects.filter(item=cases["blank"]).update(method="consensus-vote")
    (row,) = [r for r in rows(cases["study"]) if r["source_id"] == "gh#blank"]
    assert (row["method_symptom"], row["status_symptom"]) == ("consensus-vote", "final")
    (obj,) = [o for o in map(json.loads, text(cases["study"], "jsonl").splitlines()) if o["source_id"] == "gh#blank"]
    assert obj["final_labels"]["symptom"]["method"] == "consensus-vote"


def test_the_status_follows_the_study_overlap(cases):
    study = cases["study"]
    study.overlap_k = 1
    study.save(update_fields=["overlap_k"])
    (half,) = [r for r in rows(study) if r["source_id"] == "gh#half"]
    assert (half["status_symptom"], half["status_component"]) == ("disagreement", "disagreement")


@pytest.mark.parametrize(
    ("final_value", "assigned", "complete", "k", "given", "status"),
    [
        ("crash", 0, 0, 2, 0, "final"),
        ("", 2, 2, 2, 0, "empty"),
        (None, 0, 0, 2, 0, "empty"),
        (None, 2, 1, 2, 1, "pending"),
        (None, 3, 2, 2, 1, "disagreement"),
        (None, 2, 2, 2, 0, "empty"),
        (None, 1, 0, 0, 0, "pending"),  # k = 0 is read as 1
    ],
)
def test_label_status_rule(final_value, assigned, complete, k, given, status):
    assert label_status(final_value=final_value, assigned=assigned, complete=complete, k=k, given=given) == status


def test_a_dimension_named_like_a_status_column_does_not_collide(small_study):
    DimensionFactory(codebook=small_study["study"].codebook, code="status_symptom", order=9)
    StudyItemFactory(study=small_study["study"])
    header = next(csv.reader(io.StringIO(text(small_study["study"], "csv"))))
    assert len(header) == len(set(header))
    assert "final_status_symptom" in header and "status_status_symptom" in header


# ------------------------------------------------------------------------------ the long format


@pytest.fixture
def labelled(small_study):
    s = small_study
    study = s["study"]
    fix = DimensionFactory(codebook=study.codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    first = StudyItemFactory(study=study, report=ReportFactory(source_id="gh#1"))
    second = StudyItemFactory(study=study, report=ReportFactory(source_id="=gh#2"))
    StudyItemFactory(study=study, report=ReportFactory(source_id="gh#3"))  # no labels: no rows
    zed = UserFactory(username="zed")
    AnnotationFactory(item=first, annotator=zed, dimension=s["symptom"], value="hang")
    AnnotationFactory(item=first, annotator=s["ann2"], dimension=fix, value='pad, then "call"\nagain', note="-x")
    AnnotationFactory(item=first, annotator=s["ann2"], dimension=s["symptom"], value="crash", time_spent_ms=4200)
    AnnotationFactory(item=first, annotator=s["ann1"], dimension=s["component"], value="layers;model", note="@n")
    AnnotationFactory(item=second, annotator=s["ann1"], dimension=s["symptom"], value="")
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    Annotation.objects.filter(item=second).update(created_at=when, updated_at=when + timedelta(minutes=5))
    # Another study's labels stay out.
    other = StudyItemFactory(report=ReportFactory(source_id="gh#other"))
    AnnotationFactory(item=other, annotator=s["ann1"], dimension=DimensionFactory(codebook=other.study.codebook))
    return {**s, "fix": fix, "first": first, "second": second}


def test_long_has_one_row_per_item_annotator_and_dimension_in_order(labelled):
    found = rows(labelled["study"], "long")
    assert list(found[0]) == [
        "source_id", "item_id", "annotator", "dimension", "value", "note", "time_spent_ms", "created_at", "updated_at",
    ]  # fmt: skip
    first, second = str(labelled["first"].id), str(labelled["second"].id)
    assert [(r["source_id"], r["item_id"], r["annotator"], r["dimension"]) for r in found] == [
        ("gh#1", first, "alice", "component"),
        ("gh#1", first, "bob", "symptom"),  # codebook order: symptom, component, fix
        ("gh#1", first, "bob", "fix"),
        ("gh#1", first, "zed", "symptom"),
        ("'=gh#2", second, "alice", "symptom"),  # spreadsheet-safe
    ]
    assert found[0]["value"] == "layers;model" and found[0]["note"] == "'@n"
    assert found[1]["time_spent_ms"] == "4200"
    assert found[2]["value"] == 'pad, then "call"\nagain' and found[2]["note"] == "'-x"  # quotes, newline survive
    assert found[4]["value"] == ""  # an empty label is still a label


def test_long_timestamps_are_iso_8601_utc(labelled):
    row = rows(labelled["study"], "long")[-1]
    assert row["created_at"] == "2024-05-06T05:08:09.123456+00:00"
    assert row["updated_at"] == "2024-05-06T05:13:09.123456+00:00"
    for r in rows(labelled["study"], "long"):
        stored = Annotation.objects.get(
            item_id=r["item_id"], annotator__username=r["annotator"], dimension__code=r["dimension"]
        )
        assert datetime.fromisoformat(r["created_at"]) == stored.created_at
        assert datetime.fromisoformat(r["updated_at"]).utcoffset() == timedelta(0)


def test_long_is_streamed_in_chunks_with_constant_queries(labelled):
    study = labelled["study"]
    expected = rows(study, "long")
    for chunk_size in (1, 2, 5):
        assert rows(study, "long", chunk_size=chunk_size) == expected
    with CaptureQueriesContext(connection) as one_chunk:
        text(study, "long")
    for _ in range(10):
        item = StudyItemFactory(study=study)
        for user in ("ann1", "ann2"):
            AnnotationFactory(item=item, annotator=labelled[user], dimension=labelled["symptom"], value="crash")
    with CaptureQueriesContext(connection) as more:
        text(study, "long")
    assert len(more.captured_queries) == len(one_chunk.captured_queries) == 3  # codebook, items, labels


def test_jsonl_annotations_hold_every_label_with_the_long_fields(labelled):
    objects = [json.loads(line) for line in text(labelled["study"], "jsonl").splitlines()]
    first, second, third = objects
    assert first["item_id"] == labelled["first"].id
    assert [(a["annotator"], a["dimension"], a["value"]) for a in first["annotations"]] == [
        ("alice", "component", ["layers", "model"]),  # multiple choice as a list, as in final_labels
        ("bob", "symptom", "crash"),
        ("bob", "fix", 'pad, then "call"\nagain'),
        ("zed", "symptom", "hang"),
    ]
    assert first["annotations"][1]["time_spent_ms"] == 4200
    assert second["source_id"] == "=gh#2"  # as stored
    (label,) = second["annotations"]
    assert label == {
        "annotator": "alice",
        "dimension": "symptom",
        "value": "",
        "note": "",
        "time_spent_ms": 0,
        "created_at": "2024-05-06T05:08:09.123456+00:00",
        "updated_at": "2024-05-06T05:13:09.123456+00:00",
    }
    assert third["annotations"] == [] and third["status"] == {"symptom": "empty", "component": "empty", "fix": "empty"}
    # The long CSV and the JSONL hold the same labels.
    long = [(r["source_id"], r["annotator"], r["dimension"]) for r in rows(labelled["study"], "long")]
    assert long == [
        (o["source_id"] if not o["source_id"].startswith("=") else "'" + o["source_id"], a["annotator"], a["dimension"])
        for o in objects
        for a in o["annotations"]
    ]


def test_export_command_writes_the_long_format(labelled, tmp_path):
    target = tmp_path / "small.long.csv"
    err = io.StringIO()
    call_command("export_study", "small", "--format", "long", "--output", str(target), stderr=err)
    found = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert found == rows(labelled["study"], "long") and len(found) == 5
    assert "Wrote the 3 items" in err.getvalue()
