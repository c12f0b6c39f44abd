"""labelling/services/disagreements.py: the recorded disagreements (``ItemDisagreement``) equal, after
every kind of write that can change them, the disagreements computed from scratch from the
assignments, annotations and final labels (an independent oracle below), on random label sets
with single-choice, multiple-choice and free-text dimensions: label saves, label imports,
adjudications, codebook merges and splits, decision-rule changes, a change of k, a member leaving,
a calibration round reopened, and the data migration's computation for rows written directly."""

from __future__ import annotations

import importlib
import io
import random

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelling.models import Annotation, Assignment, Category, Dimension, FinalLabel, ItemDisagreement, StudyItem
from labelling.selectors.labelling import disagreement_count, disagreements_for
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from labelling.services.codebook_evolution import categories_merge, category_split
from labelling.services.decision_rules import decision_rule_set
from labelling.services.label_import import labels_import
from labelling.services.rounds import round_close, round_create, round_reopen
from labelling.services.studies import membership_remove, study_update
from tests.factories import AssignmentFactory, DimensionFactory, MembershipFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db

SYMPTOMS = ["", "crash", "hang", "wrong_output"]
TEXTS = ["", "cast", "pad", "cast"]


def from_scratch(study) -> set[tuple[int, int]]:
    """The (item, dimension) disagreements of ``study`` computed from its rows alone: every
    assignment completed and at least k of them, no final label, and the assigned annotators'
    values (missing = empty; multiple choice as a set of codes) not all the same."""
    dimensions = list(Dimension.objects.filter(codebook__study=study))
    result = set()
    for item in StudyItem.objects.filter(study=study):
        assignments = list(Assignment.objects.filter(item=item))
        if len(assignments) < max(study.overlap_k, 1) or any(a.completed_at is None for a in assignments):
            continue
        for dimension in dimensions:
            if FinalLabel.objects.filter(item=item, dimension=dimension).exists():
                continue
            given = dict(Annotation.objects.filter(item=item, dimension=dimension).values_list("annotator_id", "value"))
            seen = set()
            for a in assignments:
                value = given.get(a.annotator_id, "")
                if dimension.kind == Dimension.Kind.MULTI:
                    seen.add(frozenset(c.strip() for c in value.split(";") if c.strip()))
                else:
                    seen.add(value)
            if len(seen) > 1:
                result.add((item.id, dimension.id))
    return result


def recorded(study) -> set[tuple[int, int]]:
    return set(ItemDisagreement.objects.filter(study=study).values_list("item_id", "dimension_id"))


def check(study):
    study.refresh_from_db()  # k as the services left it
    expected = from_scratch(study)
    assert recorded(study) == expected
    listed = {(d.item.id, dd.dimension.id) for d in disagreements_for(study=study) for dd in d.dimensions}
    assert listed == expected
    assert disagreement_count(study=study) == len({i for i, _ in expected})


def _values(rng, s) -> dict:
    """Random values from the codebook as it is now (merges and splits change it); some empty."""

    def codes(dimension):
        current = Category.objects.filter(dimension=dimension, retired_at__isnull=True)
        return list(current.values_list("code", flat=True))

    symptoms, components = codes(s["symptom"]), codes(s["component"])
    return {
        "symptom": rng.choice(["", *symptoms]),
        "component": rng.sample(components, rng.choice([0, 1, 1, 2])),
        "fix": rng.choice(TEXTS),
    }


