"""triage migration 0006: runs judged before expectations keep their verdict, marked as judged by the
old rule, and suggest no labels until judged again."""

import importlib

import pytest
from django.apps import apps

from tests.factories import ReproductionFactory, ReproductionRunFactory
from triage.reproduction.selectors import label_suggestions_for

pytestmark = pytest.mark.django_db

migration = importlib.import_module("triage.migrations.0006_old_verdicts_in_history")


def test_old_verdicts_are_marked_in_their_history_and_suggest_nothing():
    reproduction = ReproductionFactory(reproducer__oracle="crash", status="done")
    old = ReproductionRunFactory(reproduction=reproduction, status="done", verdict="reproduced", exit_code=1)
    queued = ReproductionRunFactory(reproduction=reproduction, status="queued")
    migration.mark_old_verdicts(apps, None)
    old.refresh_from_db()
    queued.refresh_from_db()
    (entry,) = old.verdict_history
    assert entry["verdict"] == "reproduced" and entry["rules"] == 1 and entry["reason"] == "old_rules"
    assert "any non-zero exit" in entry["note"] and old.verdict_reason == "old_rules"
    assert not old.expectation_matched and queued.verdict_history == []
    assert label_suggestions_for(reproduction.reproducer.report) == []
    migration.mark_old_verdicts(apps, None)  # twice: nothing added
    old.refresh_from_db()
    assert len(old.verdict_history) == 1
