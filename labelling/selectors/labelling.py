"""Reads for the labelling page, the annotation API and the disagreements list.

Blind labelling is enforced here, in ``annotations_visible_to``, and nowhere else: views and
endpoints that show annotations start from that queryset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from labelling.models import (
    Annotation,
    Assignment,
    Category,
    Dimension,
    FinalLabel,
    ItemDisagreement,
    Membership,
    Study,
    StudyItem,
)
from labelling.permissions import can_adjudicate, can_annotate, can_read_results, sees_others_labels


def _open_assignments(*, study: Study, annotator) -> QuerySet[Assignment]:
    # Matches the ``next_item_idx`` index (study, annotator, completed_at, id).
    return Assignment.objects.filter(study=study, annotator=annotator, completed_at__isnull=True)


def _flagged_labels(*, study: Study, annotator) -> QuerySet[Annotation]:
    """The annotator's labels in ``study`` that a split flagged (``needs_recode``) on items still
    assigned to them, in item order (``annotation_recode_idx``: a partial index, small)."""
    assigned = Assignment.objects.filter(item=OuterRef("item_id"), annotator=annotator)
    return (
        Annotation.objects.filter(annotator=annotator, needs_recode=True, item__study=study)
        .filter(Exists(assigned))
        .order_by("item_id")
    )


def recode_items_for(*, study: Study, annotator) -> QuerySet[StudyItem]:
    """Items of ``study`` where ``annotator`` has a label flagged by a split, in id order."""
    return StudyItem.objects.filter(
        id__in=_flagged_labels(study=study, annotator=annotator).values("item_id")
    ).order_by("id")


def next_item_for(*, study: Study, annotator) -> StudyItem | None:
    """The next item of the annotator's queue, report joined; None when done.

    First the items where a split flagged one of the annotator's labels for recoding
    (``recode_items_for``), then the item of the annotator's first open assignment (by assignment id).

    Ordered by (completed_at, id) rather than id alone: with study, annotator and completed_at
    fixed by the filter this is the same order, and it lets PostgreSQL walk ``next_item_idx``
    and stop at the first row instead of scanning every completed assignment in id order.
    """
    return _next_item(study=study, annotator=annotator).select_related("report").first()


def next_item_id_for(*, study: Study, annotator) -> int | None:
    """The id of ``next_item_for``'s item, without its report (where to go after a save)."""
    return _next_item(study=study, annotator=annotator).values_list("id", flat=True).first()


def _next_item(*, study: Study, annotator) -> QuerySet[StudyItem]:
    flagged = _flagged_labels(study=study, annotator=annotator).values("item_id")[:1]
    first_open = (
        _open_assignments(study=study, annotator=annotator).order_by("completed_at", "id").values("item_id")[:1]
    )
    # One query: each subquery walks its own index (annotation_recode_idx, next_item_idx) and stops at one row.
    return StudyItem.objects.filter(id=Coalesce(Subquery(flagged), Subquery(first_open)))


def assignment_for(*, study: Study, annotator, item_id: int, with_previous: bool = True) -> Assignment | None:
    """The annotator's assignment for ``item_id`` in ``study``, or None.

    Comes with its item and report and, with ``with_previous``, ``previous_item_id``: the item
    of the annotator's assignment just before this one (what ``previous_item_for`` gives), in
    the same query.
    """
    qs = Assignment.objects.filter(study=study, annotator=annotator, item_id=item_id).select_related("item__report")
    if with_previous:
        before = Assignment.objects.filter(study=study, annotator=annotator, id__lt=OuterRef("id")).order_by("-id")
        qs = qs.annotate(previous_item_id=Subquery(before.values("item_id")[:1]))
    return qs.first()


def previous_item_for(*, study: Study, annotator, before_item: StudyItem | None) -> StudyItem | None:
    """The item of the annotator's assignment just before the one for ``before_item`` (completed or not).

    With ``before_item`` None it is the annotator's last assignment; None when there is none
    before (or ``before_item`` is not assigned to the annotator).
    """
    qs = Assignment.objects.filter(study=study, annotator=annotator)
    if before_item is not None:
        current = Assignment.objects.filter(study=study, annotator=annotator, item=before_item).values("id")[:1]
        qs = qs.filter(id__lt=Subquery(current))
    assignment = qs.select_related("item").order_by("-id").first()
    return assignment.item if assignment else None


