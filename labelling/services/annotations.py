"""Saving an annotator's labels for one item (the labelling page and the annotation API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.selectors.labelling import codebook_for_labelling, progress_count_completed
from labelling.services.codebook_events import codebook_read_lock
from labelling.services.disagreements import item_disagreements_record
from labelling.services.final_labels import item_final_labels_refresh, items_lock
from labelling.services.results import study_results_changed
from labelling.values import CategoryIndex, canonical_value, split_tokens, value_codes

MAX_TIME_SPENT_MS = 60 * 60 * 1000  # one hour: more means the page was left open, not worked on


def clamp_time_spent(value) -> int:
    """Milliseconds as an int in [0, 1 hour]; anything unreadable counts as 0."""
    try:
        ms = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(0, min(ms, MAX_TIME_SPENT_MS))


# {(study id, study created at, codebook version): the codebook as the save checks values against it}. A
# version's codebook never changes (every change bumps the version), so each process keeps the few it
# uses rather than unpickling one from the shared cache on every save; the creation time keeps a study
# made again under a reused id (a flushed database) from finding another study's codebook.
_CODEBOOKS: dict[tuple, list[tuple[Dimension, CategoryIndex]]] = {}
_CODEBOOKS_KEPT = 64


def _dimensions_with_categories(study: Study) -> list[tuple[Dimension, CategoryIndex]]:
    key = (study.pk, study.created_at, study.codebook_version)
    dimensions = _CODEBOOKS.get(key)
    if dimensions is None:
        dimensions = [
            (d.dimension, CategoryIndex(d.dimension, d.categories)) for d in codebook_for_labelling(study=study)
        ]
        if len(_CODEBOOKS) >= _CODEBOOKS_KEPT:
            _CODEBOOKS.clear()
        _CODEBOOKS[key] = dimensions
    return dimensions


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


@dataclass
class _ItemState:
    """What the save reads of an item once it holds the item's lock, in one statement."""

    assigned: set[int] = field(default_factory=set)  # annotators with an assignment of the item
    finished: set[int] = field(default_factory=set)  # annotators whose assignment is completed
    own_assignment: tuple[int, bool] | None = None  # the saver's (assignment id, completed)
    # (annotation id, annotator id, dimension id, value, time spent, needs recode)
    annotations: list[tuple] = field(default_factory=list)
    finals: dict[int, tuple[int, str, str, str]] = field(default_factory=dict)  # dimension: (id, value, method, why)


