"""labelling/dataset/bulk_write.py: the label import's two write paths store the same rows.

On PostgreSQL the import writes by COPY (into a temporary table, then INSERT ... SELECT ... ON
CONFLICT); on SQLite, and on PostgreSQL when COPY is switched off here, by bulk_create. The same
file imported twice into two identical studies, once each way, must leave the same annotations,
assignments and final labels, including values that COPY's text format has to escape, a second
import that updates, and the automatic final labels the import recomputes.
"""

from __future__ import annotations

import io

import pytest
from django.db import connection

from labelling.dataset import bulk_write
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Membership
from labelling.services import final_labels
from labelling.services.label_import import labels_import
from tests.factories import (
    CategoryFactory,
    DimensionFactory,
    MembershipFactory,
    ReportFactory,
    StudyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOTES = ["plain", "tab\there", "two\nlines", "back\\slash \\N", "crlf\r\nend", "quote \" and , comma", ""]


def _study(slug, annotators):
    study = StudyFactory(slug=slug, overlap_k=2)
    symptom = DimensionFactory(codebook=study.codebook, code="symptom", kind=Dimension.Kind.SINGLE, order=1)
    for i, code in enumerate(["crash", "hang", "wrong_output"]):
        CategoryFactory(dimension=symptom, code=code, name=code.title(), order=i)
    component = DimensionFactory(
        codebook=study.codebook, code="component", kind=Dimension.Kind.MULTI, max_choices=3, order=2
    )
    for i, code in enumerate(["layers", "model", "optimizer"]):
        CategoryFactory(dimension=component, code=code, name=code.title(), order=i)
    DimensionFactory(codebook=study.codebook, code="why", kind=Dimension.Kind.TEXT, order=3)
    for user in annotators:
        MembershipFactory(study=study, user=user, role=Membership.Role.ANNOTATOR)
    return study


def _file(reports, annotators, *, shift=0) -> bytes:
    lines = ["source_id,annotator,dimension,value,note"]

    def quoted(text):
        return '"' + text.replace('"', '""') + '"'

    for n, report in enumerate(reports):
        for a, user in enumerate(annotators):
            k = n + a * (n % 3 == 0) + shift  # most agree; every third report the second annotator differs
            symptom = ["crash", "hang", "wrong_output"][k % 3]
            component = ";".join(sorted({["layers", "model", "optimizer"][k % 3], "model"}))
            note = NOTES[(n + a) % len(NOTES)]
            lines.append(f"{report.source_id},{user.username},symptom,{symptom},{quoted(note)}")
            lines.append(f"{report.source_id},{user.username},component,{quoted(component)},")
            lines.append(f"{report.source_id},{user.username},why,{quoted('text ' + note)},{quoted(note)}")
        if n % 4 == 1:  # a final label given in the file
            lines.append(f"{report.source_id},,symptom,hang,")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _state(study):
    annotations = sorted(
        Annotation.objects.filter(item__study=study).values_list(
            "item__report__source_id", "annotator__username", "dimension__code", "value", "note", "time_spent_ms"
        )
    )
    assignments = sorted(
        (source_id, name, done is not None)
        for source_id, name, done in Assignment.objects.filter(study=study).values_list(
            "item__report__source_id", "annotator__username", "completed_at"
        )
    )
    finals = sorted(
        FinalLabel.objects.filter(item__study=study).values_list(
            "item__report__source_id", "dimension__code", "value", "method", "decided_by", "rationale"
        )
    )
    return annotations, assignments, finals


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's; SQLite has the one path")
def test_copy_and_bulk_create_store_the_same_labels(monkeypatch):
    annotators = [UserFactory(username="ann_a"), UserFactory(username="ann_b")]
    reports = [ReportFactory() for _ in range(24)]
    by_copy, by_orm = _study("by-copy", annotators), _study("by-orm", annotators)
    monkeypatch.setattr(final_labels, "COPY_FROM", 1)  # the automatic final labels by COPY as well

    results = {}
    for study, copy in ((by_copy, True), (by_orm, False)):
        monkeypatch.setattr(bulk_write, "uses_copy", lambda copy=copy: copy)
        first = labels_import(study=study, source=io.BytesIO(_file(reports, annotators)))
        again = labels_import(study=study, source=io.BytesIO(_file(reports, annotators, shift=1)))
        results[copy] = (first.as_dict(), again.as_dict())

    assert results[True] == results[False]
    copied, created = _state(by_copy), _state(by_orm)
    assert copied == created
    annotations, assignments, finals = copied
    assert len(annotations) == 24 * 2 * 3 and len(assignments) == 24 * 2
    assert {note for *_, note, _ in annotations} == set(NOTES)  # escaped and read back exactly
    assert {method for _, _, _, method, _, _ in finals} == {"imported", "unanimous"}
