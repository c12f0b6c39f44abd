import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from labelling.models import Assignment, StudyItem
from labelling.services.screening import item_screen
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(small_study):
    return StudyItemFactory(study=small_study["study"], screening=StudyItem.Screening.PENDING)


def test_include_records_who_and_when(small_study, pending):
    item = item_screen(item=pending, decision="include", screened_by=small_study["owner"])
    item.refresh_from_db()
    assert item.screening == "included" and item.exclusion_reason == ""
    assert item.screened_by == small_study["owner"] and item.screened_at is not None


def test_exclude_needs_one_of_the_study_reasons(small_study, pending):
    owner = small_study["owner"]
    with pytest.raises(ValidationError) as err:
        item_screen(item=pending, decision="exclude", screened_by=owner)
    assert "Pick a reason" in str(err.value.message_dict["reason"])
    with pytest.raises(ValidationError) as err:
        item_screen(item=pending, decision="exclude", reason="Boring", screened_by=owner)
    assert "not one of this study's exclusion reasons" in str(err.value.message_dict["reason"])
    pending.refresh_from_db()
    assert pending.screening == "pending"
    item = item_screen(item=pending, decision="exclude", reason="Duplicate", screened_by=owner)
    assert (item.screening, item.exclusion_reason) == ("excluded", "Duplicate")


def test_unknown_decision_is_refused(small_study, pending):
    with pytest.raises(ValidationError, match="include' or 'exclude"):
        item_screen(item=pending, decision="maybe", screened_by=small_study["owner"])


def test_a_decision_can_be_changed_and_the_reason_is_cleared(small_study, pending):
    owner = small_study["owner"]
    item_screen(item=pending, decision="exclude", reason="Duplicate", screened_by=owner)
    item = item_screen(item=pending, decision="include", reason="Duplicate", screened_by=owner)
    assert (item.screening, item.exclusion_reason) == ("included", "")


def test_excluding_removes_open_assignments_but_keeps_completed(small_study):
    item = StudyItemFactory(study=small_study["study"])
    open_one = AssignmentFactory(item=item, annotator=small_study["ann1"])
    done = AssignmentFactory(item=item, annotator=small_study["ann2"], completed_at=timezone.now())
    other = AssignmentFactory(item=StudyItemFactory(study=small_study["study"]), annotator=small_study["ann1"])
    item_screen(item=item, decision="exclude", reason="Not a framework bug", screened_by=small_study["owner"])
    assert set(Assignment.objects.values_list("pk", flat=True)) == {done.pk, other.pk}
    assert not Assignment.objects.filter(pk=open_one.pk).exists()


def test_no_exclusion_reasons_says_where_to_add_them(small_study, pending):
    study = small_study["study"]
    study.exclusion_reasons = []
    study.save(update_fields=["exclusion_reasons"])
    with pytest.raises(ValidationError, match="study settings"):
        item_screen(item=pending, decision="exclude", reason="x", screened_by=small_study["owner"])
