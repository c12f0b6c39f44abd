"""Codebook evolution meets calibration rounds (issue 13): a merge or a rename rewrites the kept
labels of a round's earlier pass (``AnnotationSnapshot``) like the annotations; a split keeps the
split code there (history), and agreement on that pass counts it as the retired category. Figures
are checked against the krippendorff package on the values recoded by hand."""

from __future__ import annotations

import random

import krippendorff
import numpy as np
import pytest
from django.db import connection

from config.errors import ApplicationError
from labelling import codebook_operations
from labelling.agreement.selectors import study_agreement
from labelling.models import Annotation, AnnotationSnapshot, Category, CodebookEvent
from labelling.selectors.codebook import event_as_dict
from labelling.services.annotations import item_labels_save
from labelling.services.codebook_evolution import categories_merge, category_rename, category_split
from labelling.services.codebooks import category_create, category_delete, category_update
from labelling.services.rounds import round_close, round_create, round_reopen
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory
from tests.labelling.test_final_labels_concurrency import _at_once, _item

pytestmark = pytest.mark.django_db

SYMPTOMS = ["crash", "hang", "wrong_output"]
COMPONENTS = [["layers"], ["model"], ["layers", "model"], ["layers", "optimizer"], ["model", "optimizer"]]


def _category(s, dimension, code):
    return Category.objects.get(dimension=s[dimension], code=code)


def _labelled_round(s, n=16, seed=3):
    """``n`` items labelled by both annotators (pass 1), in a round that is closed and re-opened;
    returns (round, {(item id, annotator id): (symptom, components)}) as pass 1 stood."""
    rng = random.Random(seed)
    items = [StudyItemFactory(study=s["study"], report=ReportFactory()) for _ in range(n)]
    pass1 = {}
    for item in items:
        a = rng.choice(SYMPTOMS)
        for annotator in (s["ann1"], s["ann2"]):
            AssignmentFactory(item=item, annotator=annotator)
            symptom = a if rng.random() < 0.5 else rng.choice(SYMPTOMS)
            components = rng.choice(COMPONENTS)
            item_labels_save(item=item, annotator=annotator, values={"symptom": symptom, "component": components})
            pass1[(item.id, annotator.id)] = (symptom, components)
    r = round_create(study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in items], created_by=None)
    round_close(round=r, closed_by=None)
    round_reopen(round=r, reopened_by=None, reason="before the codebook change")
    r.refresh_from_db()
    # Pass 2 has begun: one item labelled again (its annotations move on, its pass-1 history must not).
    for annotator in (s["ann1"], s["ann2"]):
        item_labels_save(item=items[0], annotator=annotator, values={"symptom": "wrong_output", "component": ["model"]})
    return r, pass1


def _relabel_symptom(s, annotation, symptom):
    """The annotator saves the item again with ``symptom`` and their components as they were."""
    item, annotator = annotation.item, annotation.annotator
    components = Annotation.objects.get(item=item, annotator=annotator, dimension=s["component"]).value.split(";")
    item_labels_save(item=item, annotator=annotator, values={"symptom": symptom, "component": components})


def _snapshots(dimension):
    return {
        (item, annotator): value
        for item, annotator, value in AnnotationSnapshot.objects.filter(dimension=dimension).values_list(
            "item_id", "annotator_id", "value"
        )
    }


def _alpha(s, values: dict, categories: list[str]) -> float:
    """Krippendorff's nominal alpha of ``values`` ({(item, annotator): code}) by the krippendorff package."""
    items = sorted({item for item, _ in values})
    code = {c: i for i, c in enumerate(categories)}
    data = np.array(
        [[code[values[(i, a.id)]] if (i, a.id) in values else np.nan for i in items] for a in (s["ann1"], s["ann2"])],
        dtype=float,
    )
    return krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")


def _pass1(s, r, code):
    s["study"].refresh_from_db()  # the codebook is read (and cached) under the study's current version
    result = study_agreement(study=s["study"], round=r, pass_number=1, dimension_codes=[code], resamples=0)
    return result["dimensions"][0]


