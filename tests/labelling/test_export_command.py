"""labelling/management/commands/export_study.py: the CLI export to stdout or a file."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from labelling.models import FinalLabel
from tests.factories import FinalLabelFactory, ReportFactory, StudyItemFactory


@pytest.fixture
def study(small_study):
    item = StudyItemFactory(
        study=small_study["study"], report=ReportFactory(source_id="github:a/b#1", title='A "quoted", title')
    )
    FinalLabelFactory(item=item, dimension=small_study["symptom"], value="hang", method=FinalLabel.Method.ADJUDICATED)
    StudyItemFactory(study=small_study["study"], report=ReportFactory(source_id="github:a/b#2", title="-1 is wrong"))
    return small_study["study"]


def test_csv_goes_to_stdout_by_default(study):
    out = io.StringIO()
    call_command("export_study", "small", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [(r["source_id"], r["title"], r["symptom"]) for r in rows] == [
        ("github:a/b#1", 'A "quoted", title', "hang"),
        ("github:a/b#2", "'-1 is wrong", ""),
    ]


def test_jsonl_goes_to_the_output_file(study, tmp_path):
    target = tmp_path / "small.jsonl"
    out = io.StringIO()
    call_command(
        "export_study", "small", "--format", "jsonl", "--output", str(target), stdout=out, stderr=io.StringIO()
    )
    objects = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [o["source_id"] for o in objects] == ["github:a/b#1", "github:a/b#2"]
    assert objects[0]["final_labels"] == {
        "symptom": {"value": "hang", "method": "adjudicated", "adjudicator": None, "rationale": ""}
    }
    assert objects[1]["title"] == "-1 is wrong"
    assert out.getvalue() == ""  # nothing on stdout when writing a file


def test_csv_file_output_round_trips(study, tmp_path):
    target = tmp_path / "small.csv"
    call_command("export_study", "small", "-o", str(target), stderr=io.StringIO())
    with open(target, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["title"] == 'A "quoted", title' and rows[0]["n_annotations_complete"] == "0"


def test_unknown_study_is_a_command_error(study):
    with pytest.raises(CommandError, match="No study with slug 'nope'. Known studies: small"):
        call_command("export_study", "nope", stdout=io.StringIO())


def test_unknown_format_is_refused(study):
    with pytest.raises(CommandError, match="invalid choice: 'xlsx'"):
        call_command("export_study", "small", "--format", "xlsx", stdout=io.StringIO())


def test_unwritable_output_is_a_command_error(study, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_study", "small", "--output", str(tmp_path / "missing" / "x.csv"), stdout=io.StringIO())


def test_help_documents_the_spreadsheet_quote():
    from labelling.management.commands.export_study import Command

    assert "prefixed with a single quote" in Command.help
