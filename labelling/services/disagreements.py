"""The maintained disagreements of a study (``ItemDisagreement``): which dimensions of which items
the annotators disagree on, kept up to date by the services that can change it, so that the
Disagreements page and the adjudication queue read one keyset page of rows whatever the study's
size (``labelling.selectors.labelling.disagreements_for``).

A dimension of an item is in disagreement (``disagreeing_dimensions``, the one home of the rule)
when every assignment of the item is completed and there are at least ``overlap_k`` of them,
the dimension has no final label, and the values of the item's annotators (a missing label
counting as empty, multiple choices compared as sets) are not all equal.

What can change it, and who records it:

* a label save (``item_labels_save``): ``item_disagreements_record`` from the state the save
  has read, once the item's assignments are all completed;
* an automatic final-label refresh (``final_labels_recompute``: label imports, decision-rule
  changes, codebook merges and splits): ``chunk_disagreements_record`` from what it has read;
* everything else (adjudication, assignments made or removed, rounds reopening labels, a
  member leaving, an item excluded at screening, a change of ``overlap_k``, a release loaded):
  ``disagreements_refresh`` of the items touched (or of the whole study), which reads them again.

The callers hold the items' locks (``items_lock``); the rows of an item are brought up to date
in the caller's transaction (what changed is deleted or inserted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from django.db import transaction

from labelling.models import Annotation, Assignment, Dimension, FinalLabel, ItemDisagreement, Study, StudyItem
from labelling.values import compared_value

CHUNK = 1000


def disagreeing_dimensions(
    *,
    dimensions: Iterable,
    assigned: Collection[int],
    all_completed: bool,
    k: int,
    values: dict[int, dict[int, str]],
    decided: Collection[int],
) -> list[int]:
    """The ids of ``dimensions`` (objects with ``id`` and ``kind``) on which an item is in
    disagreement. ``assigned``: the annotators of all its assignments; ``all_completed``: whether
    every one is completed; ``k``: the study's overlap; ``values`` {dimension id: {annotator id:
    value}}; ``decided``: the dimension ids that have a final label (any method)."""
    if not all_completed or len(assigned) < max(k, 1):
        return []
    result = []
    for dimension in dimensions:
        if dimension.id in decided:
            continue
        given = values.get(dimension.id, {})
        if len({compared_value(dimension, given.get(a, "")) for a in assigned}) > 1:
            result.append(dimension.id)
    return result


def _replace(*, study_id: int, item_ids: list[int], rows: list[tuple[int, int]]) -> None:
    """Make the recorded disagreements of ``item_ids`` (at most ``CHUNK``) be ``rows`` (item,
    dimension): one read, then only what changed is deleted or inserted (usually nothing)."""
    wanted = set(rows)
    have = {
        (item_id, dimension_id): pk
        for pk, item_id, dimension_id in ItemDisagreement.objects.filter(item_id__in=item_ids).values_list(
            "id", "item_id", "dimension_id"
        )
    }
    gone = [pk for pair, pk in have.items() if pair not in wanted]
    if gone:
        ItemDisagreement.objects.filter(id__in=gone).delete()
    new = sorted(wanted - have.keys())
    if new:
        ItemDisagreement.objects.bulk_create(
            [ItemDisagreement(study_id=study_id, item_id=i, dimension_id=d) for i, d in new], batch_size=1000
        )


def disagreement_settle(*, item_id: int, dimension_id: int) -> None:
    """Forget the disagreement on ``dimension_id`` of ``item_id`` (if recorded): it has just been
    given a final label (an adjudication), so it is not one any more."""
    ItemDisagreement.objects.filter(item_id=item_id, dimension_id=dimension_id).delete()


def item_disagreements_record(
    *,
    study: Study,
    item_id: int,
    dimensions: list[Dimension],
    assigned: set[int],
    finished: set[int],
    values: dict[int, dict[int, str]],
) -> None:
    """Record the disagreements of one item after a label save, from the state the save read (the
    annotators of its assignments, those whose assignment is completed as saved, and everyone's
    values ``{dimension id: {annotator id: value}}`` as saved), its final labels read once more
    (the save has just refreshed them).

    Nothing to do, and no query, while one of the item's assignments is open: a save only ever
    completes assignments, so the item was not in disagreement before the save either.
    """
    if finished != assigned or len(assigned) < max(study.overlap_k, 1):
        return
    decided = set(
        FinalLabel.objects.filter(item_id=item_id, dimension_id__in=[d.id for d in dimensions]).values_list(
            "dimension_id", flat=True
        )
    )
    found = disagreeing_dimensions(
        dimensions=dimensions,
        assigned=assigned,
        all_completed=True,
        k=study.overlap_k,
        values=values,
        decided=decided,
    )
    _replace(study_id=study.pk, item_ids=[item_id], rows=[(item_id, d) for d in found])


def chunk_disagreements_record(
    *,
    study: Study,
    item_ids: list[int],
    dimensions: list[Dimension],
    assigned: dict[int, set[int]],
    open_items: Collection[int],
    values: dict[tuple[int, int], dict[int, str]],
    decided: Collection[tuple[int, int]],
) -> int:
    """Record the disagreements of ``item_ids`` (at most ``CHUNK``) from state a caller has read:
    ``assigned`` {item: annotators of all its assignments}, ``open_items``: the items with an open
    assignment, ``values`` {(item, dimension): {annotator: value}}, ``decided``: the (item,
    dimension) pairs with a final label. Returns how many (item, dimension) disagreements they have."""
    rows = []
    for item_id in item_ids:
        decided_here = {d.id for d in dimensions if (item_id, d.id) in decided}
        by_dimension = {d.id: values.get((item_id, d.id), {}) for d in dimensions}
        for dimension_id in disagreeing_dimensions(
            dimensions=dimensions,
            assigned=assigned.get(item_id, set()),
            all_completed=item_id not in open_items,
            k=study.overlap_k,
            values=by_dimension,
            decided=decided_here,
        ):
            rows.append((item_id, dimension_id))
    _replace(study_id=study.pk, item_ids=item_ids, rows=rows)
    return len(rows)


@transaction.atomic(savepoint=False)
def disagreements_refresh(*, study: Study, item_ids: Iterable[int] | None = None) -> int:
    """Recompute the recorded disagreements of ``item_ids`` of ``study`` (None: of all its items)
    from their assignments, annotations and final labels, 1,000 items at a time; returns how many
    (item, dimension) disagreements those items now have. For the writers that have not read that
    state already; the caller holds the items' locks where concurrent label saves matter."""
    # Imported here: final_labels records its chunks' disagreements with this module.
    from labelling.services.final_labels import items_lock

    dimensions = list(Dimension.objects.filter(codebook__study=study))
    if item_ids is None:
        ids = list(StudyItem.objects.filter(study=study).order_by("id").values_list("id", flat=True))
    else:
        ids = sorted({int(i) for i in item_ids})
    total = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        items_lock(item_ids=chunk)  # a label save of one of them waits, or is read in full
        if not dimensions:
            _replace(study_id=study.pk, item_ids=chunk, rows=[])
            continue
        assigned: dict[int, set[int]] = defaultdict(set)
        open_items: set[int] = set()
        for item_id, annotator_id, completed_at in Assignment.objects.filter(item_id__in=chunk).values_list(
            "item_id", "annotator_id", "completed_at"
        ):
            assigned[item_id].add(annotator_id)
            if completed_at is None:
                open_items.add(item_id)
        values: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
        for item_id, dimension_id, annotator_id, value in Annotation.objects.filter(
            item_id__in=chunk, dimension__in=dimensions
        ).values_list("item_id", "dimension_id", "annotator_id", "value"):
            values[(item_id, dimension_id)][annotator_id] = value
        decided = set(
            FinalLabel.objects.filter(item_id__in=chunk, dimension__in=dimensions).values_list(
                "item_id", "dimension_id"
            )
        )
        total += chunk_disagreements_record(
            study=study, item_ids=chunk, dimensions=dimensions, assigned=assigned,
            open_items=open_items, values=values, decided=decided,
        )  # fmt: skip
    return total
