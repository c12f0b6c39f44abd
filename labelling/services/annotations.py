"""Saving an annotator's labels for one item (the labelling page and the annotation API)."""

from __future__ import annotations

from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.selectors.labelling import codebook_for_labelling, progress_count_completed
from labelling.services.codebook_events import codebook_read_lock
from labelling.services.disagreements import item_disagreements_record
from labelling.services.final_labels import item_final_labels_refresh, items_lock
from labelling.values import CategoryIndex, canonical_value, split_tokens, value_codes

MAX_TIME_SPENT_MS = 60 * 60 * 1000  # one hour: more means the page was left open, not worked on


def clamp_time_spent(value) -> int:
    """Milliseconds as an int in [0, 1 hour]; anything unreadable counts as 0."""
    try:
        ms = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(0, min(ms, MAX_TIME_SPENT_MS))


def _dimensions_with_categories(study: Study) -> list[tuple[Dimension, CategoryIndex]]:
    return [(d.dimension, CategoryIndex(d.dimension, d.categories)) for d in codebook_for_labelling(study=study)]


def _names(index: CategoryIndex, codes, limit: int = 12) -> str:
    """Categories as a person reads them: ``Crash (crash), Hang (hang)``; the code stays for API clients."""
    codes = list(codes)
    shown = ", ".join(f"{index.by_code[c].name} ({c})" for c in codes[:limit])
    return shown + (", ..." if len(codes) > limit else "")


def _offered(index: CategoryIndex) -> list[str]:
    """Codes of the categories offered for new labels (not retired)."""
    return [code for code, category in index.by_code.items() if not category.retired]


def _value_problem(dimension: Dimension, index: CategoryIndex, raw, exc: ValueError) -> str:
    """What is wrong with ``raw`` for ``dimension``, naming categories by name (and code).

    canonical_value's own message names codes only (the label-file import keeps it); the
    labelling page and the annotation API show this one.
    """
    if dimension.kind == Dimension.Kind.TEXT or not isinstance(raw, (str, list, tuple)):
        return str(exc)
    tokens = split_tokens(raw)
    unknown = [t for t in tokens if index.find(t) is None]
    if unknown:
        return (
            f"'{unknown[0]}' is not a category of {dimension.name} ('{dimension.code}'). "
            f"Pick one of: {_names(index, _offered(index))}."
        )
    picked = sorted({index.find(t).code for t in tokens})
    if dimension.kind == Dimension.Kind.MULTI:
        return (
            f"{dimension.name} takes at most {dimension.max_choices} categories, got {len(picked)}: "
            f"{_names(index, picked)}. Unpick one."
        )
    return f"{dimension.name} takes one category, got {len(picked)}: {_names(index, picked)}. Keep one."


def _retired_problem(dimension: Dimension, index: CategoryIndex, value: str, kept: set[str]) -> str | None:
    """A message for a retired category in ``value`` that the annotator's saved label did not
    already hold (``kept``: codes of the saved label, less those flagged for recoding by a split)."""
    for code in value_codes(value):
        category = index.by_code.get(code)
        if category is None or not category.retired or code in kept:
            continue
        return (
            f"{category.name} ('{code}') is retired in this codebook and is no longer offered for new labels. "
            f"Pick one of: {_names(index, _offered(index))}."
        )
    return None


