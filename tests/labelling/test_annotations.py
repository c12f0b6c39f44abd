"""labelling/services/annotations.py: item_labels_save."""

import pytest
from django.core.exceptions import ValidationError

from config.errors import ApplicationError
from labelling.models import Annotation, Assignment, Dimension, FinalLabel
from labelling.services.annotations import MAX_TIME_SPENT_MS, item_labels_save
from tests.factories import DimensionFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


def _save(s, item, who="ann1", **kwargs):
    kwargs.setdefault("values", {"symptom": "crash", "component": ["layers"]})
    kwargs.setdefault("notes", {})
    kwargs.setdefault("time_spent_ms", 0)
    return item_labels_save(item=item, annotator=s[who], **kwargs)


def test_save_creates_one_annotation_per_dimension_and_completes_the_assignment(labelling_study):
    s = labelling_study
    item = s["items"][0]
    saved = _save(s, item, values={"symptom": "Crash", "component": ["model", "layers"]}, notes={"symptom": " why "})
    assert len(saved) == 2
    rows = {a.dimension.code: a for a in Annotation.objects.filter(item=item, annotator=s["ann1"])}
    assert rows["symptom"].value == "crash"  # names are turned into codes
    assert rows["symptom"].note == "why"
    assert rows["component"].value == "layers;model"  # sorted, joined
    assignment = Assignment.objects.get(item=item, annotator=s["ann1"])
    assert assignment.completed_at is not None
    assert not Assignment.objects.get(item=item, annotator=s["ann2"]).completed_at