def test_a_merge_rewrites_an_earlier_pass_and_its_agreement_equals_the_oracle_on_the_rewritten_values(small_study):
    s = small_study
    r, pass1 = _labelled_round(s)
    before = _snapshots(s["symptom"])
    assert before == {key: symptom for key, (symptom, _) in pass1.items()}
    components_before = _snapshots(s["component"])
    holding_hang = sum(v == "hang" for v in before.values())
    assert holding_hang > 0

    event = categories_merge(source=_category(s, "symptom", "hang"), target=_category(s, "symptom", "crash"))

    expected = {key: "crash" if v == "hang" else v for key, v in before.items()}
    assert _snapshots(s["symptom"]) == expected
    assert _snapshots(s["component"]) == components_before  # another dimension: untouched
    assert event.details["snapshots_rewritten"] == holding_hang
    assert CodebookEvent.objects.get(pk=event.pk).details["snapshots_rewritten"] == holding_hang
    d = _pass1(s, r, "symptom")
    assert d["unknown_categories"] == []
    assert d["items"] == len({item for item, _ in expected})
    assert d["krippendorff_alpha"]["value"] == pytest.approx(_alpha(s, expected, ["crash", "wrong_output"]), abs=1e-9)
    assert d["percent_agreement"] == pytest.approx(
        np.mean([expected[(i, s["ann1"].id)] == expected[(i, s["ann2"].id)] for i in {i for i, _ in expected}])
    )
    # The live annotations were merged too, and no stored value anywhere holds the merged code.
    assert not Annotation.objects.filter(dimension=s["symptom"], value="hang").exists()


def test_a_multiple_choice_merge_and_rename_rewrite_snapshot_values_sorted_and_without_duplicates(small_study):
    s = small_study
    r, pass1 = _labelled_round(s, seed=11)
    before = _snapshots(s["component"])
    assert before == {key: ";".join(sorted(components)) for key, (_, components) in pass1.items()}
    assert "layers;model" in before.values() and "layers;optimizer" in before.values()

    merge = categories_merge(source=_category(s, "component", "model"), target=_category(s, "component", "layers"))
    merged = {
        key: ";".join(sorted({"layers" if c == "model" else c for c in v.split(";")})) for key, v in before.items()
    }
    assert _snapshots(s["component"]) == merged
    assert merge.details["snapshots_rewritten"] == sum(merged[k] != before[k] for k in before)
    assert "layers;layers" not in merged.values() and "layers" in merged.values()

    # 'layers' renamed to 'zlayers': inside 'layers;optimizer' the codes are sorted again.
    rename = category_rename(category=_category(s, "component", "layers"), code="zlayers")
    renamed = {
        key: ";".join(sorted("zlayers" if c == "layers" else c for c in v.split(";"))) for key, v in merged.items()
    }
    assert _snapshots(s["component"]) == renamed
    assert "optimizer;zlayers" in renamed.values()
    assert rename.details["snapshots_rewritten"] == sum("layers" in v.split(";") for v in merged.values())
    d = _pass1(s, r, "component")
    assert d["unknown_categories"] == [] and d["items"] == len({i for i, _ in renamed})

    # A rename of the name only rewrites nothing.
    assert (
        category_rename(category=_category(s, "component", "zlayers"), name="Layer modules").details[
            "snapshots_rewritten"
        ]
        == 0
    )


def test_a_rename_of_a_single_choice_code_keeps_agreement_on_the_earlier_pass(small_study):
    s = small_study
    r, _ = _labelled_round(s, seed=5)
    figures = _pass1(s, r, "symptom")
    before = _snapshots(s["symptom"])
    event = category_rename(category=_category(s, "symptom", "hang"), code="freeze")
    assert event.details["snapshots_rewritten"] == sum(v == "hang" for v in before.values()) > 0
    assert _snapshots(s["symptom"]) == {k: "freeze" if v == "hang" else v for k, v in before.items()}
    after = _pass1(s, r, "symptom")
    assert after["unknown_categories"] == []
    for key in ("items", "percent_agreement", "krippendorff_alpha"):
        assert after[key] == figures[key]  # the same labels under a new code: the same figures


def test_after_a_split_the_earlier_pass_keeps_the_split_code_and_counts_it_as_the_retired_category(small_study):
    s = small_study
    r, _ = _labelled_round(s, seed=8)
    before = _snapshots(s["symptom"])
    holding = sum(v == "hang" for v in before.values())
    assert holding > 0
    figures = _pass1(s, r, "symptom")

    event = category_split(
        category=_category(s, "symptom", "hang"),
        into=[{"code": "hang_gpu", "name": "Hang on GPU"}, {"code": "hang_io", "name": "Hang in I/O"}],
    )
    assert _category(s, "symptom", "hang").retired
    assert _snapshots(s["symptom"]) == before  # history is history
    assert event.details["snapshots_kept"] == holding
    d = _pass1(s, r, "symptom")
    assert d["unknown_categories"] == []  # 'hang' is a (retired) category of the codebook, not unknown
    assert d["items"] == figures["items"] == len({i for i, _ in before})
    categories = ["crash", "hang", "wrong_output", "hang_gpu", "hang_io"]
    assert d["krippendorff_alpha"]["value"] == pytest.approx(_alpha(s, before, categories), abs=1e-9)
    assert d["percent_agreement"] == figures["percent_agreement"]

    # The annotators recode their live labels; pass 1 still holds 'hang'.
    for annotation in Annotation.objects.filter(dimension=s["symptom"], needs_recode=True):
        _relabel_symptom(s, annotation, "hang_io")
    assert not Annotation.objects.filter(dimension=s["symptom"], value="hang").exists()
    assert _snapshots(s["symptom"]) == before
    assert _pass1(s, r, "symptom")["krippendorff_alpha"] == d["krippendorff_alpha"]