PROGRESS_TTL_SECONDS = 60


def _progress_keys(study_id: int, annotator_id: int) -> tuple[str, str]:
    base = f"labelling:progress:{study_id}:{annotator_id}"
    return f"{base}:done", f"{base}:total"


def progress_for(*, study: Study, annotator) -> tuple[int, int]:
    """(completed, total) assignments of the annotator in the study.

    Counting an annotator's assignments reads every one of them (about 20 ms for 100,000 in
    PostgreSQL), too slow for every page view, so the counts are kept in Django's cache for
    a minute; a save that completes an assignment bumps the cached count
    (``progress_count_completed``) and services that add or remove assignments forget the
    counts (``progress_forget``). With several web processes, set ``CACHE_URL`` to a shared
    cache (Redis, see docs/deploy.md); with the default per-process cache another process may
    show a count up to a minute old.
    """
    done_key, total_key = _progress_keys(study.pk, annotator.pk)
    cached = cache.get_many([done_key, total_key])
    if len(cached) == 2:
        return min(cached[done_key], cached[total_key]), cached[total_key]
    agg = Assignment.objects.filter(study=study, annotator=annotator).aggregate(
        total=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False))
    )
    cache.set_many({done_key: agg["done"], total_key: agg["total"]}, PROGRESS_TTL_SECONDS)
    return agg["done"], agg["total"]


def progress_count_completed(*, study_id: int, annotator_id: int) -> None:
    """Count one more completed assignment in the cached progress (after the save committed)."""
    done_key, _ = _progress_keys(study_id, annotator_id)
    try:
        cache.incr(done_key)
    except ValueError:  # not cached: the next progress_for counts afresh
        pass


def progress_forget(*, study_id: int, annotator_ids: Iterable[int] | None = None) -> None:
    """Drop cached progress after assignments were added or removed (once the change commits).
    ``annotator_ids`` None: every member of the study."""

    def _forget():
        ids = annotator_ids
        if ids is None:
            ids = Membership.objects.filter(study_id=study_id).values_list("user_id", flat=True)
        cache.delete_many([key for uid in ids for key in _progress_keys(study_id, uid)])

    transaction.on_commit(_forget)


def annotations_visible_to(*, user, study: Study) -> QuerySet[Annotation]:
    """The annotations of ``study`` that ``user`` may see.

    Owners, viewers (``can_read_results``) and adjudicators (``can_adjudicate``) see all of them.
    An annotator sees their own; where they may see the others' labels (``sees_others_labels``:
    the study is not blind), also the others' labels of items whose assignment they completed.
    Anybody else sees nothing.
    """
    qs = Annotation.objects.filter(item__study=study)
    if can_read_results(user, study) or can_adjudicate(user, study):
        return qs
    if not can_annotate(user, study):
        return qs.none()
    if not sees_others_labels(user, study):
        return qs.filter(annotator=user)
    completed = Assignment.objects.filter(item=OuterRef("item"), annotator=user, completed_at__isnull=False)
    return qs.filter(Q(annotator=user) | Q(Exists(completed)))


@dataclass
class CodebookDimension:
    """A dimension with its categories in display order: parents first, children indented below."""

    dimension: Dimension
    entries: list[tuple[Category, int]] = field(default_factory=list)  # (category, depth)

    @property
    def categories(self) -> list[Category]:
        return [c for c, _ in self.entries]


def dimensions_of(*, study: Study) -> list[Dimension]:
    """The study codebook's dimensions in codebook order."""
    return list(Dimension.objects.filter(codebook__study=study).order_by("order", "id"))


def category_names(*, study: Study) -> dict[tuple[int, str], str]:
    """{(dimension id, category code): category name} for the study's codebook."""
    return {
        (dimension_id, code): name
        for dimension_id, code, name in Category.objects.filter(dimension__codebook__study=study).values_list(
            "dimension_id", "code", "name"
        )
    }


CODEBOOK_CACHE_SECONDS = 3600


