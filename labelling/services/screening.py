"""Screening: decide whether an item of a study is in scope (included) or not (excluded, with a reason)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labelling.models import Assignment, StudyItem
from labelling.selectors.labelling import progress_forget

Screening = StudyItem.Screening
DECISIONS = {
    "include": Screening.INCLUDED,
    "included": Screening.INCLUDED,
    "exclude": Screening.EXCLUDED,
    "excluded": Screening.EXCLUDED,
}


@transaction.atomic
def item_screen(*, item: StudyItem, decision: str, reason: str = "", screened_by: AbstractBaseUser) -> StudyItem:
    """Include or exclude ``item``. Excluding needs one of the study's exclusion reasons and
    removes the item's open (not completed) assignments; a decision can be changed later."""
    status = DECISIONS.get((decision or "").strip().lower())
    if status is None:
        raise ValidationError({"decision": [f"'{decision}' is not a decision. Use 'include' or 'exclude'."]})
    item = StudyItem.objects.select_for_update().select_related("study").get(pk=item.pk)
    reasons = item.study.exclusion_reasons or []
    reason = (reason or "").strip()
    if status == Screening.EXCLUDED:
        if not reasons:
            raise ValidationError(
                {"reason": ["This study has no exclusion reasons yet; the owner adds them in the study settings."]}
            )
        if not reason:
            raise ValidationError({"reason": [f"Pick a reason for excluding: {'; '.join(reasons)}."]})
        if reason not in reasons:
            raise ValidationError(
                {"reason": [f"'{reason}' is not one of this study's exclusion reasons: {'; '.join(reasons)}."]}
            )
    else:
        reason = ""

    item.screening = status
    item.exclusion_reason = reason
    item.screened_by = screened_by
    item.screened_at = timezone.now()
    item.full_clean()
    item.save(update_fields=["screening", "exclusion_reason", "screened_by", "screened_at"])
    if status == Screening.EXCLUDED:
        open_assignments = Assignment.objects.filter(item=item, completed_at__isnull=True)
        annotator_ids = list(open_assignments.values_list("annotator_id", flat=True))
        if annotator_ids:
            open_assignments.delete()
            progress_forget(study_id=item.study_id, annotator_ids=annotator_ids)
    return item


@transaction.atomic
def item_review_done(*, item: StudyItem) -> StudyItem:
    """Clear the re-review flag that a change of the item's report set (e.g. reopened on GitHub)."""
    item = StudyItem.objects.select_for_update().get(pk=item.pk)
    if item.needs_review:
        item.needs_review = False
        item.review_reason = ""
        item.save(update_fields=["needs_review", "review_reason"])
    return item
