"""Automatic final labels: each dimension's decision rule (``Dimension.decision_rule``,
``labelling.decision_rules``) applied to the labels of the annotators who finished an item.

``unanimous`` (the default): every annotator who finished the item gave the same value.
``majority``: one value was chosen by more than ``majority_threshold`` x the annotators who
finished the item. ``adjudication``: no automatic labels. A final label made here records the
rule in ``method`` (unanimous or majority) and, for a majority, the count in ``rationale``.

``final_labels_refresh`` is called after each save on the labelling page, after label imports
and when a rule changes (``labelling.services.decision_rules``); adjudicated and imported final
labels are never touched here.

Concurrency: a refresh reads every annotator's labels of an item, so two saves of one item at
the same instant must not both compute from the state before the other's save (both would miss
the agreement, or both insert the same final label). Every writer of an item's labels or final
labels therefore calls ``items_lock`` first in its transaction: the item rows are locked
(``SELECT ... FOR UPDATE``, in id order), writers of one item run one after the other, and each
refresh reads what the writers before it committed.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from labelling import decision_rules
from labelling.dataset.bulk_write import rows_upsert, uses_copy
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.services.disagreements import chunk_disagreements_record
from labelling.values import SEPARATOR

CHUNK = 1000
COPY_FROM = 2000  # final labels to write at once from which COPY is faster than one INSERT
WRITE_FROM = 20_000  # a large refresh writes its final labels this many at a time, not per chunk of items
PROTECTED_METHODS = {FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED}
AUTOMATIC_METHODS = {FinalLabel.Method.UNANIMOUS, FinalLabel.Method.MAJORITY}


def items_lock(*, item_ids: Iterable[int]) -> None:
    """Lock the StudyItem rows ``item_ids`` until the caller's transaction ends (one query per
    1,000 items, in id order so that two lockers never wait for each other in a cycle).

    Call it at the start of a transaction that writes an item's annotations, assignments or
    final labels, before reading them. A no-op on SQLite, which lets one writer in at a time.
    """
    ids = sorted({int(i) for i in item_ids})
    # Plain SQL: it is on the save's hot path, where building the ORM query cost more than running it.
    suffix = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT id FROM {StudyItem._meta.db_table} WHERE id IN ({placeholders}) ORDER BY id{suffix}", chunk
            )
            cursor.fetchall()


def _normalised(dimension: Dimension, value: str) -> str:
    """Compare multiple-choice values as sets, whatever order their codes were stored in."""
    if dimension.kind == Dimension.Kind.MULTI:
        return SEPARATOR.join(sorted({c.strip() for c in value.split(SEPARATOR) if c.strip()}))
    return value


def _decided(
    dimension: Dimension, annotators: set[int], values: dict[int, str], k: int, cache: dict | None = None
) -> tuple[str, str, str] | None:
    """(value, method, rationale) of the automatic final label under the dimension's rule, or
    None: at least ``k`` annotators must have finished the item, and the rule must pick a value.
    ``cache`` (one per refresh, whose dimensions keep their rules) keeps the decision for each
    dimension and list of values given: a large refresh sees the same few lists over and over."""
    if len(annotators) < max(k, 1):
        return None
    raw = tuple([values.get(a, "") for a in sorted(annotators)])
    if cache is not None:
        key = (dimension.id, raw)
        found = cache.get(key, cache)
        if found is not cache:
            return found
    rule = dimension.decision_rule
    threshold = dimension.majority_threshold
    given = [_normalised(dimension, value) for value in raw]
    outcome = decision_rules.decide(given, rule=rule, threshold=threshold)
    if outcome.value is None:
        decided = None
    elif rule == decision_rules.MAJORITY:
        rationale = f"Majority: {outcome.votes} of {outcome.of} annotators (more than {threshold} of them)."
        decided = outcome.value, FinalLabel.Method.MAJORITY, rationale
    else:
        decided = outcome.value, FinalLabel.Method.UNANIMOUS, ""
    if cache is not None and len(cache) < 100_000:
        cache[key] = decided
    return decided


@dataclass
class RefreshCounts:
    """What a refresh did, in total and per dimension id: {id: {"created", "changed", "removed"}}."""

    automatic: int = 0
    per_dimension: dict[int, dict[str, int]] = field(default_factory=dict)

    def add(self, dimension_id: int, what: str) -> None:
        row = self.per_dimension.setdefault(dimension_id, {"created": 0, "changed": 0, "removed": 0, "protected": 0})
        row[what] += 1


@transaction.atomic(savepoint=False)  # inside a caller's transaction it joins it: one outcome for both
def final_labels_refresh(
    *,
    study: Study,
    item_ids: Iterable[int],
    dimensions: list[Dimension] | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> int:
    """Recompute the automatic final labels of ``item_ids`` in ``study``; returns how many
    automatic (unanimous or majority) final labels those items now have. See ``final_labels_recompute``."""
    return final_labels_recompute(study=study, item_ids=item_ids, dimensions=dimensions, only=only).automatic


@transaction.atomic(savepoint=False)
def final_labels_recompute(
    *,
    study: Study,
    item_ids: Iterable[int],
    dimensions: list[Dimension] | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> RefreshCounts:
    """Recompute the automatic final labels of ``item_ids`` in ``study``.

    For each item and each dimension of the codebook: F = the annotators whose assignment for
    the item is completed (a missing annotation counts as ""). If ``len(F) >= study.overlap_k``
    and the dimension's rule picks a value from F's values (``labelling.decision_rules``), the
    FinalLabel becomes (rule, value); otherwise an existing automatic FinalLabel (unanimous or
    majority, whatever rule made it) is deleted. Adjudicated and imported final labels are left
    as they are, and a pair with an annotation flagged by a split (``needs_recode``) gets no automatic
    label until it is recoded. Returns the counts of automatic labels now there, created, changed and removed.
    ``dimensions`` (the study's codebook dimensions) may be passed by a caller that has them already.
    ``only``, a set of (item id, dimension id) pairs, limits the refresh to those pairs: the final
    labels of the other dimensions of the items are not touched (and not counted).
    The items' recorded disagreements (``labelling.services.disagreements``) are recorded anew
    from the same reads and the final labels as they now are.

    The caller holds the items' locks (``items_lock``, taken at the start of its transaction).
    """
    ids = sorted({int(i) for i in item_ids})
    if dimensions is None:
        dimensions = list(Dimension.objects.filter(codebook__study=study))
    counts = RefreshCounts()
    if not ids or not dimensions:
        return counts
    # The rules as committed now, not as the caller's (maybe cached) copy of the codebook has
    # them: a rule change holds every item's lock while it writes, so after items_lock this
    # read sees it (one small query).
    rules = {
        pk: (rule, threshold)
        for pk, rule, threshold in Dimension.objects.filter(id__in=[d.id for d in dimensions]).values_list(
            "id", "decision_rule", "majority_threshold"
        )
    }
    by_id = {}
    for d in dimensions:
        if d.id in rules and rules[d.id] != (d.decision_rule, d.majority_threshold):
            d = copy.copy(d)
            d.decision_rule, d.majority_threshold = rules[d.id]
        by_id[d.id] = d
    # The disagreements are recorded for every dimension of the codebook, those not refreshed too
    # (an assignment completed by a label import changes them all): their labels are read as well.
    study_dimensions = list(Dimension.objects.filter(codebook__study=study))
    now = timezone.now()
    decisions: dict = {}  # _decided's cache: the rules of by_id hold for the whole refresh
    pending: list[FinalLabel] = []  # the chunks' items are disjoint: their writes can wait for each other
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        finished: dict[int, set[int]] = defaultdict(set)
        assigned: dict[int, set[int]] = defaultdict(set)  # open ones too, for the disagreements
        open_items: set[int] = set()
        for item_id, annotator_id, completed_at in Assignment.objects.filter(
            study=study, item_id__in=chunk
        ).values_list("item_id", "annotator_id", "completed_at"):
            assigned[item_id].add(annotator_id)
            if completed_at is None:
                open_items.add(item_id)
            else:
                finished[item_id].add(annotator_id)

        values: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
        flagged: set[tuple[int, int]] = set()  # a split made a label ambiguous: no decision until it is recoded
        for item_id, dimension_id, annotator_id, value, needs_recode in Annotation.objects.filter(
            item_id__in=chunk, dimension__in=study_dimensions
        ).values_list("item_id", "dimension_id", "annotator_id", "value", "needs_recode"):
            values[(item_id, dimension_id)][annotator_id] = value
            if needs_recode:
                flagged.add((item_id, dimension_id))

        existing = {
            (item_id, dimension_id): (pk, value, method, rationale)
            for pk, item_id, dimension_id, value, method, rationale in FinalLabel.objects.filter(
                item_id__in=chunk, dimension__in=study_dimensions
            ).values_list("id", "item_id", "dimension_id", "value", "method", "rationale")
        }

        to_write, to_delete = _plan(
            item_ids=chunk, by_id=by_id, finished=finished, values=values, existing=existing,
            k=study.overlap_k, only=only, now=now, counts=counts, flagged=flagged, cache=decisions,
        )  # fmt: skip
        pending += to_write
        if len(pending) >= WRITE_FROM:
            _write(pending, to_delete)
            pending = []
        else:
            _write([], to_delete)
        deleted = set(to_delete)
        decided = {pair for pair, row in existing.items() if row[0] not in deleted}
        decided.update((f.item_id, f.dimension_id) for f in to_write)
        chunk_disagreements_record(
            study=study, item_ids=chunk, dimensions=study_dimensions, assigned=assigned,
            open_items=open_items, values=values, decided=decided,
        )  # fmt: skip
    _write(pending, [])
    return counts


def _plan(
    *,
    item_ids: Iterable[int],
    by_id: dict[int, Dimension],
    finished: dict[int, set[int]],
    values: dict[tuple[int, int], dict[int, str]],
    existing: dict[tuple[int, int], tuple[int, str, str, str]],
    k: int,
    only: Collection[tuple[int, int]] | None,
    now,
    counts: RefreshCounts,
    flagged: Collection[tuple[int, int]] = (),
    cache: dict | None = None,
) -> tuple[list[FinalLabel], list[int]]:
    """The final labels to write and the ids of the automatic ones to delete, from what was read:
    ``finished`` {item: annotators who completed it}, ``values`` {(item, dimension): {annotator:
    value}}, ``existing`` {(item, dimension): (id, value, method, rationale)}; ``flagged``: the
    (item, dimension) pairs with a label a split made ambiguous, which get no automatic decision
    until it is recoded. Counts into ``counts``; ``cache``: ``_decided``'s."""
    to_write, to_delete = [], []
    for item_id in item_ids:
        annotators = finished.get(item_id, set())
        for dimension_id, dimension in by_id.items():
            if only is not None and (item_id, dimension_id) not in only:
                continue
            current = existing.get((item_id, dimension_id))
            if current is not None and current[2] in PROTECTED_METHODS:
                counts.add(dimension_id, "protected")
                continue
            decided = (
                None
                if (item_id, dimension_id) in flagged
                else _decided(dimension, annotators, values.get((item_id, dimension_id), {}), k, cache)
            )
            if decided is None:
                if current is not None and current[2] in AUTOMATIC_METHODS:
                    to_delete.append(current[0])
                    counts.add(dimension_id, "removed")
                continue
            counts.automatic += 1
            if current is None or current[1:] != decided:
                counts.add(dimension_id, "created" if current is None else "changed")
                value, method, rationale = decided
                to_write.append(
                    FinalLabel(
                        item_id=item_id,
                        dimension_id=dimension_id,
                        value=value,
                        method=method,
                        decided_by=None,
                        rationale=rationale,
                        decided_at=now,
                    )
                )
    return to_write, to_delete


def _write(to_write: list[FinalLabel], to_delete: list[int]) -> None:
    if to_delete:
        FinalLabel.objects.filter(id__in=to_delete, method__in=AUTOMATIC_METHODS).delete()
    if len(to_write) >= COPY_FROM and uses_copy():  # a label import: by COPY (labelling/dataset/bulk_write.py)
        rows_upsert(
            model=FinalLabel,
            fields=["item_id", "dimension_id", "value", "method", "decided_by_id", "rationale", "decided_at"],
            rows=((f.item_id, f.dimension_id, f.value, f.method, None, f.rationale, f.decided_at) for f in to_write),
            unique_fields=["item", "dimension"],
            update_fields=["value", "method", "decided_by", "rationale", "decided_at"],
        )
    elif to_write:
        # New and changed labels in one upsert; the item locks make sure that no other
        # writer created a label of these items since it was read.
        FinalLabel.objects.bulk_create(
            to_write,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["item", "dimension"],
            update_fields=["value", "method", "decided_by", "rationale", "decided_at"],
        )


def item_final_labels_refresh(
    *,
    study: Study,
    item_id: int,
    dimensions: list[Dimension],
    finished: set[int],
    values: dict[int, dict[int, str]],
    existing: dict[int, tuple[int, str, str, str]],
    flagged: Collection[int] = (),
) -> int:
    """``final_labels_refresh`` of one item from its state as the caller read it, without reading
    it again: for the save on the labelling page, which has just read (and written) it anyway.

    ``finished``: the annotators whose assignment of the item is completed; ``values``
    {dimension id: {annotator id: value}}; ``existing`` {dimension id: (final label id, value,
    method, rationale)}; ``flagged``: the dimensions on which another annotator's label waits
    to be recoded after a split (no automatic decision there). The caller holds the item's lock
    (``items_lock``) and read all three in its transaction after taking it, and ``dimensions``
    carry the decision rules as committed (the save takes them from the codebook of the study's
    ``codebook_version`` read under the lock: a rule change bumps it while it holds every item's
    lock). Returns the item's automatic final labels.
    """
    counts = RefreshCounts()
    to_write, to_delete = _plan(
        item_ids=[item_id],
        by_id={d.id: d for d in dimensions},
        finished={item_id: set(finished)},
        values={(item_id, dimension_id): by_annotator for dimension_id, by_annotator in values.items()},
        existing={(item_id, dimension_id): row for dimension_id, row in existing.items()},
        k=study.overlap_k,
        only=None,
        now=timezone.now(),
        counts=counts,
        flagged={(item_id, dimension_id) for dimension_id in flagged},
    )
    _write(to_write, to_delete)
    return counts.automatic