def _validated(
    dimensions: list[tuple[Dimension, CategoryIndex]], values: dict, notes: dict, kept: dict[int, set[str]]
) -> dict[int, tuple[str, str]]:
    """{dimension id: (canonical value, note)} or a ValidationError keyed by dimension code.

    ``kept``: per dimension id, the retired codes the value may still hold (those of the annotator's
    saved label, unless a split flagged it)."""
    errors: dict[str, list[str]] = {}
    known = {d.code for d, _ in dimensions}
    valid_codes = ", ".join(sorted(known)) or "(the codebook has no dimensions yet)"
    for code in sorted((set(values) | set(notes)) - known):
        errors[str(code)] = [f"'{code}' is not a dimension of this study's codebook. Use one of: {valid_codes}."]

    cleaned: dict[int, tuple[str, str]] = {}
    for dimension, index in dimensions:
        raw = values.get(dimension.code, "")
        note = notes.get(dimension.code, "")
        if note is None:
            note = ""
        if not isinstance(note, str):
            errors[dimension.code] = [f"The note for '{dimension.code}' must be text."]
            continue
        try:
            value = canonical_value(dimension, raw, index)
        except ValueError as exc:
            errors[dimension.code] = [_value_problem(dimension, index, raw, exc)]
            continue
        if problem := _retired_problem(dimension, index, value, kept.get(dimension.id, set())):
            errors[dimension.code] = [problem]
            continue
        if dimension.required and not value:
            if dimension.has_categories:
                hint = f"pick one of: {_names(index, _offered(index))}"
                if dimension.kind == Dimension.Kind.MULTI:
                    hint = f"pick at least one of: {_names(index, _offered(index))}"
            else:
                hint = "write an answer"
            errors[dimension.code] = [f"'{dimension.name}' is required: {hint}."]
            continue
        cleaned[dimension.id] = (value, note.strip())
    if errors:
        raise ValidationError(errors)
    return cleaned


def _assignments(item: StudyItem) -> list[Assignment]:
    """All the item's assignments (one query; the codebook version comes from ``codebook_read_lock``).

    Read after ``items_lock`` in a statement of its own: a statement that waits for a row lock
    reads the other tables as they were when it started, so the lock and this read cannot be one
    query (a save waiting for another save of the item would miss that save's completion).
    """
    return list(Assignment.objects.filter(item_id=item.pk).only("id", "annotator_id", "completed_at").order_by("id"))