def codebook_for_labelling(*, study: Study) -> list[CodebookDimension]:
    """The study codebook's dimensions in order, with their category trees.

    Cached under the study's ``codebook_version``, which every codebook change bumps: a copy in
    any process's cache is either of the current codebook or never asked for again.
    """
    key = f"labelling:codebook:{study.pk}:{study.codebook_version}"
    codebook = cache.get(key)
    if codebook is None:
        codebook = _codebook_for_labelling(study)
        cache.set(key, codebook, CODEBOOK_CACHE_SECONDS)
    return codebook


def _codebook_for_labelling(study: Study) -> list[CodebookDimension]:
    """The codebook read from the database (two queries)."""
    dimensions = dimensions_of(study=study)
    children: dict[tuple[int, int | None], list[Category]] = defaultdict(list)
    for category in Category.objects.filter(dimension__in=dimensions).order_by("order", "id"):
        children[(category.dimension_id, category.parent_id)].append(category)

    result = []
    for dimension in dimensions:
        entries: list[tuple[Category, int]] = []

        def walk(parent_id, depth, dimension_id=dimension.id, entries=entries):
            for category in children.get((dimension_id, parent_id), []):
                entries.append((category, depth))
                if depth < 20:
                    walk(category.id, depth + 1)

        walk(None, 0)
        result.append(CodebookDimension(dimension=dimension, entries=entries))
    return result


def recode_flags_for(*, item: StudyItem, annotator) -> dict[int, dict]:
    """{dimension id: {"summary", "into": [names]}} for the annotator's labels of ``item`` that a
    split flagged for recoding (the labelling page says which categories to choose between)."""
    flags = {}
    for annotation in Annotation.objects.filter(item=item, annotator=annotator, needs_recode=True).select_related(
        "recode_event"
    ):
        event = annotation.recode_event
        into = (event.details or {}).get("into", []) if event else []
        names = dict(
            Category.objects.filter(dimension_id=annotation.dimension_id, code__in=into).values_list("code", "name")
        )
        flags[annotation.dimension_id] = {
            "summary": f"the codebook split this category (version {event.version})." if event else "",
            "into": [names.get(code, code) for code in into],
        }
    return flags


def own_labels_for(*, item: StudyItem, annotator) -> dict[int, tuple[str, str]]:
    """The annotator's own saved labels of ``item``: {dimension id: (value, note)}."""
    return {
        dimension_id: (value, note)
        for dimension_id, value, note in Annotation.objects.filter(item=item, annotator=annotator).values_list(
            "dimension_id", "value", "note"
        )
    }


# --- disagreements ---------------------------------------------------------------------------


@dataclass
class AnnotatorValue:
    annotator_id: int
    annotator: str
    value: str
    note: str


@dataclass
class DimensionDisagreement:
    dimension: Dimension
    values: list[AnnotatorValue]


@dataclass
class Disagreement:
    item: StudyItem
    dimensions: list[DimensionDisagreement]

    @property
    def dimension_codes(self) -> list[str]:
        return [d.dimension.code for d in self.dimensions]


def _disagreeing(
    *, study: Study, dimensions: list[Dimension], all_dimensions: bool, after: int, limit: int
) -> dict[int, set[int]]:
    """{item id: ids of ``dimensions`` it disagrees on} for the first ``limit`` items after ``after``
    (in id order) with a recorded disagreement (``ItemDisagreement``, maintained by
    ``labelling.services.disagreements``) on one of ``dimensions``, in id order.

    Two keyset reads of an index, whatever the study's size: the page's item ids
    (``disagreement_study_item_idx``, or ``disagreement_dimension_idx`` for one dimension), then
    their rows.
    """
    rows = ItemDisagreement.objects.filter(study=study, item_id__gt=after)
    if not all_dimensions:
        rows = rows.filter(dimension__in=dimensions)
    ids = list(rows.order_by("item_id").values_list("item_id", flat=True).distinct()[:limit])
    found: dict[int, set[int]] = {i: set() for i in ids}
    wanted = {d.id for d in dimensions}
    for item_id, dimension_id in ItemDisagreement.objects.filter(item_id__in=ids).values_list(
        "item_id", "dimension_id"
    ):
        if dimension_id in wanted:
            found[item_id].add(dimension_id)
    return found


