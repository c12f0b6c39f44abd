"""Put reports into a study: all that match a filter, a reproducible random sample, or by id.

Every filter or sample is recorded as a ``SampleDraw`` (filters, size, seed, how many were
candidates and how many were added) so the same sample can be drawn again: the candidates
are the matching reports not yet in the study, sorted by id, and the sample is
``random.Random(seed).sample(candidates, size)``.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from dataclasses import replace

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import SampleDraw, Study, StudyItem
from labelling.services.results import study_results_changed
from triage.models import Report
from triage.reports.selectors import ReportFilter, reports_matching

BATCH_SIZE = 2000
SEED_MAX = 2**53  # fits a BigIntegerField and a JSON number without loss


def new_seed() -> int:
    """A fresh random seed to show to the researcher before they draw."""
    return secrets.randbelow(2**31)


def _lock_study(study: Study) -> None:
    # Adds to one study are serialised so "not already in the study" stays true while we insert.
    Study.objects.select_for_update().filter(pk=study.pk).first()


def normalised_filters(filters: ReportFilter) -> ReportFilter:
    """The filters as they are applied (trimmed, framework in lower case), so the draw records them so."""
    return replace(
        filters,
        framework=filters.framework.strip().lower(),
        label=filters.label.strip(),
        q=filters.q.strip(),
        kind=filters.kind.strip(),
        state=filters.state.strip(),
    )


def _candidate_ids(study: Study, filters: ReportFilter) -> list[int]:
    already = StudyItem.objects.filter(study=study).values("report_id")
    return sorted(reports_matching(filters).exclude(id__in=already).values_list("id", flat=True))


def _insert(study: Study, report_ids: list[int], screening: str) -> int:
    now = timezone.now()
    screened_at = None if screening == StudyItem.Screening.PENDING else now
    for start in range(0, len(report_ids), BATCH_SIZE):
        StudyItem.objects.bulk_create(
            [
                StudyItem(study=study, report_id=rid, screening=screening, screened_at=screened_at)
                for rid in report_ids[start : start + BATCH_SIZE]
            ]
        )
    if report_ids:  # every caller holds the study's lock (_lock_study): no label save is under way
        study_results_changed(study_ids=[study.pk])
    return len(report_ids)


@transaction.atomic
def items_add(*, study: Study, report_ids: Iterable[int], screening: str | None = None) -> int:
    """Add the reports ``report_ids`` that are not already in ``study``; returns how many were added.

    ``screening`` is the status the new items get (pending when None). Unknown report ids are
    refused before anything is written.
    """
    screening = screening or StudyItem.Screening.PENDING
    if screening not in StudyItem.Screening.values:
        raise ValidationError(
            {
                "screening": [
                    f"'{screening}' is not a screening status. Use one of: {', '.join(StudyItem.Screening.values)}."
                ]
            }
        )
    wanted = sorted({int(r) for r in report_ids})
    if not wanted:
        return 0
    _lock_study(study)
    known: set[int] = set()
    for start in range(0, len(wanted), BATCH_SIZE):
        known.update(Report.objects.filter(id__in=wanted[start : start + BATCH_SIZE]).values_list("id", flat=True))
    missing = [r for r in wanted if r not in known]
    if missing:
        shown = ", ".join(str(m) for m in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise ApplicationError(
            f"{len(missing)} report ids do not exist: {shown}. Import those reports first.",
            details={"missing_report_ids": missing[:100]},
        )
    present = set(StudyItem.objects.filter(study=study).values_list("report_id", flat=True))
    new_ids = [r for r in wanted if r not in present]
    return _insert(study, new_ids, screening)


@transaction.atomic
def items_add_by_filter(*, study: Study, filters: ReportFilter, added_by: AbstractBaseUser | None) -> SampleDraw:
    """Add every report matching ``filters`` that is not in the study yet, and record the draw."""
    filters = normalised_filters(filters)
    _lock_study(study)
    candidates = _candidate_ids(study, filters)
    added = _insert(study, candidates, StudyItem.Screening.PENDING)
    return _draw_record(study=study, filters=filters, matched=len(candidates), added=added, added_by=added_by)


def sample_seed_checked(*, size, seed) -> int:
    """Check a sample's ``size`` and ``seed`` (ValidationError naming the field); returns the seed,
    a fresh one when ``seed`` is None. Shared by sample draws and calibration rounds."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValidationError({"size": ["The sample size must be a whole number of at least 1."]})
    if seed is None:
        seed = new_seed()
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_MAX:
        raise ValidationError({"seed": [f"The seed must be a whole number from 0 to {SEED_MAX - 1}."]})
    return seed


@transaction.atomic
def items_sample(
    *,
    study: Study,
    filters: ReportFilter,
    size: int,
    seed: int | None,
    added_by: AbstractBaseUser | None,
) -> SampleDraw:
    """Add a random sample of ``size`` of the matching reports not yet in the study.

    Reproducible: the same filters and seed over the same reports (and the same study content)
    give the same sample. ``seed`` None draws a fresh one; it is recorded either way.
    """
    seed = sample_seed_checked(size=size, seed=seed)
    filters = normalised_filters(filters)
    _lock_study(study)
    candidates = _candidate_ids(study, filters)
    if size > len(candidates):
        raise ApplicationError(
            f"Only {len(candidates)} matching reports are not in the study yet, fewer than the sample of {size}. "
            f"Lower the sample size to at most {len(candidates)} or widen the filters.",
            details={"size": [f"At most {len(candidates)}."]},
        )
    chosen = sorted(random.Random(seed).sample(candidates, size))
    added = _insert(study, chosen, StudyItem.Screening.PENDING)
    return _draw_record(
        study=study, filters=filters, matched=len(candidates), added=added, added_by=added_by, size=size, seed=seed
    )


def _draw_record(
    *, study: Study, filters: ReportFilter, matched: int, added: int, added_by, size=None, seed=None
) -> SampleDraw:
    """Record how items were added, so the same draw can be made again."""
    draw = SampleDraw(
        study=study,
        filters=filters.as_json(),
        sample_size=size,
        seed=seed,
        matched=matched,
        added=added,
        created_by=added_by,
    )
    draw.full_clean(exclude=["created_by"])  # None when added by a script
    draw.save()
    return draw


def study_items_flag_for_review(*, reasons_by_report: dict[int, list[str]]) -> int:
    """Flag every study item of these reports for re-review, appending what changed (dated) to its
    reason: a re-import or a sync changed the report after it joined the study. Returns the count."""
    items = list(
        StudyItem.objects.filter(report_id__in=list(reasons_by_report)).only("id", "report_id", "review_reason")
    )
    stamp = timezone.now().strftime("%Y-%m-%d")
    for item in items:
        text = f"{stamp}: " + ", ".join(reasons_by_report[item.report_id])
        item.needs_review = True
        item.review_reason = f"{item.review_reason}\n{text}".strip() if item.review_reason else text
    StudyItem.objects.bulk_update(items, ["needs_review", "review_reason"], batch_size=500)
    return len(items)
