"""Calibration rounds (issue 13): made from a seeded sample, a filter or a list; closed; re-opened for
re-labelling with the earlier labels kept as the round's history; agreement per round and pass
against an independent computation (the krippendorff package, scikit-learn) on the round's items only."""

from __future__ import annotations

import random

import krippendorff
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from sklearn.metrics import cohen_kappa_score

from config.errors import ApplicationError
from labelling.agreement.selectors import rounds_agreement, study_agreement
from labelling.models import Annotation, AnnotationSnapshot, Assignment, CalibrationRound, StudyItem
from labelling.selectors.labelling import next_item_for
from labelling.services.annotations import item_labels_save
from labelling.services.rounds import round_close, round_create, round_reopen
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory
from triage.reports.selectors import ReportFilter

pytestmark = pytest.mark.django_db

SYMPTOMS = ["crash", "hang", "wrong_output"]


def _items(s, n, **report):
    items = [StudyItemFactory(study=s["study"], report=ReportFactory(**report)) for _ in range(n)]
    for item in items:
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
    return items


def _label(item, annotator, symptom, component=("layers",)):
    item_labels_save(item=item, annotator=annotator, values={"symptom": symptom, "component": list(component)})


def _ids(round_):
    return sorted(round_.round_items.values_list("item_id", flat=True))


# ------------------------------------------------------------------------------------- sources


def test_a_seeded_sample_is_reproducible_and_draws_from_included_items_matching_the_filters(small_study):
    s = small_study
    torch = _items(s, 12, framework="pytorch")
    _items(s, 5, framework="tensorflow")
    StudyItemFactory(study=s["study"], report=ReportFactory(framework="pytorch"), screening="excluded")
    filters = ReportFilter(framework="PyTorch")
    pilot = round_create(
        study=s["study"], name="Pilot", source="sample", filters=filters, size=5, seed=42, created_by=s["owner"]
    )
    expected = sorted(random.Random(42).sample(sorted(i.id for i in torch), 5))
    assert _ids(pilot) == expected
    assert pilot.source_params == {"filters": {"framework": "pytorch"}, "size": 5, "seed": 42, "matched": 12}
    again = round_create(
        study=s["study"], name="Again", source="sample", filters=filters, size=5, seed=42, created_by=s["owner"]
    )
    assert _ids(again) == expected
    fresh = round_create(study=s["study"], name="Fresh", source="sample", size=3, created_by=s["owner"])
    assert isinstance(fresh.source_params["seed"], int) and len(_ids(fresh)) == 3


def test_a_filter_round_holds_every_included_item_that_matches(small_study):
    s = small_study
    torch = _items(s, 4, framework="pytorch")
    _items(s, 3, framework="tensorflow")
    r = round_create(
        study=s["study"], name="Torch", source="filter", filters=ReportFilter(framework="pytorch"),
        created_by=s["owner"],
    )  # fmt: skip
    assert _ids(r) == sorted(i.id for i in torch)
    assert r.status == "open" and r.current_pass == 1 and r.passes.get().number == 1


def test_a_list_round_holds_exactly_the_listed_items(small_study):
    s = small_study
    items = _items(s, 5)
    r = round_create(
        study=s["study"], name="Hand-picked", source="list", item_ids=[items[3].id, items[0].id, items[3].id],
        created_by=s["owner"],
    )  # fmt: skip
    assert _ids(r) == sorted([items[0].id, items[3].id])


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"name": "", "source": "list", "item_ids": [1]}, "name", "name"),
        ({"name": "Pilot", "source": "list", "item_ids": []}, "item_ids", "at least one"),
        ({"name": "Pilot", "source": "list", "item_ids": [10**9]}, "item_ids", "not items of this study"),
        ({"name": "Pilot", "source": "list", "item_ids": ["x"]}, "item_ids", "positive whole numbers"),
        ({"name": "Pilot", "source": "sample", "size": 0}, "size", "at least 1"),
        ({"name": "Pilot", "source": "sample", "size": 99}, "size", "at most 3"),
        ({"name": "Pilot", "source": "sample", "size": 2, "seed": -1}, "seed", "seed"),
        ({"name": "Pilot", "source": "filter", "filters": ReportFilter(framework="jax")}, "filters", "No included"),
        ({"name": "Pilot", "source": "poll"}, "source", "sample, filter, list"),
    ],
)
def test_bad_round_input_is_refused_with_a_clear_message_and_writes_nothing(small_study, kwargs, field, words):
    s = small_study
    _items(s, 3, framework="pytorch")
    with pytest.raises(ValidationError) as caught:
        round_create(study=s["study"], created_by=s["owner"], **kwargs)
    assert field in caught.value.message_dict
    assert words in " ".join(caught.value.message_dict[field])
    assert not CalibrationRound.objects.exists()


