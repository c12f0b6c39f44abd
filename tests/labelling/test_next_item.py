"""labelling/selectors/labelling.py: next_item_for, previous_item_for, progress_for, disagreements_for."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelling.models import Assignment, FinalLabel
from labelling.selectors.labelling import (
    codebook_for_labelling,
    disagreements_for,
    next_item_for,
    previous_item_for,
    progress_for,
)
from labelling.services.annotations import item_labels_save
from tests.factories import AssignmentFactory, CategoryFactory, FinalLabelFactory, StudyFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


def _label(s, who, item, symptom="crash", component="layers", notes=None):
    item_labels_save(
        item=item, annotator=s[who], values={"symptom": symptom, "component": component}, notes=notes or {}
    )


def test_next_item_follows_assignment_order_and_skips_completed(labelling_study):
    s = labelling_study
    study, items = s["study"], s["items"]
    assert next_item_for(study=study, annotator=s["ann1"]) == items[0]
    Assignment.objects.filter(item=items[0], annotator=s["ann1"]).update(completed_at=timezone.now())
    assert next_item_for(study=study, annotator=s["ann1"]) == items[1]
    assert next_item_for(study=study, annotator=s["ann2"]) == items[0]  # bob's queue is his own


def test_next_item_is_by_assignment_id_not_item_id(small_study):
    study = small_study["study"]
    late, early = StudyItemFactory(study=study), StudyItemFactory(study=study)
    AssignmentFactory(item=early, annotator=small_study["ann1"])
    AssignmentFactory(item=late, annotator=small_study["ann1"])
    assert next_item_for(study=study, annotator=small_study["ann1"]) == early


def test_next_item_is_one_query_with_the_report(labelling_study):
    s = labelling_study
    with CaptureQueriesContext(connection) as ctx:
        item = next_item_for(study=s["study"], annotator=s["ann1"])
        assert item.report.title  # no extra query
    assert len(ctx.captured_queries) == 1


def test_done_state_and_progress(labelling_study, django_capture_on_commit_callbacks):
    s = labelling_study
    study = s["study"]
    assert progress_for(study=study, annotator=s["ann1"]) == (0, 3)
    for item in s["items"]:
        with django_capture_on_commit_callbacks(execute=True):
            _label(s, "ann1", item)
    assert next_item_for(study=study, annotator=s["ann1"]) is None
    assert progress_for(study=study, annotator=s["ann1"]) == (3, 3)
    assert progress_for(study=study, annotator=s["ann2"]) == (0, 3)
    assert progress_for(study=study, annotator=s["viewer"]) == (0, 0)
    assert next_item_for(study=StudyFactory(), annotator=s["ann1"]) is None


def test_progress_is_cached_and_bumped_by_each_completed_save(labelling_study, django_capture_on_commit_callbacks):
    s = labelling_study
    study, items = s["study"], s["items"]
    assert progress_for(study=study, annotator=s["ann1"]) == (0, 3)
    with CaptureQueriesContext(connection) as ctx:
        assert progress_for(study=study, annotator=s["ann1"]) == (0, 3)
    assert len(ctx.captured_queries) == 0  # served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        _label(s, "ann1", items[0])
    assert progress_for(study=study, annotator=s["ann1"]) == (1, 3)
    with django_capture_on_commit_callbacks(execute=True):
        _label(s, "ann1", items[0], symptom="hang")  # saving again does not count twice
    assert progress_for(study=study, annotator=s["ann1"]) == (1, 3)
    assert progress_for(study=study, annotator=s["ann2"]) == (0, 3)


def test_previous_item(labelling_study):
    s = labelling_study
    study, items = s["study"], s["items"]
    assert previous_item_for(study=study, annotator=s["ann1"], before_item=items[0]) is None
    assert previous_item_for(study=study, annotator=s["ann1"], before_item=items[2]) == items[1]
    _label(s, "ann1", items[0])
    assert previous_item_for(study=study, annotator=s["ann1"], before_item=items[1]) == items[0]  # completed too
    assert previous_item_for(study=study, annotator=s["ann1"], before_item=None) == items[2]


def test_codebook_for_labelling_puts_children_under_their_parent(small_study):
    symptom = small_study["symptom"]
    crash = symptom.categories.get(code="crash")
    CategoryFactory(dimension=symptom, code="segfault", parent=crash, order=99)
    CategoryFactory(dimension=symptom, code="abort", parent=crash, order=50)
    codebook = codebook_for_labelling(study=small_study["study"])
    assert [e.dimension.code for e in codebook] == ["symptom", "component"]
    entries = [(c.code, depth) for c, depth in codebook[0].entries]
    assert entries == [("crash", 0), ("abort", 1), ("segfault", 1), ("hang", 0), ("wrong_output", 0)]


def test_disagreements_list_finished_items_that_disagree(labelling_study):
    s = labelling_study
    study, items = s["study"], s["items"]
    _label(s, "ann1", items[0], "crash", "layers", notes={"symptom": "segfault in conv"})
    _label(s, "ann2", items[0], "hang", "layers")  # disagree on symptom
    _label(s, "ann1", items[1], "crash", "layers")
    _label(s, "ann2", items[1], "crash", "layers")  # agree
    _label(s, "ann1", items[2], "crash", "layers")  # bob has not finished
    result = disagreements_for(study=study)
    assert [d.item for d in result] == [items[0]]
    (dis,) = result
    assert dis.dimension_codes == ["symptom"]
    values = [(v.annotator, v.value, v.note) for v in dis.dimensions[0].values]
    assert values == [("alice", "crash", "segfault in conv"), ("bob", "hang", "")]
    assert disagreements_for(study=study, dimension_code="component") == []


def test_an_adjudicated_dimension_is_no_longer_a_disagreement(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", "layers")
    _label(s, "ann2", item, "hang", "model")
    assert disagreements_for(study=s["study"])[0].dimension_codes == ["symptom", "component"]
    FinalLabelFactory(item=item, dimension=s["symptom"], value="hang", method=FinalLabel.Method.ADJUDICATED)
    assert disagreements_for(study=s["study"])[0].dimension_codes == ["component"]


def test_fewer_than_k_assignments_is_not_a_disagreement(small_study):
    study = small_study["study"]
    item = StudyItemFactory(study=study)
    AssignmentFactory(item=item, annotator=small_study["ann1"])
    item_labels_save(item=item, annotator=small_study["ann1"], values={"symptom": "crash", "component": "model"})
    assert disagreements_for(study=study) == []
