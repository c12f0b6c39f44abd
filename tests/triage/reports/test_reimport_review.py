"""A report import that changes a report already in a study flags its study items for re-review with
what changed, as GitHub syncs do (issue 10, point 1)."""

from __future__ import annotations

import pytest

from labelling.models import StudyItem
from tests.factories import StudyItemFactory
from tests.triage.conftest import record
from triage.reports.services import reports_import

pytestmark = pytest.mark.django_db


def test_a_changed_report_in_a_study_is_flagged_with_what_changed(small_study, write_file):
    first = write_file("a.jsonl", [record(1), record(2), record(3)])
    reports_import(source=first)
    from triage.models import Report

    item = StudyItemFactory(study=small_study["study"], report=Report.objects.get(source_id=record(1)["source_id"]))
    StudyItemFactory(study=small_study["study"], report=Report.objects.get(source_id=record(3)["source_id"]))
    changed = write_file(
        "b.jsonl",
        [
            record(1, title="A new title", body="Another body", state="closed"),
            record(2, title="Not in a study"),
            record(3),
        ],
    )
    result = reports_import(source=changed)
    assert (result.updated, result.unchanged, result.flagged) == (2, 1, 1)
    assert "1 study item flagged for re-review" in result.summary()
    item.refresh_from_db()
    assert item.needs_review and "title edited" in item.review_reason and "body edited" in item.review_reason
    assert "closed" in item.review_reason
    assert StudyItem.objects.filter(needs_review=True).count() == 1


def test_an_unchanged_reimport_flags_nothing(small_study, write_file):
    path = write_file("a.jsonl", [record(1)])
    reports_import(source=path)
    from triage.models import Report

    StudyItemFactory(study=small_study["study"], report=Report.objects.get())
    result = reports_import(source=path)
    assert result.flagged == 0 and not StudyItem.objects.filter(needs_review=True).exists()
