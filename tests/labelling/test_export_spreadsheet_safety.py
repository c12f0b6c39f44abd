"""CSV formula injection (issue 10, point 6): every text cell of the study export is made safe
for spreadsheets (config/csvsafe.py), the JSONL keeps every value as stored, and the label
import reads cells literally, explaining a source_id copied from the CSV with its quote."""

import csv
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Annotation, Dimension, FinalLabel, StudyItem
from labelling.services.label_import import labels_import
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    CategoryFactory,
    DimensionFactory,
    FinalLabelFactory,
    ReportFactory,
    StudyItemFactory,
)

SOURCE_ID = "=cmd|' /C calc'!A0"
HOSTILE = {
    "source_id": SOURCE_ID,
    "title": "+SUM(A1:A9) conv2d crashes",
    "url": "@SUM(1+1)",
    "framework": "-2+3",
    "exclusion_reason": '\t=HYPERLINK("http://evil.example")',
}
FIX_TEXT = '=HYPERLINK("http://evil.example","click")'
NOTE = "@note that looks like a formula"


@pytest.fixture
def hostile(small_study):
    s = small_study
    study = s["study"]
    fix = DimensionFactory(codebook=study.codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    CategoryFactory(dimension=s["symptom"], code="-odd", name="Odd", order=9)
    item = StudyItemFactory(
        study=study,
        report=ReportFactory(
            source_id=HOSTILE["source_id"], title=HOSTILE["title"], url=HOSTILE["url"], framework=HOSTILE["framework"]
        ),
        screening=StudyItem.Screening.EXCLUDED,
        exclusion_reason=HOSTILE["exclusion_reason"],
    )
    AssignmentFactory(item=item, annotator=s["ann1"], completed_at=timezone.now())
    AnnotationFactory(item=item, annotator=s["ann1"], dimension=s["symptom"], value="-odd", note=NOTE)
    FinalLabelFactory(item=item, dimension=s["symptom"], value="-odd", method=FinalLabel.Method.ADJUDICATED)
    FinalLabelFactory(item=item, dimension=fix, value=FIX_TEXT, method=FinalLabel.Method.ADJUDICATED)
    return {**s, "item": item, "fix": fix}


def _download(api_client, user, fmt: str) -> str:
    api_client.force_authenticate(user)
    response = api_client.get(reverse("labelling-api:study-export", args=["small"]), {"format": fmt})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


def test_every_text_cell_of_the_csv_export_is_neutralised(api_client, hostile):
    (row,) = csv.DictReader(io.StringIO(_download(api_client, hostile["owner"], "csv"), newline=""))
    for column, value in HOSTILE.items():
        assert row[column] == "'" + value, column
    assert row["symptom"] == "'-odd"  # a category code is a text cell too
    assert row["fix"] == "'" + FIX_TEXT
    assert (row["kind"], row["screening"]) == ("issue", "excluded")  # ordinary text is untouched
    assert row["n_annotations_complete"] == "1"  # a number, never quoted


@pytest.mark.parametrize("fmt", ["csv", "long"])
def test_no_cell_of_the_csv_starts_with_a_formula_character(client, hostile, fmt):
    client.force_login(hostile["viewer"])
    response = client.get(reverse("labelling:export", args=["small", fmt]))
    body = b"".join(response.streaming_content).decode("utf-8")
    cells = [cell for row in csv.reader(io.StringIO(body, newline="")) for cell in row]
    assert cells and not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_jsonl_export_keeps_every_value_as_stored(api_client, hostile):
    (obj,) = [json.loads(line) for line in _download(api_client, hostile["owner"], "jsonl").splitlines()]
    for column, value in HOSTILE.items():
        assert obj[column] == value, column
    assert obj["fix"] == FIX_TEXT
    assert obj["final_labels"]["symptom"] == {
        "value": "-odd",
        "method": "adjudicated",
        "adjudicator": None,
        "rationale": "",
    }
    (label,) = obj["annotations"]
    assert (label["annotator"], label["dimension"], label["value"], label["note"]) == ("alice", "symptom", "-odd", NOTE)
    assert obj["status"]["fix"] == "final" and obj["final_labels"]["fix"]["method"] == "adjudicated"


def test_every_text_cell_of_the_long_export_is_neutralised(api_client, hostile):
    (row,) = csv.DictReader(io.StringIO(_download(api_client, hostile["owner"], "long"), newline=""))
    assert row["source_id"] == "'" + SOURCE_ID
    assert (row["annotator"], row["dimension"], row["value"], row["note"]) == ("alice", "symptom", "'-odd", "'" + NOTE)
    assert row["item_id"] == str(hostile["item"].id) and row["time_spent_ms"] == "0"  # numbers, never quoted


def _label_file(source_id: str) -> io.BytesIO:
    out = io.StringIO()
    csv.writer(out).writerows(
        [("source_id", "annotator", "dimension", "value", "note"), (source_id, "bob", "symptom", "crash", "")]
    )
    return io.BytesIO(out.getvalue().encode("utf-8"))


def test_the_csv_is_for_spreadsheets_a_source_id_copied_from_it_is_refused_with_the_fix(api_client, hostile):
    """The label import does not guess: a quoted source_id read by a program from the CSV is
    refused, saying to drop the quote or take the value from the JSONL; the JSONL's works."""
    (row,) = csv.DictReader(io.StringIO(_download(api_client, hostile["owner"], "csv"), newline=""))
    with pytest.raises(ApplicationError) as caught:
        labels_import(study=hostile["study"], source=_label_file(row["source_id"]))
    (problem,) = caught.value.details
    assert (problem["line"], problem["field"]) == (2, "source_id")
    assert "without the leading '" in problem["message"] and "JSONL" in problem["message"]
    assert not Annotation.objects.filter(annotator=hostile["ann2"]).exists()

    (obj,) = [json.loads(line) for line in _download(api_client, hostile["owner"], "jsonl").splitlines()]
    labels_import(study=hostile["study"], source=_label_file(obj["source_id"]))
    assert Annotation.objects.get(annotator=hostile["ann2"], item=hostile["item"]).value == "crash"
