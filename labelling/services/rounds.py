"""Calibration rounds: a named set of a study's included items (a seeded sample, every item matching a
filter, or a list), labelled together and measured together; closed when the pilot is over and
re-opened for re-labelling after a codebook change.

Re-opening starts a new pass: every label the current pass holds on the round's items is copied
into ``AnnotationSnapshot`` rows of that pass (its history; the annotations themselves are never
overwritten by the re-opening), and the round's assignments are opened again so that the
annotators find the items back in their queue with their earlier labels filled in. A pass's
labels are what ``labelling.selectors.rounds.round_labels`` reads: the snapshot of an ended pass,
the live annotations (completed since the pass began) of the current one.

The sample is reproducible: the candidates are the study's included items that match the
filters, sorted by id, and the round is ``random.Random(seed).sample(candidates, size)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import (
    AnnotationSnapshot,
    Assignment,
    CalibrationRound,
    RoundItem,
    RoundPass,
    Study,
    StudyItem,
)
from labelling.selectors.labelling import progress_forget
from labelling.selectors.rounds import round_labels
from labelling.services.codebook_events import codebook_read_lock
from labelling.services.disagreements import disagreements_refresh
from labelling.services.items import normalised_filters, sample_seed_checked
from labelling.services.results import study_results_changed
from triage.reports.selectors import ReportFilter, reports_matching

BATCH_SIZE = 2000
MAX_LISTED = 10


def _included(study: Study):
    return StudyItem.objects.filter(study=study, screening=StudyItem.Screening.INCLUDED)


def _matching_ids(study: Study, filters: ReportFilter | None) -> list[int]:
    items = _included(study)
    if filters is not None and filters.as_json():
        items = items.filter(report__in=reports_matching(filters).values("id"))
    return list(items.order_by("id").values_list("id", flat=True))


def _shown(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:MAX_LISTED]) + (", ..." if len(ids) > MAX_LISTED else "")


def _listed_ids(study: Study, item_ids: Iterable) -> list[int]:
    wanted: list[int] = []
    bad = []
    for raw in item_ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            bad.append(str(raw))
            continue
        if isinstance(raw, bool) or value < 1:
            bad.append(str(raw))
            continue
        wanted.append(value)
    if bad:
        raise ValidationError({"item_ids": [f"Item ids are positive whole numbers; not: {', '.join(bad[:10])}."]})
    wanted = sorted(set(wanted))
    if not wanted:
        raise ValidationError({"item_ids": ["Give at least one item id (the ids shown on the Items page)."]})
    found = dict(StudyItem.objects.filter(study=study, id__in=wanted).values_list("id", "screening"))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationError(
            {"item_ids": [f"{len(missing)} ids are not items of this study: {_shown(missing)}. Remove them."]}
        )
    excluded = [i for i in wanted if found[i] != StudyItem.Screening.INCLUDED]
    if excluded:
        raise ValidationError(
            {
                "item_ids": [
                    f"{len(excluded)} items are not included (only included items are labelled): {_shown(excluded)}. "
                    "Screen them in first or remove them."
                ]
            }
        )
    return wanted


def _round_items(
    *, study: Study, source: str, filters: ReportFilter | None, size, seed, item_ids
) -> tuple[list[int], dict]:
    """(the item ids, the parameters to record) for one of the three sources; ValidationError otherwise."""
    if source == CalibrationRound.Source.LIST:
        ids = _listed_ids(study, item_ids or [])
        return ids, {"items": len(ids)}
    if source not in CalibrationRound.Source.values:
        raise ValidationError(
            {"source": [f"'{source}' is not a source. Use one of: {', '.join(CalibrationRound.Source.values)}."]}
        )
    filters = normalised_filters(filters) if filters is not None else None
    params = {"filters": filters.as_json() if filters is not None else {}}
    candidates = _matching_ids(study, filters)
    if source == CalibrationRound.Source.FILTER:
        if not candidates:
            raise ValidationError(
                {"filters": ["No included item matches these filters: widen them, or screen items in first."]}
            )
        return candidates, params
    seed = sample_seed_checked(size=size, seed=seed)
    if size > len(candidates):
        raise ValidationError(
            {
                "size": [
                    f"Only {len(candidates)} included items match, fewer than the sample of {size}: "
                    f"lower the size to at most {len(candidates)} or widen the filters."
                ]
            }
        )
    chosen = sorted(random.Random(seed).sample(candidates, size))
    return chosen, {**params, "size": size, "seed": seed, "matched": len(candidates)}


@transaction.atomic
def round_create(
    *,
    study: Study,
    name: str,
    source: str,
    created_by,
    description: str = "",
    filters: ReportFilter | None = None,
    size: int | None = None,
    seed: int | None = None,
    item_ids: Iterable | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> CalibrationRound:
    """A new open round of ``study`` with its items, from ``source``: ``sample`` (``size`` of the
    included items matching ``filters``, drawn with ``seed``; a fresh seed when None, recorded),
    ``filter`` (every included item matching ``filters``) or ``list`` (``item_ids``, included items
    of the study). Everything is validated before anything is written."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the round a name (e.g. 'Pilot')."]
    starts_at = starts_at or timezone.now()
    if ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = ["The end must be after the start."]
    if errors:
        raise ValidationError(errors)
    Study.objects.select_for_update().filter(pk=study.pk).first()  # one round name at a time
    if CalibrationRound.objects.filter(study=study, name__iexact=name).exists():
        raise ValidationError({"name": [f"The study already has a round named '{name}': choose another name."]})
    ids, params = _round_items(study=study, source=source, filters=filters, size=size, seed=seed, item_ids=item_ids)
    round_ = CalibrationRound(
        study=study,
        name=name,
        description=description or "",
        source=source,
        source_params=params,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
    )
    round_.full_clean(exclude=["created_by"])
    round_.save()
    RoundItem.objects.bulk_create([RoundItem(round=round_, item_id=i) for i in ids], batch_size=BATCH_SIZE)
    RoundPass.objects.create(
        round=round_, number=1, started_at=round_.created_at, started_by=created_by,
        codebook_version=study.codebook_version,
    )  # fmt: skip
    study_results_changed(study_ids=[study.pk])  # the rounds' agreement table
    return round_


