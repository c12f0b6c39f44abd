"""The Adjudicate queue's next item and 'remaining' count are bounded reads: the next item is the
first disagreement after the current one (wrapping round), and the count (capped) is one keyset
query that equals the length of the full disagreement list (the independent computation)."""

from __future__ import annotations

import random

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labelling.selectors.adjudication import adjudication_next_for
from labelling.selectors.labelling import disagreement_count, disagreements_for
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from tests.factories import AssignmentFactory, FinalLabelFactory, StudyItemFactory

pytestmark = pytest.mark.django_db

SYMPTOMS = ["crash", "hang", "wrong_output"]
COMPONENTS = [["layers"], ["model"], ["layers", "model"]]


def _study(s, n, seed=3):
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        item = StudyItemFactory(study=s["study"])
        items.append(item)
        for annotator in (s["ann1"], s["ann2"]):
            AssignmentFactory(item=item, annotator=annotator)
        for annotator in (s["ann1"], s["ann2"]):
            if rng.random() < 0.15:
                continue  # left open: not complete, not a disagreement yet
            values = {"symptom": rng.choice(SYMPTOMS), "component": rng.choice(COMPONENTS)}
            item_labels_save(item=item, annotator=annotator, values=values)
        if rng.random() < 0.1 and not item.final_labels.filter(dimension=s["symptom"]).exists():
            FinalLabelFactory(item=item, dimension=s["symptom"], value="crash", method="adjudicated")
    return items


def test_the_count_equals_the_length_of_the_full_list(small_study):
    s = small_study
    _study(s, 80)
    expected = len(disagreements_for(study=s["study"]))
    assert expected > 10
    with CaptureQueriesContext(connection) as queries:
        assert disagreement_count(study=s["study"]) == expected
    # One bounded read of the recorded disagreements (no cache: they are current after every write).
    assert len(queries) == 1
    assert disagreement_count(study=s["study"], cap=5) == 6  # more than the cap: "5+"


def test_the_count_follows_label_saves_at_once(small_study):
    s = small_study
    item = StudyItemFactory(study=s["study"])
    for annotator in (s["ann1"], s["ann2"]):
        AssignmentFactory(item=item, annotator=annotator)
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    assert disagreement_count(study=s["study"]) == 0  # ann2's assignment is open
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "crash", "component": ["layers"]})
    assert disagreement_count(study=s["study"]) == 0  # unanimous
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
    assert disagreement_count(study=s["study"]) == 1
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "crash", "component": ["layers"]})
    assert disagreement_count(study=s["study"]) == 0


def test_next_walks_the_disagreements_in_order_and_wraps_round(small_study):
    s = small_study
    _study(s, 40)
    every = [d.item.pk for d in disagreements_for(study=s["study"])]
    found = adjudication_next_for(study=s["study"], user=s["owner"])
    assert found.item.pk == every[0] and found.remaining == len(every)
    for before, after in zip(every, every[1:], strict=False):
        assert adjudication_next_for(study=s["study"], user=s["owner"], after=before).item.pk == after
    assert adjudication_next_for(study=s["study"], user=s["owner"], after=every[-1]).item.pk == every[0]


def test_an_adjudication_forgets_the_cached_count(small_study, django_capture_on_commit_callbacks):
    s = small_study
    item = _study(s, 1)[0]
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
    cache.clear()
    assert disagreement_count(study=s["study"]) == 1
    with django_capture_on_commit_callbacks(execute=True):
        final_label_adjudicate(
            study=s["study"], item=item, dimension=s["symptom"], value="crash", rationale="trace", adjudicator=None
        )
    assert disagreement_count(study=s["study"]) == 0
    assert adjudication_next_for(study=s["study"], user=s["owner"]) is None