def test_a_listed_item_that_is_not_included_or_a_taken_name_is_refused(small_study):
    s = small_study
    items = _items(s, 2)
    pending = StudyItemFactory(study=s["study"], screening=StudyItem.Screening.PENDING)
    with pytest.raises(ValidationError, match="not included"):
        round_create(study=s["study"], name="P", source="list", item_ids=[items[0].id, pending.id], created_by=None)
    round_create(study=s["study"], name="Pilot", source="list", item_ids=[items[0].id], created_by=None)
    with pytest.raises(ValidationError, match="already has a round named"):
        round_create(study=s["study"], name="pilot", source="list", item_ids=[items[1].id], created_by=None)


# ------------------------------------------------------------------------------ close, re-open


def test_reopen_keeps_the_earlier_labels_as_the_rounds_history_and_opens_the_assignments(small_study):
    s = small_study
    items = _items(s, 4)
    outside = _items(s, 1)[0]
    for item in items + [outside]:
        _label(item, s["ann1"], "crash")
        _label(item, s["ann2"], "hang")
    pilot = round_create(
        study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in items], created_by=s["owner"]
    )
    with pytest.raises(ApplicationError, match="close it before"):
        round_reopen(round=pilot, reopened_by=s["owner"])
    round_close(round=pilot, closed_by=s["owner"])
    with pytest.raises(ApplicationError, match="already closed"):
        round_close(round=pilot, closed_by=s["owner"])
    before = set(Annotation.objects.values_list("item_id", "annotator_id", "dimension_id", "value"))
    new_pass = round_reopen(round=pilot, reopened_by=s["owner"], reason="symptom definitions sharpened")
    pilot.refresh_from_db()
    assert (new_pass.number, pilot.current_pass, pilot.status) == (2, 2, "open")
    # The annotations are untouched; pass 1 is kept, label by label, in its snapshot.
    assert set(Annotation.objects.values_list("item_id", "annotator_id", "dimension_id", "value")) == before
    kept = set(AnnotationSnapshot.objects.values_list("item_id", "annotator_id", "dimension_id", "value"))
    assert kept == {row for row in before if row[0] in {i.id for i in items}}
    assert pilot.passes.get(number=1).labels_kept == len(kept) == 4 * 2 * 2
    # The round's assignments are open again (and only those); the annotators find them back.
    assert set(Assignment.objects.filter(completed_at__isnull=True).values_list("item_id", flat=True)) == {
        i.id for i in items
    }
    assert next_item_for(study=s["study"], annotator=s["ann1"]).id == items[0].id
    # Re-labelling changes the annotations, never the history.
    _label(items[0], s["ann1"], "hang")
    _label(items[0], s["ann2"], "hang")
    assert set(AnnotationSnapshot.objects.values_list("item_id", "annotator_id", "dimension_id", "value")) == kept
    pass1 = study_agreement(study=s["study"], round=pilot, pass_number=1, dimension_codes=["symptom"])
    pass2 = study_agreement(study=s["study"], round=pilot, pass_number=2, dimension_codes=["symptom"])
    assert pass1["dimensions"][0]["items"] == 4 and pass1["dimensions"][0]["percent_agreement"] == 0.0
    # Pass 2 counts only what was labelled again since the re-opening: one item, agreed.
    assert pass2["dimensions"][0]["items"] == 1 and pass2["dimensions"][0]["percent_agreement"] == 1.0
    assert pass2["round"] == {"id": pilot.pk, "name": "Pilot", "pass": 2, "passes": 2, "status": "open"}
    with pytest.raises(ApplicationError, match="no pass 3"):
        study_agreement(study=s["study"], round=pilot, pass_number=3)


