"""labelling/dataset/wide_csv.py: the wide CSV computed in SQL (COPY on PostgreSQL) is byte for byte
the CSV of the previous export, kept here as the oracle: the ORM's rows pivoted in Python (the
export's chunked reader and status rule) and written by config.csvsafe.writer."""

import csv
import io
import random

import pytest
from django.utils import timezone

from config import csvsafe
from labelling.dataset.export import csv_header, export_chunks, export_columns, item_chunks, label_status
from labelling.models import Dimension, FinalLabel, StudyItem
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    CategoryFactory,
    DimensionFactory,
    FinalLabelFactory,
    ReportFactory,
    StudyItemFactory,
    UserFactory,
)


def oracle_csv(study) -> str:
    """The wide CSV as the export wrote it before its cells moved into SQL."""
    columns = export_columns(study)
    n = len(columns)
    no_finals = (None,) * (4 * n)
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(csv_header(columns))
    for chunk in item_chunks(study, columns, chunk_size=7, detailed=False):
        for item_id, *fields in chunk.items:
            finals = chunk.finals.get(item_id, no_finals)
            given = chunk.given.get(item_id)
            statuses = [
                label_status(
                    final_value=finals[i] if finals[n + i] is not None else None,
                    assigned=chunk.assigned.get(item_id, 0),
                    complete=chunk.complete.get(item_id, 0),
                    k=study.overlap_k,
                    given=given[i] if given else 0,
                )
                for i in range(n)
            ]
            writer.writerow(
                (*fields, *finals[:n], chunk.complete.get(item_id, 0), *statuses, *finals[n : 2 * n], *finals[2 * n :])
            )
    return out.getvalue()


# Text a CSV writer must get right: separators, quotes, line breaks, formula signs (ASCII and
# fullwidth), a leading space or quote (left alone), non-ASCII, and the empty string.
NASTY = [
    "",
    "plain",
    'a "quoted", value',
    "two\nlines",
    "windows\r\nline",
    "=1+1",
    "+SUM(A1)",
    "-2",
    "@x",
    "\ttab",
    "\rcr",
    "\uff1dfull",
    "\uff20at",
    " =spaced",
    "'=quoted",
    "ünïcode ✓ 🚀",
    "\\.",
    "trailing\n",
    ",",
    '"',
]


def _text(rng: random.Random) -> str:
    return rng.choice(NASTY) + (rng.choice(NASTY) if rng.random() < 0.3 else "")


def randomized_study(small_study, seed: int, *, k: int):
    rng = random.Random(seed)
    study = small_study["study"]
    study.overlap_k = k
    study.save(update_fields=["overlap_k"])
    symptom, component = small_study["symptom"], small_study["component"]
    fix = DimensionFactory(codebook=study.codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    CategoryFactory(dimension=symptom, code="-odd", name="Odd", order=9)
    choices = {symptom: ["crash", "hang", "-odd", ""], component: ["layers", "layers;model", "model", ""]}
    annotators = [small_study["ann1"], small_study["ann2"], UserFactory(username="=carl")]
    unassigned = UserFactory(username="eve")
    adjudicators = [None, small_study["owner"], UserFactory(username="@dora")]
    for n in range(40):
        item = StudyItemFactory(
            study=study,
            report=ReportFactory(
                source_id=f"{rng.choice(['github:x#', '=cmd', '-'])}{n}",
                title=_text(rng),
                url=rng.choice(["https://x.example/1", "", "@u"]),
                framework=rng.choice(["pytorch", "+tf"]),
            ),
            screening=rng.choice(list(StudyItem.Screening.values)),
            exclusion_reason=_text(rng),
        )
        for annotator in rng.sample(annotators, rng.randint(0, 3)):
            AssignmentFactory(
                item=item, annotator=annotator, completed_at=timezone.now() if rng.random() < 0.7 else None
            )
            for dimension in (symptom, component, fix):
                if rng.random() < 0.8:
                    value = _text(rng) if dimension is fix else rng.choice(choices[dimension])
                    AnnotationFactory(item=item, annotator=annotator, dimension=dimension, value=value, note=_text(rng))
        if rng.random() < 0.15:  # a label by someone with no assignment: not counted as given
            AnnotationFactory(item=item, annotator=unassigned, dimension=symptom, value="crash")
        for dimension in (symptom, component, fix):
            if rng.random() < 0.5:
                FinalLabelFactory(
                    item=item,
                    dimension=dimension,
                    value=_text(rng) if dimension is fix else rng.choice(choices[dimension]),
                    method=rng.choice([*FinalLabel.Method.values, "-custom"]),
                    decided_by=rng.choice(adjudicators),
                    rationale=_text(rng),
                )
    return study


@pytest.mark.parametrize(("seed", "k"), [(1, 2), (2, 1), (3, 3), (4, 0)])
def test_the_wide_csv_is_byte_identical_to_the_oracle(small_study, seed, k):
    study = randomized_study(small_study, seed, k=k)
    expected = oracle_csv(study)
    assert len(expected.splitlines()) > 40  # the study's rows are there
    for chunk_size in (1, 3, 40, 2000):
        assert "".join(export_chunks(study=study, fmt="csv", chunk_size=chunk_size)) == expected, chunk_size


def test_every_status_and_line_ending_case_occurs_in_the_randomized_study(small_study):
    """The comparison above is worth something only if the study holds every case."""
    study = randomized_study(small_study, 1, k=2)
    text = "".join(export_chunks(study=study, fmt="csv"))
    rows = list(csvsafe.reader(io.StringIO(text, newline="")))
    header = rows[0]
    statuses = {row[i] for row in rows[1:] for i, name in enumerate(header) if name.startswith("status_")}
    assert statuses == {"final", "disagreement", "pending", "empty"}
    assert "\r\n" in text and '"two\nlines' in text.replace("'", "")  # Excel line ends, a line break kept in a cell
    assert any(cell.startswith("'") for row in rows[1:] for cell in row)  # the guard did something
    rewritten = io.StringIO()
    csv.writer(rewritten).writerows(rows)  # Excel's dialect: \r\n after each row, minimal quoting
    assert rewritten.getvalue() == text


def test_a_study_whose_size_is_a_multiple_of_the_chunk_ends_cleanly(small_study):
    study = small_study["study"]
    for _ in range(4):
        StudyItemFactory(study=study)
    expected = oracle_csv(study)
    assert "".join(export_chunks(study=study, fmt="csv", chunk_size=2)) == expected
    assert len(expected.splitlines()) == 5
