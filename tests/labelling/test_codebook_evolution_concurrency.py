"""A merge and an annotation save at the same instant (PostgreSQL, threads): the save either
comes first (and the merge rewrites its value) or after (and the merged-away category is refused),
never in between: no stored value holds a category that no longer exists."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from labelling.models import Annotation, Category, CodebookEvent
from labelling.services.annotations import item_labels_save
from labelling.services.codebook_evolution import categories_merge
from labelling.services.codebooks import category_create
from tests.labelling.test_final_labels_concurrency import _at_once, _item

ROUNDS = 15

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite never races"),
]


def test_merge_and_annotation_save_at_once_strand_no_value(small_study):
    s = small_study
    symptom = s["symptom"]
    outcomes = {"before": 0, "after": 0}
    for round_ in range(ROUNDS):
        # Through the service: it bumps the codebook version, so the labelling cache sees the new categories.
        source = category_create(dimension=symptom, code=f"old_{round_}", name=f"Old {round_}")
        target = category_create(dimension=symptom, code=f"new_{round_}", name=f"New {round_}")
        item = _item(s)
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": target.code, "component": ["layers"]})
        events = CodebookEvent.objects.count()

        refused = []

        def save(item=item, source=source, refused=refused):
            try:
                item_labels_save(
                    item=item, annotator=s["ann2"], values={"symptom": source.code, "component": ["model"]}
                )
            except ValidationError as exc:
                refused.append(exc)

        def merge(source=source, target=target):
            categories_merge(source=source, target=target, by=s["owner"])

        errors = _at_once(save, merge)
        assert errors == [], f"round {round_}: {errors!r}"
        assert not Category.objects.filter(pk=source.pk).exists()
        assert not Annotation.objects.filter(dimension=symptom, value=source.code).exists(), f"round {round_}"
        assert CodebookEvent.objects.count() == events + 1
        bob = Annotation.objects.filter(item=item, annotator=s["ann2"], dimension=symptom).first()
        if refused:
            assert bob is None and "not a category" in str(refused[0])
            outcomes["after"] += 1
        else:
            # The save came first, the merge rewrote it, and both annotators now agree.
            assert bob.value == target.code
            assert item.final_labels.get(dimension=symptom).value == target.code
            outcomes["before"] += 1
    assert sum(outcomes.values()) == ROUNDS, outcomes