def test_a_second_reopen_keeps_pass_two_and_pass_one_stays_as_it_was(small_study):
    s = small_study
    items = _items(s, 3)
    for item in items:
        _label(item, s["ann1"], "crash")
        _label(item, s["ann2"], "hang")
    r = round_create(study=s["study"], name="R", source="list", item_ids=[i.id for i in items], created_by=None)
    round_close(round=r, closed_by=None)
    round_reopen(round=r, reopened_by=None)
    r.refresh_from_db()
    for item in items:
        _label(item, s["ann1"], "crash")
        _label(item, s["ann2"], "crash")
    before = study_agreement(study=s["study"], round=r, pass_number=2, dimension_codes=["symptom"])
    round_close(round=r, closed_by=None)
    round_reopen(round=r, reopened_by=None)
    r.refresh_from_db()
    after = study_agreement(study=s["study"], round=r, pass_number=2, dimension_codes=["symptom"])
    assert after["dimensions"] == before["dimensions"]  # the same figures, now from the history
    assert after["dimensions"][0]["percent_agreement"] == 1.0
    first = study_agreement(study=s["study"], round=r, pass_number=1, dimension_codes=["symptom"])
    assert first["dimensions"][0]["percent_agreement"] == 0.0
    current = study_agreement(study=s["study"], round=r, dimension_codes=["symptom"])
    assert current["round"]["pass"] == 3 and current["dimensions"][0]["items"] == 0


# ------------------------------------------------------------------- agreement vs. the oracle


def test_per_round_figures_equal_an_independent_computation_on_the_rounds_items_only(small_study):
    s = small_study
    rng = random.Random(7)
    items = _items(s, 30)
    labels = {}
    for item in items:
        a = rng.choice(SYMPTOMS)
        b = a if rng.random() < 0.6 else rng.choice(SYMPTOMS)
        _label(item, s["ann1"], a)
        _label(item, s["ann2"], b)
        labels[item.id] = (a, b)
    chosen = sorted(rng.sample([i.id for i in items], 12))
    r = round_create(study=s["study"], name="Pilot", source="list", item_ids=chosen, created_by=None)
    result = study_agreement(study=s["study"], round=r, dimension_codes=["symptom"], resamples=0)
    (d,) = result["dimensions"]
    code = {c: i for i, c in enumerate(SYMPTOMS)}
    data = np.array([[code[labels[i][0]] for i in chosen], [code[labels[i][1]] for i in chosen]], dtype=float)
    expected_alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert d["items"] == 12
    assert d["krippendorff_alpha"]["value"] == pytest.approx(expected_alpha, abs=1e-9)
    (pair,) = d["cohen_kappa"]
    expected_kappa = cohen_kappa_score([labels[i][0] for i in chosen], [labels[i][1] for i in chosen])
    assert pair["value"] == pytest.approx(expected_kappa, abs=1e-9)
    assert d["percent_agreement"] == pytest.approx(np.mean([labels[i][0] == labels[i][1] for i in chosen]))
    whole = study_agreement(study=s["study"], dimension_codes=["symptom"], resamples=0)["dimensions"][0]
    assert whole["items"] == 30  # the round is not the study

    table = rounds_agreement(study=s["study"], resamples=0)
    (row,) = table
    symptom = next(x for x in row["dimensions"] if x["code"] == "symptom")
    assert row["round"]["items"] == 12 and row["round"]["pass"] == 1
    assert symptom["krippendorff_alpha"]["value"] == pytest.approx(expected_alpha, abs=1e-9)
