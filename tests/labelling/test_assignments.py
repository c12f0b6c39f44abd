from collections import Counter

import pytest
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Assignment, Membership, StudyItem
from labelling.services.assignments import assignments_make
from tests.factories import MembershipFactory, StudyFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def _study(*, items=10, annotators=3, k=2, **item_kwargs):
    study = StudyFactory(overlap_k=k)
    people = [UserFactory() for _ in range(annotators)]
    for user in people:
        MembershipFactory(study=study, user=user, role=Membership.Role.ANNOTATOR)
    MembershipFactory(study=study, user=UserFactory(), role=Membership.Role.OWNER)
    MembershipFactory(study=study, user=UserFactory(), role=Membership.Role.VIEWER)
    StudyItemFactory.create_batch(items, study=study, **item_kwargs)
    return study, people


def _loads(study):
    return Counter(Assignment.objects.filter(study=study).values_list("annotator_id", flat=True))


def test_ten_items_k2_three_annotators_gives_loads_7_7_6():
    study, people = _study(items=10, annotators=3, k=2)
    assert assignments_make(study=study) == 20
    assert sorted(_loads(study).values(), reverse=True) == [7, 7, 6]
    assert set(_loads(study)) == {u.pk for u in people}  # owners and viewers get nothing
    per_item = Counter(Assignment.objects.filter(study=study).values_list("item_id", flat=True))
    assert set(per_item.values()) == {2}
    pairs = list(Assignment.objects.filter(study=study).values_list("item_id", "annotator_id"))
    assert len(pairs) == len(set(pairs))


def test_running_again_creates_nothing():
    study, _ = _study()
    assignments_make(study=study)
    before = list(Assignment.objects.filter(study=study).values_list("item_id", "annotator_id"))
    assert assignments_make(study=study) == 0
    assert list(Assignment.objects.filter(study=study).values_list("item_id", "annotator_id")) == before


def _pattern(study, people):
    """Assignments as (item position, annotator position), independent of database ids."""
    items = {
        pk: i for i, pk in enumerate(StudyItem.objects.filter(study=study).order_by("id").values_list("id", flat=True))
    }
    who = {u.pk: i for i, u in enumerate(people)}
    return sorted(
        (items[i], who[a]) for i, a in Assignment.objects.filter(study=study).values_list("item_id", "annotator_id")
    )


def test_result_is_deterministic_with_ties_to_the_lower_user_id():
    study, people = _study(items=7, annotators=4, k=3)
    assignments_make(study=study)
    first = _pattern(study, people)
    assert first[:3] == [(0, 0), (0, 1), (0, 2)]  # everyone at load 0: the three lowest ids
    assert first[3:6] == [(1, 0), (1, 1), (1, 3)]  # then the least loaded first
    Assignment.objects.filter(study=study).delete()
    assignments_make(study=study)
    assert _pattern(study, people) == first


def test_only_included_items_are_assigned():
    study, _ = _study(items=3)
    StudyItemFactory(study=study, screening=StudyItem.Screening.PENDING)
    StudyItemFactory(study=study, screening=StudyItem.Screening.EXCLUDED)
    assert assignments_make(study=study) == 6
    assert set(Assignment.objects.values_list("item__screening", flat=True)) == {"included"}


def test_new_items_and_a_higher_k_are_topped_up_by_current_load():
    study, people = _study(items=6, annotators=3, k=1)
    assert assignments_make(study=study) == 6
    assert sorted(_loads(study).values()) == [2, 2, 2]
    study.overlap_k = 2
    study.save(update_fields=["overlap_k"])
    StudyItemFactory.create_batch(3, study=study)
    assert assignments_make(study=study) == 3 + 9
    assert sorted(_loads(study).values()) == [6, 6, 6]
    per_item = Counter(Assignment.objects.filter(study=study).values_list("item_id", flat=True))
    assert set(per_item.values()) == {2}


def test_a_new_annotator_takes_the_next_items_first():
    study, people = _study(items=4, annotators=2, k=2)
    assignments_make(study=study)
    newcomer = UserFactory()
    MembershipFactory(study=study, user=newcomer, role=Membership.Role.ANNOTATOR)
    StudyItemFactory.create_batch(2, study=study)
    assert assignments_make(study=study) == 4
    assert _loads(study)[newcomer.pk] == 2


def test_completed_assignments_of_a_removed_annotator_still_count_towards_k():
    study, people = _study(items=1, annotators=2, k=2)
    item = StudyItem.objects.get(study=study)
    gone = UserFactory()
    Assignment.objects.create(study=study, item=item, annotator=gone, completed_at=timezone.now())
    assert assignments_make(study=study) == 1


def test_k_greater_than_annotators_is_refused_and_writes_nothing():
    study, _ = _study(items=5, annotators=2, k=3)
    with pytest.raises(ApplicationError) as err:
        assignments_make(study=study)
    assert "needs 3 distinct annotators but the study has 2" in err.value.message
    assert "add annotators or lower k" in err.value.message
    assert not Assignment.objects.filter(study=study).exists()


def test_progress_shows_new_assignments_at_once_even_when_cached(small_study, django_capture_on_commit_callbacks):
    from labelling.selectors.labelling import progress_for
    from labelling.services.assignments import assignments_make
    from tests.factories import StudyItemFactory

    study, alice = small_study["study"], small_study["ann1"]
    assert progress_for(study=study, annotator=alice) == (0, 0)  # now cached
    for _ in range(3):
        StudyItemFactory(study=study)
    with django_capture_on_commit_callbacks(execute=True):
        assignments_make(study=study)
    assert progress_for(study=study, annotator=alice) == (0, 3)
