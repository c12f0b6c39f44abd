"""Final labels under concurrent saves (issue 10, point 4), on PostgreSQL with real threads.

Two annotators save the same item at the same instant, each thread with its own database
connection, started together by a barrier. Every round checks the end state: no save fails, an
item where they agree has exactly the unanimous final labels, and a dimension where they now
disagree has no final label and is listed in the disagreements. SQLite serialises writers with
a database lock, so the race is only real (and only tested) on PostgreSQL.
"""

from __future__ import annotations

import io
import threading

import pytest
from django.db import connection

from labelling.models import Annotation, Assignment, FinalLabel
from labelling.selectors.labelling import disagreements_for
from labelling.services.annotations import item_labels_save
from labelling.services.label_import import labels_import
from tests.factories import AssignmentFactory, StudyItemFactory

ROUNDS = 30

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (set DATABASE_URL): SQLite lets one writer in at a time, so saves never race",
    ),
]


def _item(s):
    item = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=item, annotator=s["ann1"])
    AssignmentFactory(item=item, annotator=s["ann2"])
    return item


def _save(s, who, item, symptom, component, time_spent_ms=0):
    item_labels_save(
        item=item, annotator=s[who], values={"symptom": symptom, "component": component}, time_spent_ms=time_spent_ms
    )


def _at_once(*saves):
    """Run each save (a zero-argument callable) in its own thread, all released together.

    Returns the exceptions raised (none expected). Each thread closes its connection at the end.
    """
    barrier = threading.Barrier(len(saves), timeout=60)
    errors: list[BaseException] = []

    def run(save):
        try:
            barrier.wait()
            save()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(save,)) for save in saves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stuck = [t for t in threads if t.is_alive()]
    assert not stuck, "a save never finished: the saves of one item deadlock"
    return errors


def _finals(item):
    return dict(FinalLabel.objects.filter(item=item).values_list("dimension__code", "value"))


def _disagreeing(s, item):
    for disagreement in disagreements_for(study=s["study"]):
        if disagreement.item.id == item.id:
            return disagreement.dimension_codes
    return []


def test_two_annotators_who_agree_saving_at_once_always_give_the_final_labels(small_study):
    s = small_study
    for round_ in range(ROUNDS):
        item = _item(s)
        errors = _at_once(
            lambda item=item: _save(s, "ann1", item, "crash", ["layers", "model"]),
            lambda item=item: _save(s, "ann2", item, "crash", ["model", "layers"]),
        )
        assert errors == [], f"round {round_}: {errors!r}"
        assert _finals(item) == {"symptom": "crash", "component": "layers;model"}, f"round {round_}"
        assert set(FinalLabel.objects.filter(item=item).values_list("method", flat=True)) == {"unanimous"}
        assert _disagreeing(s, item) == [], f"round {round_}"


def test_two_annotators_swapping_values_at_once_end_in_a_disagreement(small_study):
    """Alice said crash and Bob hang; at the same instant each changes to the other's answer.

    Each save alone would agree with the other's old value: both must not create the final
    label (that was the IntegrityError), and the end state is a disagreement on symptom while
    the component they still agree on keeps its final label."""
    s = small_study
    for round_ in range(ROUNDS):
        item = _item(s)
        _save(s, "ann1", item, "crash", ["layers"])
        _save(s, "ann2", item, "hang", ["layers"])
        assert _finals(item) == {"component": "layers"}
        errors = _at_once(
            lambda item=item: _save(s, "ann1", item, "hang", ["layers"]),
            lambda item=item: _save(s, "ann2", item, "crash", ["layers"]),
        )
        assert errors == [], f"round {round_}: {errors!r}"
        assert _finals(item) == {"component": "layers"}, f"round {round_}"
        assert _disagreeing(s, item) == ["symptom"], f"round {round_}"


def test_one_annotator_saving_the_same_item_twice_at_once(small_study):
    """Two tabs of one annotator save at the same instant: one set of annotations, the time of
    both saves, one completed assignment, and the final labels where Bob (saved earlier) agrees."""
    s = small_study
    for round_ in range(ROUNDS):
        item = _item(s)
        _save(s, "ann2", item, "crash", ["layers"])
        errors = _at_once(
            lambda item=item: _save(s, "ann1", item, "crash", ["layers"], time_spent_ms=1000),
            lambda item=item: _save(s, "ann1", item, "crash", ["model"], time_spent_ms=3000),
        )
        assert errors == [], f"round {round_}: {errors!r}"
        mine = Annotation.objects.filter(item=item, annotator=s["ann1"])
        assert mine.count() == 2, f"round {round_}"
        assert sum(mine.values_list("time_spent_ms", flat=True)) == 4000, f"round {round_}"
        assert Assignment.objects.get(item=item, annotator=s["ann1"]).completed_at is not None
        component = mine.get(dimension=s["component"]).value  # whichever save came last
        expected = {"symptom": "crash", "component": "layers"} if component == "layers" else {"symptom": "crash"}
        assert _finals(item) == expected, f"round {round_}"
        assert _disagreeing(s, item) == ([] if component == "layers" else ["component"]), f"round {round_}"


def test_a_label_import_and_a_save_of_the_same_item_at_once(small_study):
    """Bob's labels arrive by import while Alice saves the same labels on the page: the item ends
    with its unanimous final labels whichever finishes first."""
    s = small_study
    for round_ in range(ROUNDS):
        item = _item(s)
        source_id = item.report.source_id
        csv = f"source_id,annotator,dimension,value\n{source_id},bob,symptom,crash\n{source_id},bob,component,layers\n"
        errors = _at_once(
            lambda item=item: _save(s, "ann1", item, "crash", ["layers"]),
            lambda csv=csv: labels_import(study=s["study"], source=io.BytesIO(csv.encode())),
        )
        assert errors == [], f"round {round_}: {errors!r}"
        assert _finals(item) == {"symptom": "crash", "component": "layers"}, f"round {round_}"
        assert _disagreeing(s, item) == [], f"round {round_}"