def _item_state(*, item_id: int, annotator_id: int, dimension_ids: list[int]) -> _ItemState:
    """The item's assignments, its annotations and its final labels (of ``dimension_ids``): one query.

    Read after ``items_lock`` in a statement of its own: a statement that waits for a row lock
    reads the other tables as they were when it started, so the lock and this read cannot be one
    query (a save waiting for another save of the item would miss that save's completion). Plain
    SQL (PostgreSQL and SQLite alike): on the hot path the ORM's three queries cost more to build
    than to run.
    """
    state = _ItemState()
    dims = ", ".join(["%s"] * len(dimension_ids)) or "NULL"
    sql = f"""
        SELECT 0, id, annotator_id, dimension_id, value, time_spent_ms, needs_recode, NULL, NULL
          FROM {Annotation._meta.db_table} WHERE item_id = %s AND dimension_id IN ({dims})
        UNION ALL
        SELECT 1, id, NULL, dimension_id, value, NULL, NULL, method, rationale
          FROM {FinalLabel._meta.db_table} WHERE item_id = %s AND dimension_id IN ({dims})
        UNION ALL
        SELECT 2, id, annotator_id, NULL, NULL, NULL, completed_at IS NOT NULL, NULL, NULL
          FROM {Assignment._meta.db_table} WHERE item_id = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [item_id, *dimension_ids, item_id, *dimension_ids, item_id])
        rows = cursor.fetchall()
    for kind, pk, who, dimension_id, value, spent, flag, method, rationale in rows:
        if kind == 0:
            state.annotations.append((pk, who, dimension_id, value, spent, bool(flag)))
        elif kind == 1:
            state.finals[dimension_id] = (pk, value, method, rationale)
        else:
            state.assigned.add(who)
            if flag:
                state.finished.add(who)
            if who == annotator_id:
                state.own_assignment = (pk, bool(flag))
    return state


def _stored_datetime(value):
    """A timestamp as a raw query returned it, made what the ORM gives: SQLite hands back text or a
    naive datetime (its backend's converter makes it aware); PostgreSQL's driver an aware datetime."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    return convert(value, None, connection) if convert is not None and value is not None else value


_UPSERT_COLUMNS = (
    "item_id",
    "annotator_id",
    "dimension_id",
    "value",
    "note",
    "time_spent_ms",
    "codebook_version",
    "needs_recode",
    "recode_event_id",
    "created_at",
    "updated_at",
)
_UPSERT_UPDATES = (
    "value",
    "note",
    "time_spent_ms",
    "updated_at",
    "codebook_version",
    "needs_recode",
    "recode_event_id",
)


def _annotations_upsert(annotations: list[Annotation], *, at) -> None:
    """Insert or update the annotator's labels of one item in one statement (INSERT ... ON CONFLICT
    (item, annotator, dimension) DO UPDATE, PostgreSQL and SQLite alike); each annotation gets its id
    and creation time as stored (an updated one keeps both). Plain SQL, like ``_item_state``."""
    stamp = connection.ops.adapt_datetimefield_value(at)
    row = "(" + ", ".join(["%s"] * len(_UPSERT_COLUMNS)) + ")"
    params: list = []
    for a in annotations:
        a.created_at = a.updated_at = at
        params += [a.item_id, a.annotator_id, a.dimension_id, a.value, a.note, a.time_spent_ms]
        params += [a.codebook_version, a.needs_recode, a.recode_event_id, stamp, stamp]
    sql = (
        f"INSERT INTO {Annotation._meta.db_table} ({', '.join(_UPSERT_COLUMNS)}) "
        f"VALUES {', '.join([row] * len(annotations))} "
        "ON CONFLICT (item_id, annotator_id, dimension_id) DO UPDATE SET "
        + ", ".join(f"{column} = EXCLUDED.{column}" for column in _UPSERT_UPDATES)
        + " RETURNING id, dimension_id, created_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        stored = {dimension_id: (pk, created_at) for pk, dimension_id, created_at in cursor.fetchall()}
    for a in annotations:
        a.id, created_at = stored[a.dimension_id]
        a.created_at = _stored_datetime(created_at)
        a._state.adding = False


def _assignment_complete(*, assignment_id: int, at) -> None:
    """Mark the saver's assignment completed (plain SQL, like ``_item_state``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Assignment._meta.db_table} SET completed_at = %s WHERE id = %s",
            [connection.ops.adapt_datetimefield_value(at), assignment_id],
        )


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
    the study's share lock, the item's lock, one read of its assignments, annotations and final
    labels (``_item_state``), one upsert of the annotator's annotations (INSERT ... ON CONFLICT),
    the completion of the assignment, and at most one delete and one upsert of final labels; once
    all the item's assignments are completed, its final labels read again and its recorded
    disagreements replaced (``item_disagreements_record``); last, the study's results token
    (``study_results_changed``). The codebook comes from the process's copy of its version, else
    from the cache of its version
    (``codebook_for_labelling``).
    """
    study = item.study
    study.codebook_version = codebook_read_lock(study_id=item.study_id)
    items_lock(item_ids=[item.pk])
    dimensions = _dimensions_with_categories(study)
    dimension_ids = [d.id for d, _ in dimensions]
    state = _item_state(item_id=item.pk, annotator_id=annotator.pk, dimension_ids=dimension_ids)
    if state.own_assignment is None:
        raise ApplicationError(
            "You are not assigned to this item, so you cannot label it. "
            "Label the items of your own queue, or ask the study owner to assign this one to you.",
            status=403,
        )

    # Everyone's annotations of the item (for the final labels) and this annotator's own (to add the
    # time, and the retired codes the label may keep); others' labels flagged by a split hold back
    # the item's automatic final label on that dimension until they are recoded.
    by_dimension: dict[int, dict[int, str]] = {pk: {} for pk in dimension_ids}
    mine: dict[int, int] = {}  # dimension id: the time spent on the annotator's saved label
    kept: dict[int, set[str]] = {}
    flagged: set[int] = set()
    for _pk, annotator_id, dimension_id, value, spent_before, needs_recode in state.annotations:
        by_dimension[dimension_id][annotator_id] = value
        if annotator_id == annotator.pk:
            mine[dimension_id] = spent_before
            kept[dimension_id] = set() if needs_recode else set(value_codes(value))
        elif needs_recode:
            flagged.add(dimension_id)
    cleaned = _validated(dimensions, dict(values or {}), dict(notes or {}), kept)

    spent = clamp_time_spent(time_spent_ms)
    share, remainder = divmod(spent, len(dimensions)) if dimensions else (0, 0)
    now = timezone.now()
    version = study.codebook_version
    saved = []
    for position, (dimension, _index) in enumerate(dimensions):
        value, note = cleaned[dimension.id]
        extra = share + (remainder if position == 0 else 0)
        annotation = Annotation(
            item=item,
            annotator=annotator,
            dimension=dimension,
            value=value,
            note=note,
            time_spent_ms=min(mine.get(dimension.id, 0) + extra, 2**31 - 1),
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
        _annotations_upsert(saved, at=now)
    own_id, completed = state.own_assignment
    if not completed:
        _assignment_complete(assignment_id=own_id, at=now)
        state.finished.add(annotator.pk)
        transaction.on_commit(partial(progress_count_completed, study_id=item.study_id, annotator_id=annotator.pk))
    item_final_labels_refresh(
        study=study,
        item_id=item.pk,
        dimensions=[d for d, _ in dimensions],
        finished=state.finished,
        values=by_dimension,
        existing=state.finals,
        flagged=flagged,
    )
    item_disagreements_record(
        study=study,
        item_id=item.pk,
        dimensions=[d for d, _ in dimensions],
        assigned=state.assigned,
        finished=state.finished,
        values=by_dimension,
    )
    study_results_changed(study_ids=[item.study_id])  # last: the overview, agreement and charts change
    return saved
