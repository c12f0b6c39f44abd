"""Automatic final labels: where every annotator who finished an item agrees, that is the label.

``final_labels_refresh`` is called after each save on the labelling page and after label
imports; adjudicated and imported final labels are never touched here.

Concurrency: a refresh reads every annotator's labels of an item, so two saves of one item at
the same instant must not both compute from the state before the other's save (both would miss
the agreement, or both insert the same final label). Every writer of an item's labels or final
labels therefore calls ``items_lock`` first in its transaction: the item rows are locked
(``SELECT ... FOR UPDATE``, in id order), writers of one item run one after the other, and each
refresh reads what the writers before it committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from django.db import transaction
from django.utils import timezone

from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.values import SEPARATOR

CHUNK = 1000
PROTECTED_METHODS = {FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED}


def items_lock(*, item_ids: Iterable[int]) -> None:
    """Lock the StudyItem rows ``item_ids`` until the caller's transaction ends (one query per
    1,000 items, in id order so that two lockers never wait for each other in a cycle).

    Call it at the start of a transaction that writes an item's annotations, assignments or
    final labels, before reading them. A no-op on SQLite, which lets one writer in at a time.
    """
    ids = sorted({int(i) for i in item_ids})
    for start in range(0, len(ids), CHUNK):
        list(
            StudyItem.objects.select_for_update()
            .filter(id__in=ids[start : start + CHUNK])
            .order_by("id")
            .values_list("id", flat=True)
        )


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
def final_labels_refresh(
    *,
    study: Study,
    item_ids: Iterable[int],
    dimensions: list[Dimension] | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> int:
    """Recompute the unanimous final labels of ``item_ids`` in ``study``.

    For each item and each dimension of the codebook: F = the annotators whose assignment for
    the item is completed. If ``len(F) >= study.overlap_k`` and all of F gave the same non-empty
    value (a missing annotation counts as ""), the FinalLabel becomes (unanimous, value);
    otherwise an existing unanimous FinalLabel is deleted. Adjudicated and imported final
    labels are left as they are. Returns how many unanimous final labels those items now have.
    ``dimensions`` (the study's codebook dimensions) may be passed by a caller that has them already.
    ``only``, a set of (item id, dimension id) pairs, limits the refresh to those pairs: the final
    labels of the other dimensions of the items are not touched (and not counted).

    The caller holds the items' locks (``items_lock``, taken at the start of its transaction).
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
            (item_id, dimension_id): (pk, value, method)
            for pk, item_id, dimension_id, value, method in FinalLabel.objects.filter(
                item_id__in=chunk, dimension__in=dimensions
            ).values_list("id", "item_id", "dimension_id", "value", "method")
        }

        to_write, to_delete = [], []
        for item_id in chunk:
            annotators = finished.get(item_id, set())
            for dimension_id, dimension in by_id.items():
                if only is not None and (item_id, dimension_id) not in only:
                    continue
                current = existing.get((item_id, dimension_id))
                if current is not None and current[2] in PROTECTED_METHODS:
                    continue
                agreed = _agreed_value(dimension, annotators, values.get((item_id, dimension_id), {}), study.overlap_k)
                if agreed is None:
                    if current is not None and current[2] == FinalLabel.Method.UNANIMOUS:
                        to_delete.append(current[0])
                    continue
                unanimous_now += 1
                if current is None or current[1:] != (agreed, FinalLabel.Method.UNANIMOUS):
                    to_write.append(
                        FinalLabel(
                            item_id=item_id,
                            dimension_id=dimension_id,
                            value=agreed,
                            method=FinalLabel.Method.UNANIMOUS,
                            decided_by=None,
                            rationale="",
                            decided_at=now,
                        )
                    )

        if to_delete:
            FinalLabel.objects.filter(id__in=to_delete, method=FinalLabel.Method.UNANIMOUS).delete()
        if to_write:
            # New and changed labels in one upsert; the item locks make sure that no other
            # writer created a label of these items since it was read above.
            FinalLabel.objects.bulk_create(
                to_write,
                batch_size=500,
                update_conflicts=True,
                unique_fields=["item", "dimension"],
                update_fields=["value", "method", "decided_by", "rationale", "decided_at"],
            )
    return unanimous_now