def test_saving_again_updates_in_place_and_keeps_the_completion_time(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _save(s, item)
    first_completed = Assignment.objects.get(item=item, annotator=s["ann1"]).completed_at
    ids = set(Annotation.objects.filter(item=item, annotator=s["ann1"]).values_list("id", flat=True))
    _save(s, item, values={"symptom": "hang", "component": "optimizer"}, notes={"component": "changed my mind"})
    rows = {a.dimension.code: a for a in Annotation.objects.filter(item=item, annotator=s["ann1"])}
    assert set(a.id for a in rows.values()) == ids
    assert rows["symptom"].value == "hang"
    assert rows["component"].value == "optimizer"
    assert rows["component"].note == "changed my mind"
    assert Assignment.objects.get(item=item, annotator=s["ann1"]).completed_at == first_completed


def test_time_spent_is_added_and_shared_over_the_dimensions(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _save(s, item, time_spent_ms=12_001)
    _save(s, item, time_spent_ms=3_000)
    rows = list(Annotation.objects.filter(item=item, annotator=s["ann1"]).values_list("time_spent_ms", flat=True))
    assert sum(rows) == 15_001
    assert all(r > 0 for r in rows)


@pytest.mark.parametrize("given, expected", [(-5, 0), (10 * MAX_TIME_SPENT_MS, MAX_TIME_SPENT_MS), ("nonsense", 0)])
def test_time_spent_is_clamped_to_one_hour(labelling_study, given, expected):
    s = labelling_study
    item = s["items"][0]
    _save(s, item, time_spent_ms=given)
    total = sum(Annotation.objects.filter(item=item, annotator=s["ann1"]).values_list("time_spent_ms", flat=True))
    assert total == expected


def test_annotator_without_assignment_is_refused_with_403(labelling_study):
    s = labelling_study
    other_item = StudyItemFactory(study=s["study"])
    with pytest.raises(ApplicationError) as exc:
        _save(s, other_item)
    assert exc.value.status == 403
    assert "not assigned" in exc.value.message
    with pytest.raises(ApplicationError):
        _save(s, s["items"][0], who="viewer")
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    "values, notes, dimension, fragment",
    [
        (
            {"symptom": "explosion", "component": "layers"},
            {},
            "symptom",
            "'explosion' is not a category of Symptom ('symptom'). Pick one of: Crash (crash), Hang (hang), "
            "Incorrect Functionality (wrong_output).",
        ),
        ({"symptom": ["crash", "hang"], "component": "layers"}, {}, "symptom", "takes one category"),
        ({"symptom": "crash;hang", "component": "layers"}, {}, "symptom", "got 2: Crash (crash), Hang (hang)"),
        (
            {"symptom": "crash", "component": ["layers", "model", "optimizer"]},
            {},
            "component",
            "Component takes at most 2 categories, got 3: Layers (layers), Model (model), Optimizer (optimizer).",
        ),
        ({"symptom": "", "component": "layers"}, {}, "symptom", "is required: pick one of: Crash (crash), Hang"),
        ({"component": "layers"}, {}, "symptom", "is required"),
        ({"symptom": "crash", "component": "layers", "severity": "high"}, {}, "severity", "not a dimension"),
        ({"symptom": "crash", "component": "layers"}, {"nope": "x"}, "nope", "not a dimension"),
    ],
)
def test_bad_values_save_nothing_and_name_the_dimension(labelling_study, values, notes, dimension, fragment):
    s = labelling_study
    item = s["items"][0]
    with pytest.raises(ValidationError) as exc:
        _save(s, item, values=values, notes=notes)
    assert dimension in exc.value.message_dict
    message = " ".join(exc.value.message_dict[dimension])
    assert fragment in message
    assert not Annotation.objects.exists()
    assert not FinalLabel.objects.exists()
    assert Assignment.objects.get(item=item, annotator=s["ann1"]).completed_at is None


def test_error_messages_say_what_is_valid(labelling_study):
    s = labelling_study
    with pytest.raises(ValidationError) as exc:
        _save(s, s["items"][0], values={"symptom": "boom", "component": ""})
    errors = exc.value.message_dict
    assert "crash" in errors["symptom"][0] and "hang" in errors["symptom"][0]
    assert "layers" in errors["component"][0]


def test_a_bad_value_on_update_keeps_the_previous_labels(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _save(s, item)
    with pytest.raises(ValidationError):
        _save(s, item, values={"symptom": "hang", "component": "nonsense"})
    assert Annotation.objects.get(item=item, annotator=s["ann1"], dimension=s["symptom"]).value == "crash"


def test_optional_and_free_text_dimensions(labelling_study):
    s = labelling_study
    DimensionFactory(codebook=s["study"].codebook, code="version", kind=Dimension.Kind.TEXT, required=False, order=5)
    item = s["items"][0]
    _save(s, item, values={"symptom": "crash", "component": "layers"})
    assert Annotation.objects.get(item=item, annotator=s["ann1"], dimension__code="version").value == ""
    _save(s, item, values={"symptom": "crash", "component": "layers", "version": "  2.4.1 "})
    assert Annotation.objects.get(item=item, annotator=s["ann1"], dimension__code="version").value == "2.4.1"
    with pytest.raises(ValidationError) as exc:
        _save(s, item, values={"symptom": "crash", "component": "layers", "version": ["a", "b"]})
    assert "free text" in exc.value.message_dict["version"][0]


def test_save_refreshes_final_labels(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _save(s, item, who="ann1")
    assert not FinalLabel.objects.exists()  # only one of k=2 finished
    _save(s, item, who="ann2")
    finals = dict(FinalLabel.objects.filter(item=item).values_list("dimension__code", "value"))
    assert finals == {"symptom": "crash", "component": "layers"}


# --- the save's queries ------------------------------------------------------------------------------

# The study's share lock (a codebook change waits for the save: codebook_read_lock), the item's lock,
# its assignments, annotations and final labels (one statement), the upsert of the annotations, the
# assignment's completion, the upsert of the final labels, once every assignment is completed the
# item's final labels and recorded disagreements read (item_disagreements_record: nothing changed,
# nothing written), the study's new results token (study_results_changed, last); plus the save's
# SAVEPOINT and its RELEASE inside the test's own transaction.
SAVE_QUERIES_FIRST = 2 + 9
SAVE_QUERIES_AGAIN = 2 + 7  # completed already, final labels unchanged: no completion, no final label write


def _study_with_dimensions(n: int):
    """A study of ``n`` single-choice dimensions (3 categories each), two annotators, one item, k=2."""
    from tests.factories import AssignmentFactory, CategoryFactory, StudyFactory, UserFactory

    study = StudyFactory(overlap_k=2)
    for d in range(n):
        dimension = DimensionFactory(codebook=study.codebook, code=f"d{d}", kind=Dimension.Kind.SINGLE, order=d)
        for c in range(3):
            CategoryFactory(dimension=dimension, code=f"c{c}", order=c)
    item = StudyItemFactory(study=study)
    people = [UserFactory(), UserFactory()]
    for person in people:
        AssignmentFactory(item=item, annotator=person)
    return item, people, {f"d{d}": "c1" for d in range(n)}


@pytest.mark.parametrize("dimensions", [1, 4, 12])
def test_the_save_costs_the_same_queries_whatever_the_number_of_dimensions(django_assert_num_queries, dimensions):
    """No query per dimension (N+1): one upsert of all the annotations, the codebook from its cache."""
    from labelling.selectors.labelling import codebook_for_labelling

    item, (first, second), values = _study_with_dimensions(dimensions)
    codebook_for_labelling(study=item.study)  # cached, as on any page after the first
    item_labels_save(item=item, annotator=first, values=values)
    # The second annotator agrees: every dimension gets its unanimous final label, in one upsert.
    with django_assert_num_queries(SAVE_QUERIES_FIRST):
        item_labels_save(item=item, annotator=second, values=values)
    assert FinalLabel.objects.filter(item=item, method="unanimous").count() == dimensions
    with django_assert_num_queries(SAVE_QUERIES_AGAIN):  # saved again: updates in place
        saved = item_labels_save(item=item, annotator=second, values=values, time_spent_ms=1000)
    assert Annotation.objects.filter(item=item).count() == 2 * dimensions
    stored = Annotation.objects.filter(item=item, annotator=second).values_list("id", flat=True)
    assert {a.id for a in saved} == set(stored)


def test_a_save_with_a_stale_study_uses_the_rule_committed_since(labelling_study):
    """The view's study was read before a rule change committed: the save reads the codebook version
    under the item's lock and decides with the new rule, not the cached codebook of the old version."""
    from labelling.models import Study
    from labelling.services.decision_rules import decision_rule_set

    s = labelling_study
    item = s["items"][0]
    stale = Study.objects.get(pk=s["study"].pk)
    item.study = stale
    _save(s, item, who="ann1", values={"symptom": "crash", "component": ["layers"]})
    decision_rule_set(study=Study.objects.get(pk=stale.pk), rule="adjudication", dimension_codes=["symptom"])
    _save(s, item, who="ann2", values={"symptom": "crash", "component": ["layers"]})
    finals = dict(FinalLabel.objects.filter(item=item).values_list("dimension__code", "method"))
    assert finals == {"component": "unanimous"}  # symptom is left to adjudication
    assert stale.codebook_version == Study.objects.get(pk=stale.pk).codebook_version


def test_the_save_returns_the_annotations_as_stored(labelling_study):
    s = labelling_study
    item = s["items"][0]
    first = {a.dimension.code: a for a in _save(s, item, time_spent_ms=2000)}
    again = {a.dimension.code: a for a in _save(s, item, values={"symptom": "hang", "component": ["model"]})}
    stored = {a.dimension.code: a for a in Annotation.objects.filter(item=item, annotator=s["ann1"])}
    for code, annotation in again.items():
        assert annotation.id == first[code].id == stored[code].id
        assert annotation.created_at == stored[code].created_at == first[code].created_at
        assert (annotation.value, annotation.time_spent_ms) == (stored[code].value, stored[code].time_spent_ms)
    assert sum(a.time_spent_ms for a in stored.values()) == 2000


def test_a_codebook_change_reaches_the_next_save_in_the_same_process(labelling_study):
    """The save keeps the codebook of each version in the process: a change (which bumps the version)
    is seen by the very next save, a new category accepted and a renamed code's old spelling refused."""
    from labelling.services.codebook_evolution import category_rename
    from labelling.services.codebooks import category_create

    s = labelling_study
    first, second = s["items"][0], s["items"][1]
    _save(s, first)  # the codebook of this version is now kept by the process
    symptom = s["study"].codebook.dimensions.get(code="symptom")
    category_create(dimension=symptom, code="leak", name="Memory leak")
    s["study"].refresh_from_db()
    first.study, second.study = s["study"], s["study"]
    _save(s, first, values={"symptom": "leak", "component": "layers"})
    assert Annotation.objects.get(item=first, annotator=s["ann1"], dimension=symptom).value == "leak"

    category_rename(category=symptom.categories.get(code="leak"), code="memory_leak")
    s["study"].refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        _save(s, second, values={"symptom": "leak", "component": "layers"})
    assert "symptom" in refused.value.message_dict
    _save(s, second, values={"symptom": "memory_leak", "component": "layers"})
    assert Annotation.objects.get(item=second, annotator=s["ann1"], dimension=symptom).value == "memory_leak"