def _disagreements_of(found: dict[int, set[int]], dimensions: list[Dimension]) -> list[Disagreement]:
    """The rows of the disagreements ``found`` ({item id: dimension ids}, in item order): three
    queries. The reports come without their bodies and raw fields, which the list does not show
    (read on access)."""
    ids = list(found)
    items = {
        i.id: i
        for i in StudyItem.objects.filter(id__in=ids).select_related("report").defer("report__body", "report__raw")
    }
    annotators: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for item_id, user_id, username in (
        Assignment.objects.filter(item_id__in=ids)
        .order_by("annotator__username")
        .values_list("item_id", "annotator_id", "annotator__username")
    ):
        annotators[item_id].append((user_id, username))
    values: dict[tuple[int, int, int], tuple[str, str]] = {}
    for item_id, dim_id, user_id, value, note in Annotation.objects.filter(
        item_id__in=ids, dimension__in=dimensions
    ).values_list("item_id", "dimension_id", "annotator_id", "value", "note"):
        values[(item_id, dim_id, user_id)] = (value, note)
    result = []
    for item_id, disagreeing_ids in found.items():
        rows = [
            DimensionDisagreement(
                dimension=dimension,
                values=[
                    AnnotatorValue(uid, name, *values.get((item_id, dimension.id, uid), ("", "")))
                    for uid, name in annotators[item_id]
                ],
            )
            for dimension in dimensions
            if dimension.id in disagreeing_ids
        ]
        if rows:
            result.append(Disagreement(item=items[item_id], dimensions=rows))
    return result


def disagreements_for(
    *,
    study: Study,
    dimension_code: str | None = None,
    after: int | None = None,
    limit: int | None = None,
    chunk_size: int = 500,
) -> list[Disagreement]:
    """Items whose assignments are all completed (at least ``overlap_k`` of them) but where at least
    one dimension has no final label because the annotators' values differ, in item id order.

    A dimension all annotators left empty is not a disagreement. Each disagreement lists, per
    dimension that disagrees, every annotator's value and note, ordered by annotator name.

    Read from the recorded disagreements (``ItemDisagreement``), which every write that can change
    them keeps up to date (``labelling.services.disagreements``, where the rule lives), not
    computed from the study's annotations. Keyset pages: only items with an id greater than
    ``after``, at most ``limit`` of them (None: all, ``chunk_size`` items at a time), so a page
    costs a few index reads whatever the study's size.
    """
    dimensions = dimensions_of(study=study)
    all_dimensions = not dimension_code
    if dimension_code:
        dimensions = [d for d in dimensions if d.code == dimension_code]
    if not dimensions or (limit is not None and limit <= 0):
        return []
    result: list[Disagreement] = []
    cursor = after or 0
    while limit is None or len(result) < limit:
        wanted = chunk_size if limit is None else limit - len(result)
        found = _disagreeing(
            study=study, dimensions=dimensions, all_dimensions=all_dimensions, after=cursor, limit=wanted
        )
        if not found:
            break
        result.extend(_disagreements_of(found, dimensions))
        if len(found) < wanted:
            break
        cursor = max(found)
    return result if limit is None else result[:limit]


DISAGREEMENT_COUNT_CAP = 1000


def disagreement_count(*, study: Study, cap: int = DISAGREEMENT_COUNT_CAP) -> int:
    """How many items ``disagreements_for`` would list, counted up to ``cap`` + 1 (a result above
    ``cap`` means "more than cap"; the Adjudicate queue shows "1000+"): the distinct item ids of at
    most cap + 1 items with a recorded disagreement, one read of the ``disagreement_study_item_idx``
    index that stops there. Exact and current (the rows are maintained by the writes), so no cache.
    """
    return (
        ItemDisagreement.objects.filter(study=study).order_by("item_id").values("item_id").distinct()[: cap + 1].count()
    )


def final_labels_of(*, study: Study) -> QuerySet[FinalLabel]:
    """The study's final labels with item, report and dimension joined."""
    return (
        FinalLabel.objects.filter(item__study=study, dimension__codebook__study=study)
        .select_related("item__report", "dimension", "decided_by")
        .order_by("item_id", "dimension__order", "dimension_id")
    )
