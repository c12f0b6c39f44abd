"""labelling/services/final_labels.py: final_labels_refresh (automatic unanimous final labels)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelling.models import Assignment, FinalLabel
from labelling.services.annotations import item_labels_save
from labelling.services.final_labels import final_labels_refresh
from tests.factories import AnnotationFactory, AssignmentFactory, FinalLabelFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def _label(s, who, item, symptom, component):
    item_labels_save(
        item=item, annotator=s[who], values={"symptom": symptom, "component": component}, notes={}, time_spent_ms=0
    )


def _finals(item):
    return {fl.dimension.code: (fl.value, fl.method) for fl in FinalLabel.objects.filter(item=item)}


def test_unanimous_final_label_when_both_of_k2_agree(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", ["layers"])
    assert _finals(item) == {}
    _label(s, "ann2", item, "crash", ["model"])
    assert _finals(item) == {"symptom": ("crash", "unanimous")}  # component disagrees


def test_final_label_removed_when_an_annotator_changes_their_mind(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", "layers")
    _label(s, "ann2", item, "crash", "layers")
    assert _finals(item) == {"symptom": ("crash", "unanimous"), "component": ("layers", "unanimous")}
    _label(s, "ann2", item, "hang", "layers")
    assert _finals(item) == {"component": ("layers", "unanimous")}
    _label(s, "ann1", item, "hang", "layers")
    assert _finals(item) == {"symptom": ("hang", "unanimous"), "component": ("layers", "unanimous")}


def test_multi_choice_same_set_in_a_different_order_agrees(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", ["model", "layers"])
    _label(s, "ann2", item, "crash", ["layers", "model"])
    assert _finals(item)["component"] == ("layers;model", "unanimous")
    # Values stored unsorted by some other path still compare as sets.
    s2 = labelling_study
    other = s2["items"][1]
    for who, value in (("ann1", "model;layers"), ("ann2", "layers;model")):
        AnnotationFactory(item=other, annotator=s2[who], dimension=s2["component"], value=value)
        Assignment.objects.filter(item=other, annotator=s2[who]).update(completed_at=timezone.now())
    final_labels_refresh(study=s2["study"], item_ids=[other.id])
    assert _finals(other)["component"] == ("layers;model", "unanimous")


@pytest.mark.parametrize("method", [FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED])
def test_adjudicated_and_imported_final_labels_are_never_overwritten(labelling_study, method):
    s = labelling_study
    item = s["items"][0]
    FinalLabelFactory(item=item, dimension=s["symptom"], value="wrong_output", method=method, rationale="decided")
    _label(s, "ann1", item, "crash", "layers")
    _label(s, "ann2", item, "crash", "layers")
    assert _finals(item)["symptom"] == ("wrong_output", method)
    _label(s, "ann2", item, "hang", "model")
    assert _finals(item) == {"symptom": ("wrong_output", method)}
    assert FinalLabel.objects.get(item=item, dimension=s["symptom"]).rationale == "decided"


def test_open_assignments_do_not_count_and_k_must_be_reached(labelling_study):
    s = labelling_study
    study = s["study"]
    item = s["items"][0]
    third = UserFactory(username="carol")
    AssignmentFactory(item=item, annotator=third)  # open: does not block, does not count
    _label(s, "ann1", item, "crash", "layers")
    _label(s, "ann2", item, "crash", "layers")
    assert _finals(item)["symptom"] == ("crash", "unanimous")
    study.overlap_k = 3
    study.save(update_fields=["overlap_k"])
    assert final_labels_refresh(study=study, item_ids=[item.id]) == 0
    assert _finals(item) == {}


def test_missing_annotation_counts_as_empty_and_empty_never_becomes_final(labelling_study):
    s = labelling_study
    item = s["items"][0]
    Assignment.objects.filter(item=item).update(completed_at=timezone.now())
    AnnotationFactory(item=item, annotator=s["ann1"], dimension=s["symptom"], value="crash")
    assert final_labels_refresh(study=s["study"], item_ids=[item.id]) == 0  # ann2 has nothing: "" != "crash"
    AnnotationFactory(item=item, annotator=s["ann2"], dimension=s["symptom"], value="crash")
    assert final_labels_refresh(study=s["study"], item_ids=[item.id]) == 1
    assert _finals(item) == {"symptom": ("crash", "unanimous")}  # component: both empty, no final label


def test_refresh_returns_count_and_uses_a_bounded_number_of_queries(labelling_study):
    s = labelling_study
    study = s["study"]
    items = s["items"] + [StudyItemFactory(study=study) for _ in range(20)]
    for item in items[3:]:
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
    for item in items:
        for who in ("ann1", "ann2"):
            AnnotationFactory(item=item, annotator=s[who], dimension=s["symptom"], value="hang")
            AnnotationFactory(item=item, annotator=s[who], dimension=s["component"], value="model")
    Assignment.objects.filter(study=study).update(completed_at=timezone.now())
    with CaptureQueriesContext(connection) as ctx:
        assert final_labels_refresh(study=study, item_ids=[i.id for i in items]) == 2 * len(items)
    assert len(ctx.captured_queries) <= 8
    assert FinalLabel.objects.filter(item__study=study, method="unanimous").count() == 2 * len(items)
    # Idempotent: running again changes nothing.
    assert final_labels_refresh(study=study, item_ids=[i.id for i in items]) == 2 * len(items)
    assert FinalLabel.objects.count() == 2 * len(items)


def test_items_of_another_study_are_left_alone(labelling_study):
    s = labelling_study
    foreign = FinalLabelFactory(value="x", method=FinalLabel.Method.UNANIMOUS)
    assert final_labels_refresh(study=s["study"], item_ids=[foreign.item_id]) == 0
    assert FinalLabel.objects.filter(pk=foreign.pk).exists()