def _locked(round_: CalibrationRound) -> CalibrationRound:
    return CalibrationRound.objects.select_for_update().select_related("study").get(pk=round_.pk)


@transaction.atomic
def round_close(*, round: CalibrationRound, closed_by) -> CalibrationRound:
    """Close an open round (its figures are those of the pilot as discussed); 409 when already closed."""
    locked = _locked(round)
    if locked.status == CalibrationRound.Status.CLOSED:
        raise ApplicationError(f"Round '{locked.name}' is already closed.", status=409)
    now = timezone.now()
    locked.status = CalibrationRound.Status.CLOSED
    locked.closed_at = now
    fields = ["status", "closed_at"]
    if locked.ends_at is None or locked.ends_at > now:
        locked.ends_at = max(now, locked.starts_at)
        fields.append("ends_at")
    locked.save(update_fields=fields)
    study_results_changed(study_ids=[locked.study_id])
    return locked


@transaction.atomic
def round_reopen(*, round: CalibrationRound, reopened_by, reason: str = "") -> RoundPass:
    """Re-open a closed round for re-labelling: the current pass's labels on its items are kept as
    that pass's history (``AnnotationSnapshot``), a new pass begins, and every assignment of the
    round's items is open again. Returns the new pass. 409 when the round is open (close it first:
    two owners re-opening at once make one new pass, not two)."""
    locked = _locked(round)
    if locked.status != CalibrationRound.Status.CLOSED:
        raise ApplicationError(
            f"Round '{locked.name}' is open (pass {locked.current_pass}): close it before re-opening it for "
            "re-labelling.",
            status=409,
            details={"status": locked.status, "pass": locked.current_pass},
        )
    # A codebook change (merge, rename) rewrites the kept labels under the study's row lock; the copy
    # below must not run while one does (it would keep a code the change is removing). ``_locked``
    # already holds the study row (select_related under FOR UPDATE); the explicit share lock states
    # the rule, as every label writer does, and keeps it should ``_locked`` change.
    codebook_read_lock(study_id=locked.study_id)
    now = timezone.now()
    ending = RoundPass.objects.get(round=locked, number=locked.current_pass)
    kept = []
    for row in (
        round_labels(round=locked, pass_number=locked.current_pass)
        .values("item_id", "annotator_id", "dimension_id", "value", "note", "time_spent_ms", "updated_at")
        .iterator(chunk_size=BATCH_SIZE)
    ):
        updated_at = row.pop("updated_at")
        kept.append(AnnotationSnapshot(round_pass=ending, labelled_at=updated_at, **row))
    AnnotationSnapshot.objects.bulk_create(kept, batch_size=BATCH_SIZE)
    ending.ended_at = now
    ending.labels_kept = len(kept)
    ending.save(update_fields=["ended_at", "labels_kept"])
    new_pass = RoundPass.objects.create(
        round=locked,
        number=locked.current_pass + 1,
        started_at=now,
        started_by=reopened_by,
        reason=(reason or "").strip(),
        codebook_version=locked.study.codebook_version,
    )
    locked.current_pass = new_pass.number
    locked.status = CalibrationRound.Status.OPEN
    locked.closed_at = None
    locked.ends_at = None
    locked.save(update_fields=["current_pass", "status", "closed_at", "ends_at"])
    members = RoundItem.objects.filter(round=locked).values("item_id")
    reopened = Assignment.objects.filter(study=locked.study, item_id__in=members)
    annotator_ids = set(reopened.values_list("annotator_id", flat=True))
    reopened.update(completed_at=None)
    progress_forget(study_id=locked.study_id, annotator_ids=annotator_ids)
    disagreements_refresh(study=locked.study, item_ids=members.values_list("item_id", flat=True))
    study_results_changed(study_ids=[locked.study_id])  # re-opened assignments, a new pass
    return new_pass
