"""Automatic final labels: where every annotator who finished an item agrees, that is the label.

``final_labels_refresh`` is called after each save on the labelling page and after label
imports; adjudicated and imported final labels are never touched here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study
from labelling.values import SEPARATOR

CHUNK = 1000
PROTECTED_METHODS = {FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED}


def _normalised(dimension: Dimension, value: str) -> str:
    """Compare multiple-choice values as sets, whatever order their codes were stored in."""
    if dimension.kind == Dimension.Kind.MULTI:
        return SEPARATOR.join(sorted({c.strip() for c in value.split(SEPARATOR) if c.strip()}))
    return value


def _agreed_value(dimension: Dimension, annotators: set[int], values: dict[int, str], k: int) -> str | None:
    """The value every finished annotator gave, if at least ``k`` finished and it is non-empty."""
    if len(annotators) < max(k, 1):
        return None
    distinct = {_normalised(dimension, values.get(a, "")) for a in annotators}
    if len(distinct) != 1:
        return None
    (value,) = distinct
    return value or None


@transaction.atomic(savepoint=False)  # inside a caller's transaction it joins it: one outcome for both
def final_labels_refresh(*, study: Study, item_ids: Iterable[int], dimensions: list[Dimension] | None = None) -> int:
    """Recompute the unanimous final labels of ``item_ids`` in ``study``.

    For each item and each dimension of the codebook: F = the annotators whose assignment for
    the item is completed. If ``len(F) >= study.overlap_k`` and all of F gave the same non-empty
    value (a missing annotation counts as ""), the FinalLabel becomes (unanimous, value);
    otherwise an existing unanimous FinalLabel is deleted. Adjudicated and imported final
    labels are left as they are. Returns how many unanimous final labels those items now have.
    ``dimensions`` (the study's codebook dimensions) may be passed by a caller that has them already.
    """
    ids = sorted({int(i) for i in item_ids})
    if dimensions is None:
        dimensions = list(Dimension.objects.filter(codebook__study=study))
    if not ids or not dimensions:
        return 0
    by_id = {d.id: d for d in dimensions}
    now = timezone.now()
    unanimous_now = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        finished: dict[int, set[int]] = defaultdict(set)
        for item_id, annotator_id in Assignment.objects.filter(
            study=study, item_id__in=chunk, completed_at__isnull=False
        ).values_list("item_id", "annotator_id"):
            finished[item_id].add(annotator_id)

        values: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
        for item_id, dimension_id, annotator_id, value in Annotation.objects.filter(
            item_id__in=chunk, dimension__in=dimensions
        ).values_list("item_id", "dimension_id", "annotator_id", "value"):
            values[(item_id, dimension_id)][annotator_id] = value

        existing = {
            (fl.item_id, fl.dimension_id): fl
            for fl in FinalLabel.objects.filter(item_id__in=chunk, dimension__in=dimensions).only(
                "id", "item_id", "dimension_id", "value", "method"
            )
        }

        to_create, to_update, to_delete = [], [], []
        for item_id in chunk:
            annotators = finished.get(item_id, set())
            for dimension_id, dimension in by_id.items():
                current = existing.get((item_id, dimension_id))
                if current is not None and current.method in PROTECTED_METHODS:
                    continue
                agreed = _agreed_value(dimension, annotators, values.get((item_id, dimension_id), {}), study.overlap_k)
                if agreed is None:
                    if current is not None and current.method == FinalLabel.Method.UNANIMOUS:
                        to_delete.append(current.id)
                    continue
                unanimous_now += 1
                if current is None:
                    to_create.append(
                        FinalLabel(
                            item_id=item_id,
                            dimension_id=dimension_id,
                            value=agreed,
                            method=FinalLabel.Method.UNANIMOUS,
                            decided_at=now,
                        )
                    )
                elif current.value != agreed or current.method != FinalLabel.Method.UNANIMOUS:
                    current.value = agreed
                    current.method = FinalLabel.Method.UNANIMOUS
                    current.decided_by = None
                    current.rationale = ""
                    current.decided_at = now
                    to_update.append(current)

        if to_delete:
            FinalLabel.objects.filter(id__in=to_delete).delete()
        if to_update:
            FinalLabel.objects.bulk_update(
                to_update, ["value", "method", "decided_by", "rationale", "decided_at"], batch_size=500
            )
        if to_create:
            FinalLabel.objects.bulk_create(to_create, batch_size=500)
    return unanimous_now