@pytest.fixture
def study3(small_study):
    """small_study with a free-text dimension, no dimension required, and a third annotator; k=2."""
    s = small_study
    DimensionFactory(codebook=s["study"].codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    Dimension.objects.filter(codebook=s["study"].codebook).update(required=False)  # empty values too
    s["ann3"] = UserFactory(username="carla")
    MembershipFactory(study=s["study"], user=s["ann3"])
    s["annotators"] = [s["ann1"], s["ann2"], s["ann3"]]
    return s


def _assigned_study(s, rng, n=25):
    items = []
    for _ in range(n):
        item = StudyItemFactory(study=s["study"])
        for person in rng.sample(s["annotators"], rng.choice([2, 2, 3])):
            AssignmentFactory(item=item, annotator=person)
        items.append(item)
    return items


def _save_some(s, rng, items, rounds=40):
    for _ in range(rounds):
        item = rng.choice(items)
        person = rng.choice(list(Assignment.objects.filter(item=item).values_list("annotator", flat=True)))
        annotator = next(a for a in s["annotators"] if a.pk == person)
        item_labels_save(item=item, annotator=annotator, values=_values(rng, s))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recorded_equals_from_scratch_after_every_kind_of_write(study3, seed):
    s, rng = study3, random.Random(seed)
    study = s["study"]
    items = _assigned_study(s, rng)
    check(study)
    _save_some(s, rng, items)
    check(study)
    assert recorded(study)  # the random saves made some

    # a label import: annotator lines (new and changed labels, assignments completed) and final labels
    lines = ["source_id,annotator,dimension,value,note"]
    for item in rng.sample(items, 8):
        for person in Assignment.objects.filter(item=item).select_related("annotator"):
            lines.append(f"{item.report.source_id},{person.annotator.username},symptom,{rng.choice(SYMPTOMS[1:])},")
    for item in rng.sample(items, 4):
        lines.append(f"{item.report.source_id},,component,optimizer,")
    labels_import(study=study, source=io.BytesIO(("\n".join(lines) + "\n").encode()))
    check(study)

    # adjudications of some disagreements
    for item_id, dimension_id in sorted(recorded(study))[:5]:
        dimension = Dimension.objects.get(pk=dimension_id)
        value = {"symptom": "crash", "component": "layers", "fix": "cast"}[dimension.code]
        final_label_adjudicate(
            study=study, item=StudyItem.objects.get(pk=item_id), dimension=dimension, value=value,
            rationale="the trace", adjudicator=s["owner"],
        )  # fmt: skip
    check(study)

    # codebook merges (values become equal, or a multiple choice loses a code) and a split
    categories_merge(source=Category.objects.get(dimension=s["symptom"], code="wrong_output"),
                     target=Category.objects.get(dimension=s["symptom"], code="hang"))  # fmt: skip
    check(study)
    categories_merge(source=Category.objects.get(dimension=s["component"], code="optimizer"),
                     target=Category.objects.get(dimension=s["component"], code="model"))  # fmt: skip
    check(study)
    category_split(
        category=Category.objects.get(dimension=s["symptom"], code="crash"),
        into=[{"code": "segfault", "name": "Segfault"}, {"code": "abort", "name": "Abort"}],
    )
    check(study)
    _save_some(s, rng, items, rounds=15)
    check(study)

    # decision rules: majority settles some disagreements; back to unanimous brings them back
    decision_rule_set(study=study, rule="majority", threshold=0.5)
    check(study)
    decision_rule_set(study=study, rule="unanimous")
    check(study)

    # k: raising it above some items' assignments takes them out; lowering brings them back
    study_update(study=study, data={"overlap_k": 3})
    check(study)
    study_update(study=study, data={"overlap_k": 2})
    check(study)

    # a member leaving: their open assignments go, the others' may then all be completed
    membership_remove(study=study, user=s["ann3"])
    check(study)


def test_a_reopened_round_takes_its_items_out_until_they_are_labelled_again(study3):
    s = study3
    study = s["study"]
    item = StudyItemFactory(study=study)
    for person in (s["ann1"], s["ann2"]):
        AssignmentFactory(item=item, annotator=person)
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash"})
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang"})
    assert recorded(study) == {(item.id, s["symptom"].id)}
    round_ = round_create(study=study, name="R1", source="list", created_by=s["owner"], item_ids=[item.id])
    round_close(round=round_, closed_by=s["owner"])
    round_reopen(round=round_, reopened_by=s["owner"], reason="again")
    check(study)
    assert recorded(study) == set()
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash"})
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang"})
    assert recorded(study) == {(item.id, s["symptom"].id)}


def test_a_save_while_another_annotator_is_open_writes_no_disagreement_and_costs_no_query(study3):
    s = study3
    item = StudyItemFactory(study=s["study"])
    for person in (s["ann1"], s["ann2"]):
        AssignmentFactory(item=item, annotator=person)
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash"})
    with CaptureQueriesContext(connection) as ctx:
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "hang"})
    assert not any("itemdisagreement" in q["sql"] for q in ctx.captured_queries)
    assert recorded(s["study"]) == set()


def test_the_migration_computes_what_the_services_record(study3):
    """Rows written directly (as before the table existed), then the data migration's function."""
    s, rng = study3, random.Random(7)
    study = s["study"]
    items = _assigned_study(s, rng, n=30)
    _save_some(s, rng, items, rounds=50)
    Assignment.objects.filter(item__in=items[:5]).update(completed_at=timezone.now())  # behind the services' back
    expected = from_scratch(study)
    assert expected
    ItemDisagreement.objects.all().delete()
    migration = importlib.import_module("labelling.migrations.0010_item_disagreements")
    migration.record_disagreements(django_apps, None)
    assert recorded(study) == expected
