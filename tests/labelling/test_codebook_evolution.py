"""Changing a live codebook (labelling.services.codebook_evolution): rename, merge, split, move,
retire, restore, on a study with annotations, final labels and adjudications. Every count is
checked against what the labels were before the change, recoded by hand (the oracle)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from labelling.models import Annotation, Category, CodebookEvent, FinalLabel, FinalLabelDecision
from labelling.selectors.labelling import next_item_for
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from labelling.services.codebook_evolution import (
    categories_merge,
    category_move,
    category_rename,
    category_restore,
    category_retire,
    category_split,
    dimension_rename,
    recode_value,
)
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = pytest.mark.django_db

# item: (alice's symptom, bob's symptom, alice's components, bob's components)
LABELS = [
    ("crash", "hang", ["layers", "model"], ["model"]),  # symptom disagreement: adjudicated below
    ("hang", "crash", ["layers"], ["model"]),
    ("crash", "crash", ["optimizer"], ["optimizer"]),  # unanimous on both
    ("wrong_output", "wrong_output", ["layers"], ["layers"]),
]


@pytest.fixture
def labelled(small_study):
    s = small_study
    items = []
    for a_sym, b_sym, a_comp, b_comp in LABELS:
        item = StudyItemFactory(study=s["study"])
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": a_sym, "component": a_comp})
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": b_sym, "component": b_comp})
        items.append(item)
    final_label_adjudicate(
        study=s["study"],
        item=items[0],
        dimension=s["symptom"],
        value="hang",
        rationale="The process stops answering before it dies.",
        adjudicator=s["owner"],
    )
    return {**s, "items": items}


def _category(s, dimension, code):
    return Category.objects.get(dimension=s[dimension], code=code)


def _stored(dimension):
    """Every stored value of a dimension: {(kind, item, who): value}."""
    out = {("a", a.item_id, a.annotator_id): a.value for a in Annotation.objects.filter(dimension=dimension)}
    out |= {("f", f.item_id, f.method): f.value for f in FinalLabel.objects.filter(dimension=dimension)}
    return out


def _all_codes(dimension) -> set[str]:
    codes = set()
    for value in Annotation.objects.filter(dimension=dimension).values_list("value", flat=True):
        codes.update(value.split(";"))
    for value in FinalLabel.objects.filter(dimension=dimension).values_list("value", flat=True):
        codes.update(value.split(";"))
    for d in FinalLabelDecision.objects.filter(dimension=dimension):
        codes.update(d.value.split(";"))
        codes.update(d.replaced_value.split(";"))
        for v in d.chosen_from:
            codes.update(v.split(";"))
    return codes - {""}


def test_recode_value_keeps_multiple_choice_canonical():
    assert recode_value("crash", {"crash": "hang"}, multi=False) == "hang"
    assert recode_value("hang", {"crash": "hang"}, multi=False) == "hang"
    assert recode_value("layers;model", {"layers": "model"}, multi=True) == "model"
    assert recode_value("layers;model", {"layers": "zeta"}, multi=True) == "model;zeta"
    assert recode_value("", {"layers": "zeta"}, multi=True) == ""


# --------------------------------------------------------------------------- merge


def test_merge_single_choice_rewrites_everything_and_finalises_new_agreements(labelled):
    s = labelled
    symptom = s["symptom"]
    before = _stored(symptom)
    n_annotations = Annotation.objects.count()
    crash_annotations = Annotation.objects.filter(dimension=symptom, value="crash").count()
    s["study"].refresh_from_db()
    version = s["study"].codebook_version

    event = categories_merge(
        source=_category(s, "symptom", "crash"), target=_category(s, "symptom", "hang"), by=s["owner"]
    )

    # Nothing lost: the same annotations, each one recoded by the mapping.
    assert Annotation.objects.count() == n_annotations
    after = _stored(symptom)
    for key, value in before.items():
        if key[0] == "a":
            assert after[key] == ("hang" if value == "crash" else value)
    assert "crash" not in _all_codes(symptom)
    assert not Category.objects.filter(dimension=symptom, code="crash").exists()

    items = s["items"]
    finals = {f.item_id: f for f in FinalLabel.objects.filter(dimension=symptom)}
    assert (finals[items[0].id].value, finals[items[0].id].method) == ("hang", "adjudicated")  # untouched method
    assert (finals[items[1].id].value, finals[items[1].id].method) == ("hang", "unanimous")  # now they agree
    assert (finals[items[2].id].value, finals[items[2].id].method) == ("hang", "unanimous")  # rewritten
    assert finals[items[3].id].value == "wrong_output"
    decision = FinalLabelDecision.objects.get(item=items[0], dimension=symptom)
    assert decision.chosen_from == ["hang"]  # 'crash' and 'hang' are one value now
    assert decision.value == "hang"

    # The history: one event, the next version, with the counts the oracle gives.
    s["study"].refresh_from_db()
    assert s["study"].codebook_version == version + 1 == event.version
    assert event.kind == CodebookEvent.Kind.CATEGORIES_MERGED and event.created_by == s["owner"]
    assert event.annotations_touched == crash_annotations == 4
    assert event.decisions_touched == 1
    assert event.final_labels_touched == 2  # items[2] rewritten, items[1] created
    assert event.details["source"]["code"] == "crash" and event.details["target"] == "hang"
    assert event.details["final_labels_created"] == 1
    assert sorted(event.details["items"]) == sorted(i.id for i in items[:3])


def test_merge_multiple_choice_deduplicates_and_finds_agreement(labelled):
    s = labelled
    component = s["component"]
    items = s["items"]
    assert not FinalLabel.objects.filter(item=items[0], dimension=component).exists()
    event = categories_merge(source=_category(s, "component", "layers"), target=_category(s, "component", "model"))
    values = dict(
        Annotation.objects.filter(item=items[0], dimension=component).values_list("annotator__username", "value")
    )
    assert values == {"alice": "model", "bob": "model"}  # "layers;model" -> "model", not "model;model"
    assert FinalLabel.objects.get(item=items[0], dimension=component).value == "model"
    assert FinalLabel.objects.get(item=items[1], dimension=component).value == "model"
    assert FinalLabel.objects.get(item=items[3], dimension=component).value == "model"  # was "layers"
    # alice 3 + bob 1 annotations held 'layers'; item0's, item1's new finals and item3's rewritten one
    assert event.annotations_touched == 4
    assert event.final_labels_touched == 3


def test_merge_moves_sub_categories_and_refuses_nonsense(labelled):
    s = labelled
    crash, hang = _category(s, "symptom", "crash"), _category(s, "symptom", "hang")
    segfault = Category.objects.create(dimension=s["symptom"], code="segfault", name="Segfault", parent=crash)
    with pytest.raises(ValidationError, match="into itself"):
        categories_merge(source=crash, target=crash)
    with pytest.raises(ValidationError, match="different dimensions"):
        categories_merge(source=crash, target=_category(s, "component", "model"))
    with pytest.raises(ValidationError, match="sub-category of 'crash'"):
        categories_merge(source=crash, target=segfault)
    versions = CodebookEvent.objects.filter(study=s["study"]).count()
    categories_merge(source=crash, target=hang)
    segfault.refresh_from_db()
    assert segfault.parent_id == hang.pk
    assert CodebookEvent.objects.filter(study=s["study"]).count() == versions + 1


# --------------------------------------------------------------------------- split


def test_split_flags_annotations_and_they_come_back_in_the_queue(labelled):
    s = labelled
    items = s["items"]
    symptom = s["symptom"]
    # An adjudicated final label holding the category is kept as it is.
    extra = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=extra, annotator=s["ann1"])
    AssignmentFactory(item=extra, annotator=s["ann2"])
    item_labels_save(item=extra, annotator=s["ann1"], values={"symptom": "wrong_output", "component": ["model"]})
    item_labels_save(item=extra, annotator=s["ann2"], values={"symptom": "hang", "component": ["model"]})
    final_label_adjudicate(
        study=s["study"],
        item=extra,
        dimension=symptom,
        value="wrong_output",
        rationale="Output is wrong.",
        adjudicator=s["owner"],
    )
    holding = set(Annotation.objects.filter(dimension=symptom, value="wrong_output").values_list("id", flat=True))
    assert len(holding) == 3
    assert next_item_for(study=s["study"], annotator=s["ann1"]) is None  # alice is done

    event = category_split(
        category=_category(s, "symptom", "wrong_output"),
        into=[
            {"code": "wrong_result", "name": "Wrong result", "definition": "Numbers are wrong."},
            {"code": "wrong_structure", "name": "Wrong model structure"},
        ],
        by=s["owner"],
    )
    assert event.kind == CodebookEvent.Kind.CATEGORY_SPLIT and event.annotations_touched == 3
    assert set(Annotation.objects.filter(needs_recode=True).values_list("id", flat=True)) == holding
    assert set(Annotation.objects.filter(recode_event=event).values_list("id", flat=True)) == holding
    old = _category(s, "symptom", "wrong_output")
    assert old.retired  # kept for the labels that hold it
    assert {"wrong_result", "wrong_structure"} <= set(symptom.categories.values_list("code", flat=True))
    # The automatic final label of items[3] is gone until the annotators recode; the adjudicated one stays.
    assert not FinalLabel.objects.filter(item=items[3], dimension=symptom).exists()
    assert FinalLabel.objects.get(item=extra, dimension=symptom).value == "wrong_output"
    assert event.final_labels_touched == 1 and event.details["final_labels_kept"] == 1
    assert Annotation.objects.filter(dimension=symptom).count() == 2 * len(LABELS) + 2  # nothing lost

    # Alice finds the flagged items back at the head of her queue, in item order.
    assert next_item_for(study=s["study"], annotator=s["ann1"]) == items[3]
    with pytest.raises(ValidationError, match="retired"):
        item_labels_save(
            item=items[3], annotator=s["ann1"], values={"symptom": "wrong_output", "component": ["layers"]}
        )
    item_labels_save(item=items[3], annotator=s["ann1"], values={"symptom": "wrong_result", "component": ["layers"]})
    assert next_item_for(study=s["study"], annotator=s["ann1"]) == extra
    # One annotator recoded, the other not yet: no automatic final label.
    assert not FinalLabel.objects.filter(item=items[3], dimension=symptom).exists()
    item_labels_save(item=items[3], annotator=s["ann2"], values={"symptom": "wrong_result", "component": ["layers"]})
    final = FinalLabel.objects.get(item=items[3], dimension=symptom)
    assert (final.value, final.method) == ("wrong_result", "unanimous")
    recoded = Annotation.objects.get(item=items[3], annotator=s["ann1"], dimension=symptom)
    s["study"].refresh_from_db()
    assert not recoded.needs_recode and recoded.codebook_version == s["study"].codebook_version


def test_split_refuses_bad_targets_and_writes_nothing(labelled):
    s = labelled
    crash = _category(s, "symptom", "crash")
    events = CodebookEvent.objects.count()
    for into, field in [
        ([{"code": "a1", "name": "A1"}], "into"),
        ([{"code": "a1", "name": "A1"}, {"code": "A 2", "name": "x"}], "into[2]"),
        ([{"code": "a1", "name": "A1"}, {"code": "a2"}], "into[2]"),
        ([{"code": "a1", "name": "A1"}, {"code": "crash", "name": "x"}], "into[2]"),
        ([{"code": "a1", "name": "A1"}, "a2"], "into[2]"),
    ]:
        with pytest.raises(ValidationError) as err:
            category_split(category=crash, into=into)
        assert field in err.value.message_dict
    assert CodebookEvent.objects.count() == events
    assert not Annotation.objects.filter(needs_recode=True).exists()
    # Into an existing category and a new one is fine.
    event = category_split(category=crash, into=[{"code": "hang"}, {"code": "segfault", "name": "Segfault"}])
    assert event.details["created"] == ["segfault"]


# --------------------------------------------------------------------------- rename


def test_rename_category_code_inside_multiple_choice_values(labelled):
    s = labelled
    component = s["component"]
    items = s["items"]
    before = {a.pk: a.value for a in Annotation.objects.filter(dimension=component)}
    event = category_rename(category=_category(s, "component", "layers"), code="zlayers", name="Layers (Keras)")
    after = {a.pk: a.value for a in Annotation.objects.filter(dimension=component)}
    assert after.keys() == before.keys()
    for pk, value in before.items():
        expected = ";".join(sorted("zlayers" if c == "layers" else c for c in value.split(";")))
        assert after[pk] == expected
    assert after[Annotation.objects.get(item=items[0], annotator=s["ann1"], dimension=component).pk] == "model;zlayers"
    assert FinalLabel.objects.get(item=items[3], dimension=component).value == "zlayers"
    assert "layers" not in _all_codes(component)
    assert event.annotations_touched == sum(1 for v in before.values() if "layers" in v.split(";"))
    assert event.details["from"] == {"code": "layers", "name": "Layers"}
    with pytest.raises(ValidationError, match="already has 'model'"):
        category_rename(category=_category(s, "component", "zlayers"), code="model")
    with pytest.raises(ValidationError, match="Nothing to rename"):
        category_rename(category=_category(s, "component", "zlayers"))


def test_rename_rewrites_adjudication_history(labelled):
    s = labelled
    category_rename(category=_category(s, "symptom", "crash"), code="crashes")
    decision = FinalLabelDecision.objects.get(item=s["items"][0])
    assert sorted(decision.chosen_from) == ["crashes", "hang"]


def test_dimension_rename_changes_the_code_labels_keep_their_dimension(labelled):
    s = labelled
    n = Annotation.objects.filter(dimension=s["symptom"]).count()
    event = dimension_rename(dimension=s["symptom"], code="observed_symptom", name="Observed symptom")
    s["symptom"].refresh_from_db()
    assert s["symptom"].code == "observed_symptom"
    assert Annotation.objects.filter(dimension__code="observed_symptom").count() == n
    assert event.details["from"]["code"] == "symptom"
    with pytest.raises(ValidationError, match="already has 'component'"):
        dimension_rename(dimension=s["symptom"], code="component")


# --------------------------------------------------------------------------- move, retire


def test_move_under_a_parent_and_back(labelled):
    s = labelled
    hang, crash = _category(s, "symptom", "hang"), _category(s, "symptom", "crash")
    event = category_move(category=hang, parent=crash, by=s["owner"])
    hang.refresh_from_db()
    assert hang.parent_id == crash.pk and event.kind == CodebookEvent.Kind.CATEGORY_MOVED
    with pytest.raises(ValidationError, match="already there"):
        category_move(category=hang, parent=crash)
    category_move(category=hang, parent=None)
    hang.refresh_from_db()
    assert hang.parent_id is None


def test_retired_category_is_kept_for_old_labels_and_refused_for_new_ones(labelled):
    s = labelled
    items = s["items"]
    hang = _category(s, "symptom", "hang")
    category_retire(category=hang, by=s["owner"])
    hang.refresh_from_db()
    assert hang.retired
    assert Annotation.objects.filter(dimension=s["symptom"], value="hang").count() == 2  # kept
    # Bob's saved label of items[0] holds 'hang': he may save it again.
    item_labels_save(item=items[0], annotator=s["ann2"], values={"symptom": "hang", "component": ["model"]})
    # Alice's label of items[0] is 'crash': switching to the retired category is refused.
    with pytest.raises(ValidationError, match="retired"):
        item_labels_save(item=items[0], annotator=s["ann1"], values={"symptom": "hang", "component": ["model"]})
    with pytest.raises(ValidationError, match="already retired"):
        category_retire(category=hang)
    category_restore(category=hang)
    item_labels_save(item=items[0], annotator=s["ann1"], values={"symptom": "hang", "component": ["model"]})
    kinds = list(CodebookEvent.objects.filter(study=s["study"]).values_list("kind", flat=True)[:2])
    assert kinds == [CodebookEvent.Kind.CATEGORY_RESTORED, CodebookEvent.Kind.CATEGORY_RETIRED]


def test_the_history_is_complete_and_versioned(labelled):
    s = labelled
    s["study"].refresh_from_db()
    start = s["study"].codebook_version
    category_rename(category=_category(s, "symptom", "hang"), name="Hangs")
    categories_merge(source=_category(s, "symptom", "crash"), target=_category(s, "symptom", "hang"))
    category_split(
        category=_category(s, "symptom", "wrong_output"),
        into=[{"code": "wr", "name": "Wrong result"}, {"code": "ws", "name": "Wrong structure"}],
    )
    category_retire(category=_category(s, "component", "optimizer"))
    events = list(CodebookEvent.objects.filter(study=s["study"], version__gt=start).order_by("version"))
    assert [e.version for e in events] == [start + 1, start + 2, start + 3, start + 4]
    assert [e.kind for e in events] == ["category_renamed", "categories_merged", "category_split", "category_retired"]
    s["study"].refresh_from_db()
    assert s["study"].codebook_version == start + 4
    # Annotations remember the version they were saved under (all before these changes).
    assert set(Annotation.objects.values_list("codebook_version", flat=True)) <= set(range(start + 1))
