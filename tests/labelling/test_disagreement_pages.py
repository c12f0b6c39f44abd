"""labelling/selectors/labelling.py: disagreements_for in keyset pages (``after``, ``limit``).

The oracle is the selector as it was before it paginated in SQL (kept below, verbatim but for
its name): it found every candidate with Django aggregates and compared the normalised values
in Python. The new one must give the same disagreements, in the same order, on random
studies, whole or walked page by page; and a page must cost the same queries whatever the
study's size.
"""

import random
from collections import defaultdict

import pytest
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelling.models import Annotation, Assignment, FinalLabel, StudyItem
from labelling.selectors.labelling import (
    AnnotatorValue,
    DimensionDisagreement,
    Disagreement,
    dimensions_of,
    disagreements_for,
)
from labelling.services.disagreements import disagreements_refresh
from labelling.values import compared_value as _normalised
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    FinalLabelFactory,
    MembershipFactory,
    StudyItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def old_disagreements_for(*, study, dimension_code=None, chunk_size=500):
    """The selector before keyset pages (the oracle)."""
    dimensions = dimensions_of(study=study)
    if dimension_code:
        dimensions = [d for d in dimensions if d.code == dimension_code]
    if not dimensions:
        return []
    final_count = (
        FinalLabel.objects.filter(item=OuterRef("pk"), dimension__in=dimensions)
        .order_by()
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    candidates = (
        StudyItem.objects.filter(study=study)
        .annotate(
            n_assigned=Count("assignments"),
            n_open=Count("assignments", filter=Q(assignments__completed_at__isnull=True)),
        )
        .filter(n_assigned__gte=max(study.overlap_k, 1), n_open=0)
        .annotate(n_final=Coalesce(Subquery(final_count, output_field=IntegerField()), 0))
        .filter(n_final__lt=len(dimensions))
        .order_by("id")
    )
    candidate_ids = list(candidates.values_list("id", flat=True))
    result = []
    for start in range(0, len(candidate_ids), chunk_size):
        ids = candidate_ids[start : start + chunk_size]
        items = {i.id: i for i in StudyItem.objects.filter(id__in=ids).select_related("report")}
        annotators = defaultdict(list)
        for item_id, user_id, username in (
            Assignment.objects.filter(item_id__in=ids)
            .order_by("annotator__username")
            .values_list("item_id", "annotator_id", "annotator__username")
        ):
            annotators[item_id].append((user_id, username))
        values = {}
        for item_id, dim_id, user_id, value, note in Annotation.objects.filter(
            item_id__in=ids, dimension__in=dimensions
        ).values_list("item_id", "dimension_id", "annotator_id", "value", "note"):
            values[(item_id, dim_id, user_id)] = (value, note)
        finals = set(
            FinalLabel.objects.filter(item_id__in=ids, dimension__in=dimensions).values_list("item_id", "dimension_id")
        )
        for item_id in ids:
            disagreeing = []
            for dimension in dimensions:
                if (item_id, dimension.id) in finals:
                    continue
                row = [
                    AnnotatorValue(uid, name, *values.get((item_id, dimension.id, uid), ("", "")))
                    for uid, name in annotators[item_id]
                ]
                if len({_normalised(dimension, v.value) for v in row}) > 1:
                    disagreeing.append(DimensionDisagreement(dimension=dimension, values=row))
            if disagreeing:
                result.append(Disagreement(item=items[item_id], dimensions=disagreeing))
    return result


def _flat(disagreements):
    return [
        (d.item.id, dd.dimension.code, [(v.annotator, v.value, v.note) for v in dd.values])
        for d in disagreements
        for dd in d.dimensions
    ]


# Stored values, some of them not normalised (a multiple-choice value unsorted, with a
# duplicate or blanks): equal to another once normalised, so the database sees a candidate
# that the Python check must drop.
SYMPTOMS = ["", "crash", "hang", "wrong_output"]
COMPONENTS = ["", "layers", "model", "layers;model", "model;layers", "model; layers;layers", "optimizer"]


def _random_study(small_study, seed, items=60):
    rng = random.Random(seed)
    s = small_study
    study = s["study"]
    carla = UserFactory(username="carla")
    MembershipFactory(study=study, user=carla)
    annotators = [s["ann1"], s["ann2"], carla]
    dims = [(s["symptom"], SYMPTOMS), (s["component"], COMPONENTS)]
    for _ in range(items):
        item = StudyItemFactory(study=study)
        who = rng.sample(annotators, rng.choice([1, 2, 2, 3, 3, 3]))
        for person in who:
            done = rng.random() < 0.85
            AssignmentFactory(item=item, annotator=person, completed_at=timezone.now() if done else None)
            for dimension, choices in dims:
                if rng.random() < 0.85:
                    note = rng.choice(["", "", "why"])
                    AnnotationFactory(
                        item=item, annotator=person, dimension=dimension, value=rng.choice(choices), note=note
                    )
        if rng.random() < 0.1:  # an annotation of somebody not assigned: ignored
            outsider = next((a for a in annotators if a not in who), None)
            if outsider is not None:
                AnnotationFactory(item=item, annotator=outsider, dimension=s["symptom"], value="hang")
        for dimension, _ in dims:
            if rng.random() < 0.2:
                FinalLabelFactory(item=item, dimension=dimension, value="crash", method=FinalLabel.Method.ADJUDICATED)
    return study


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("dimension_code", [None, "symptom", "component"])
def test_equals_the_old_selector_on_a_random_study(small_study, seed, dimension_code):
    study = _random_study(small_study, seed)
    for k in (1, 2, 3):
        study.overlap_k = k
        study.save(update_fields=["overlap_k"])
        disagreements_refresh(study=study)  # as study_update does when k changes
        expected = _flat(old_disagreements_for(study=study, dimension_code=dimension_code))
        assert expected  # the random study has some
        assert _flat(disagreements_for(study=study, dimension_code=dimension_code)) == expected
        assert _flat(disagreements_for(study=study, dimension_code=dimension_code, chunk_size=3)) == expected
        # walked in keyset pages of 4
        walked, after = [], 0
        while True:
            page = disagreements_for(study=study, dimension_code=dimension_code, after=after, limit=4)
            walked.extend(page)
            if len(page) < 4:
                break
            after = page[-1].item.id
        assert _flat(walked) == expected


def test_a_page_drops_candidates_equal_once_normalised_and_still_fills_up(small_study):
    s = small_study
    study = s["study"]
    items = [StudyItemFactory(study=study) for _ in range(4)]
    for n, item in enumerate(items):
        for person in (s["ann1"], s["ann2"]):
            AssignmentFactory(item=item, annotator=person, completed_at=timezone.now())
            AnnotationFactory(item=item, annotator=person, dimension=s["symptom"], value="crash")
        # the first two items differ only as stored ("layers;model" vs "model;layers")
        other = "model;layers" if n < 2 else "optimizer"
        AnnotationFactory(item=item, annotator=s["ann1"], dimension=s["component"], value="layers;model")
        AnnotationFactory(item=item, annotator=s["ann2"], dimension=s["component"], value=other)
    page = disagreements_for(study=study, limit=2)
    assert [d.item for d in page] == items[2:]
    assert disagreements_for(study=study, after=items[2].id, limit=2)[0].item == items[3]


def _finished_disagreeing_study(small_study, n):
    s = small_study
    for i in range(n):
        item = StudyItemFactory(study=s["study"])
        for person, value in ((s["ann1"], "crash"), (s["ann2"], "hang" if i % 2 else "crash")):
            AssignmentFactory(item=item, annotator=person, completed_at=timezone.now())
            AnnotationFactory(item=item, annotator=person, dimension=s["symptom"], value=value)
            AnnotationFactory(item=item, annotator=person, dimension=s["component"], value="layers")
        if i % 2 == 0:
            FinalLabelFactory(item=item, dimension=s["symptom"], value="crash")
            FinalLabelFactory(item=item, dimension=s["component"], value="layers")
    return s["study"]


def _page_queries(study, after=0):
    with CaptureQueriesContext(connection) as ctx:
        page = disagreements_for(study=study, after=after, limit=5)
    return len(ctx.captured_queries), page


def test_a_page_costs_the_same_queries_whatever_the_study_size(small_study):
    study = _finished_disagreeing_study(small_study, 12)
    small, page = _page_queries(study)
    assert len(page) == 5
    _finished_disagreeing_study(small_study, 150)
    large, page = _page_queries(study)
    assert len(page) == 5
    assert large == small
    later, page = _page_queries(study, after=page[-1].item.id)
    assert later == small and len(page) == 5
    # the full list, by contrast, reads its candidates chunk by chunk
    with CaptureQueriesContext(connection) as ctx:
        everything = disagreements_for(study=study, chunk_size=20)
    assert len(everything) == 81 and len(ctx.captured_queries) > small