def _only_history_holds_hang(s):
    """A round whose pass 1 holds 'hang' and whose pass 2 labels hold it nowhere any more."""
    r, _ = _labelled_round(s, n=6, seed=4)
    for annotation in Annotation.objects.filter(dimension=s["symptom"], value="hang"):
        _relabel_symptom(s, annotation, "crash")
    assert not Annotation.objects.filter(dimension=s["symptom"], value="hang").exists()
    kept = AnnotationSnapshot.objects.filter(dimension=s["symptom"], value="hang").count()
    assert kept > 0
    return r, kept


def test_a_category_only_the_round_history_holds_cannot_be_deleted_or_recoded_in_place(small_study):
    s = small_study
    r, kept = _only_history_holds_hang(s)
    hang = _category(s, "symptom", "hang")
    with pytest.raises(ApplicationError, match=rf"held by {kept} labels? kept from earlier passes.*merge it") as exc:
        category_delete(category=hang)
    assert exc.value.status == 409
    with pytest.raises(ApplicationError, match="only by a rename"):
        category_update(category=hang, data={"code": "freeze"})
    assert Category.objects.filter(pk=hang.pk, code="hang").exists()
    assert AnnotationSnapshot.objects.filter(dimension=s["symptom"], value="hang").count() == kept
    # The way out: a merge rewrites the history too, and nothing is left unknown on pass 1.
    categories_merge(source=hang, target=_category(s, "symptom", "wrong_output"))
    assert _pass1(s, r, "symptom")["unknown_categories"] == []


def test_the_confirm_step_counts_the_round_history_and_a_blind_annotator_sees_no_such_count(small_study):
    s = small_study
    _only_history_holds_hang(s)
    hang = _category(s, "symptom", "hang")
    kept = AnnotationSnapshot.objects.filter(dimension=s["symptom"], value="hang").count()
    merge = codebook_operations.plan("merge", hang, {"target": "crash"})
    assert merge.impact["snapshots"] == kept
    assert f"{kept} label(s) kept from earlier passes of calibration rounds are rewritten too" in merge.description
    split = codebook_operations.plan(
        "split", hang, {"into": [{"code": "h1", "name": "H1"}, {"code": "h2", "name": "H2"}]}
    )
    assert "keep 'hang' (their history)" in split.description
    rehearsed = codebook_operations.rehearse(merge, by=s["owner"])
    assert rehearsed["details"]["snapshots_rewritten"] == kept
    assert AnnotationSnapshot.objects.filter(dimension=s["symptom"], value="hang").count() == kept  # rolled back
    event = codebook_operations.apply(merge, by=s["owner"])
    assert event_as_dict(event, with_counts=True)["details"]["snapshots_rewritten"] == kept
    assert "snapshots_rewritten" not in event_as_dict(event, with_counts=False)["details"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite never races")
def test_a_reopen_and_a_merge_at_once_leave_no_merged_code_in_the_history(small_study):
    s = small_study
    symptom = s["symptom"]
    for n in range(6):
        source = category_create(dimension=symptom, code=f"old_{n}", name=f"Old {n}")
        target = category_create(dimension=symptom, code=f"new_{n}", name=f"New {n}")
        item = _item(s)
        for annotator in (s["ann1"], s["ann2"]):
            item_labels_save(item=item, annotator=annotator, values={"symptom": source.code, "component": ["layers"]})
        r = round_create(study=s["study"], name=f"R{n}", source="list", item_ids=[item.id], created_by=None)
        round_close(round=r, closed_by=None)

        def reopen(r=r):
            round_reopen(round=r, reopened_by=None)

        def merge(source=source, target=target):
            categories_merge(source=source, target=target, by=s["owner"])

        assert _at_once(reopen, merge) == [], f"round {n}"
        kept = list(
            AnnotationSnapshot.objects.filter(round_pass__round=r, dimension=symptom).values_list("value", flat=True)
        )
        assert kept == [target.code, target.code], f"round {n}: {kept}"
        assert not AnnotationSnapshot.objects.filter(dimension=symptom, value=source.code).exists()