@transaction.atomic
def item_labels_save(
    *, item: StudyItem, annotator, values: dict, notes: dict | None = None, time_spent_ms: int = 0
) -> list[Annotation]:
    """Save ``annotator``'s labels of ``item``: one Annotation per codebook dimension.

    ``values`` maps dimension codes to raw values (a code or name, a list for multiple choice,
    text for free-text dimensions); a dimension left out is empty. ``notes`` maps codes to notes.
    Everything is validated first, nothing is written if any value is wrong. The time spent
    (clamped to [0, 1 hour]) is added to the annotator's time on the item, shared out over the
    dimensions so that the item's annotations sum to it. The assignment is marked completed and
    the item's unanimous final labels are refreshed (``item_final_labels_refresh``).

    Saves of one item (by any annotator) run one after the other: the item row is locked first,
    so each refresh sees the labels of the saves before it (``items_lock``). Before it, the study row
    is share-locked (``codebook_read_lock``): a codebook change (merge, rename, split) waits for the
    save, or the save for it, and the values are checked against the codebook as committed.

    Each annotation records the codebook version it was saved under; a label flagged for recoding
    by a split (``needs_recode``) is cleared by the save, which must not keep the split category.
    A retired category is refused unless the annotator's saved label already held it.

    A fixed number of queries, whatever the number of dimensions (the labelling page's hot path):
    the study's share lock, the item's lock, its assignments, its annotations, its final labels, one
    upsert of the annotator's annotations (INSERT ... ON CONFLICT), the completion of the
    assignment, and at most one delete and one upsert of final labels; once all the item's
    assignments are completed, its final labels read again and its recorded disagreements replaced
    (``item_disagreements_record``). The codebook comes from the cache of its version
    (``codebook_for_labelling``).
    """
    study = item.study
    study.codebook_version = codebook_read_lock(study_id=item.study_id)
    items_lock(item_ids=[item.pk])
    assignments = _assignments(item)
    own = next((a for a in assignments if a.annotator_id == annotator.pk), None)
    if own is None:
        raise ApplicationError(
            "You are not assigned to this item, so you cannot label it. "
            "Label the items of your own queue, or ask the study owner to assign this one to you.",
            status=403,
        )
    dimensions = _dimensions_with_categories(study)
    dimension_ids = [d.id for d, _ in dimensions]

    # Everyone's annotations of the item (for the final labels) and this annotator's own (to add the
    # time, and the retired codes the label may keep); others' labels flagged by a split hold back
    # the item's automatic final label on that dimension until they are recoded.
    by_dimension: dict[int, dict[int, str]] = {pk: {} for pk in dimension_ids}
    mine: dict[int, tuple[int, int, object]] = {}  # dimension id: (annotation id, time spent, created at)
    kept: dict[int, set[str]] = {}
    flagged: set[int] = set()
    for pk, annotator_id, dimension_id, value, spent_before, created_at, needs_recode in Annotation.objects.filter(
        item_id=item.pk, dimension_id__in=dimension_ids
    ).values_list("id", "annotator_id", "dimension_id", "value", "time_spent_ms", "created_at", "needs_recode"):
        by_dimension[dimension_id][annotator_id] = value
        if annotator_id == annotator.pk:
            mine[dimension_id] = (pk, spent_before, created_at)
            kept[dimension_id] = set() if needs_recode else set(value_codes(value))
        elif needs_recode:
            flagged.add(dimension_id)
    cleaned = _validated(dimensions, dict(values or {}), dict(notes or {}), kept)
    finals = {
        dimension_id: (pk, value, method, rationale)
        for pk, dimension_id, value, method, rationale in FinalLabel.objects.filter(
            item_id=item.pk, dimension_id__in=dimension_ids
        ).values_list("id", "dimension_id", "value", "method", "rationale")
    }

    spent = clamp_time_spent(time_spent_ms)
    share, remainder = divmod(spent, len(dimensions)) if dimensions else (0, 0)
    now = timezone.now()
    version = study.codebook_version
    saved = []
    for position, (dimension, _index) in enumerate(dimensions):
        value, note = cleaned[dimension.id]
        extra = share + (remainder if position == 0 else 0)
        before = mine.get(dimension.id)
        annotation = Annotation(
            item=item,
            annotator=annotator,
            dimension=dimension,
            value=value,
            note=note,
            time_spent_ms=min((before[1] if before else 0) + extra, 2**31 - 1),
            codebook_version=version,
            needs_recode=False,
            recode_event=None,
        )
        # Foreign keys are objects fetched above; uniqueness is the upsert's.
        annotation.full_clean(
            exclude=["item", "annotator", "dimension", "recode_event"],
            validate_unique=False,
            validate_constraints=False,
        )
        saved.append(annotation)
        by_dimension[dimension.id][annotator.pk] = value
    if saved:
        Annotation.objects.bulk_create(
            saved,
            update_conflicts=True,
            unique_fields=["item", "annotator", "dimension"],
            update_fields=[
                "value",
                "note",
                "time_spent_ms",
                "updated_at",
                "codebook_version",
                "needs_recode",
                "recode_event",
            ],
        )
        for annotation in saved:  # as stored: an updated annotation keeps its id and creation time
            before = mine.get(annotation.dimension_id)
            if before:
                annotation.id, annotation.created_at = before[0], before[2]
    if own.completed_at is None:
        own.completed_at = now
        Assignment.objects.filter(pk=own.pk).update(completed_at=now)
        transaction.on_commit(partial(progress_count_completed, study_id=item.study_id, annotator_id=annotator.pk))
    item_final_labels_refresh(
        study=study,
        item_id=item.pk,
        dimensions=[d for d, _ in dimensions],
        finished={a.annotator_id for a in assignments if a.completed_at is not None},
        values=by_dimension,
        existing=finals,
        flagged=flagged,
    )
    item_disagreements_record(
        study=study,
        item_id=item.pk,
        dimensions=[d for d, _ in dimensions],
        assignments=assignments,
        values=by_dimension,
    )
    return saved
