"""The item page's read: one study item with everything known about it, in a fixed number of queries.

The report, its assignments (who, when, done), every annotator's label and note per dimension,
the final labels with how they were made, the report's reproducers and the verdicts of their
runs, and a history merged from the timestamps already stored (no audit table): the item joined
the study, its screening decision, assignments made and finished, labels given and changed,
final labels decided, re-review flags.

Who may read it is the views' business (``can_read_results``); the labels come from
``annotations_visible_to`` all the same, so blind labelling holds here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from labelling.models import Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.selectors.labelling import annotations_visible_to, category_names, dimensions_of
from labelling.values import value_codes
from triage.models import Reproducer, ReproductionRun

# An annotation saved again this long after it was first saved counts as changed in the history.
UPDATE_GRACE = timedelta(seconds=1)
# needs_review reasons are written "YYYY-MM-DD: what changed" (labelling.services.items), one per line.
_FLAG_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}): (.*)$")
# Run fields the page never shows (the arrays, the output tails): not loaded.
_HEAVY_RUN_FIELDS = ("captures", "stdout_tail", "stderr_tail", "outputs", "comparison")


@dataclass
class Label:
    """One annotator's label of one dimension, as shown."""

    value: str
    display: str
    note: str
    time_spent_ms: int
    created_at: datetime
    updated_at: datetime
    needs_recode: bool = False  # a split flagged it: its annotator picks one of the new categories
    codebook_version: int = 0


@dataclass
class DimensionRow:
    dimension: Dimension
    labels: list[Label | None]  # one per annotator of ``ItemDetail.annotators``, None when not given
    final: FinalLabel | None = None
    final_display: str = ""


@dataclass
class HistoryEvent:
    at: datetime
    kind: str  # added, screened, assigned, completed, labelled, relabelled, final, flagged
    text: str
    who: str = ""
    day_only: bool = False  # the stored time is a date (re-review flags)


@dataclass
class ItemDetail:
    item: StudyItem
    assignments: list[Assignment]
    annotators: list[str]  # usernames, in column order: assigned ones by name, then others who labelled
    rows: list[DimensionRow]
    reproducers: list[Reproducer]
    runs: list[ReproductionRun]
    history: list[HistoryEvent] = field(default_factory=list)

    @property
    def has_labels(self) -> bool:
        return any(label is not None for row in self.rows for label in row.labels)

    @property
    def has_finals(self) -> bool:
        return any(row.final is not None for row in self.rows)


def _display(dimension: Dimension, value: str, names: dict[tuple[int, str], str]) -> str:
    if not dimension.has_categories:
        return value
    return ", ".join(names.get((dimension.id, code), code) for code in value_codes(value))


def _flag_events(item: StudyItem) -> list[HistoryEvent]:
    events = []
    if not item.needs_review:
        return events
    for line in item.review_reason.splitlines():
        match = _FLAG_LINE.match(line.strip())
        if match:
            try:
                day = date.fromisoformat(match.group(1))
            except ValueError:
                continue
            # Sorted at the start of that day, but never before the item joined the study.
            at = max(datetime.combine(day, time.min, tzinfo=UTC), item.added_at)
            events.append(HistoryEvent(at, "flagged", f"Flagged for re-review: {match.group(2)}", day_only=True))
    return events


def item_detail_for(*, study: Study, item_id: int, user) -> ItemDetail | None:
    """Everything the item page shows about item ``item_id`` of ``study``; None if the study has no such item.

    Eight queries, whatever the number of annotators, labels, reproducers or runs: the item (with
    its report and screener), assignments, annotations, final labels, dimensions, categories,
    reproducers, runs (with reproducer, reproduction, environment and runner); one more for the
    user's role when ``study_for`` has not read it already.
    """
    item = StudyItem.objects.filter(study=study, pk=item_id).select_related("report", "screened_by", "study").first()
    if item is None:
        return None
    assignments = list(
        Assignment.objects.filter(item=item).select_related("annotator").order_by("annotator__username", "id")
    )
    annotations = list(
        annotations_visible_to(user=user, study=study)
        .filter(item=item)
        .select_related("annotator")
        .order_by("annotator__username", "dimension_id")
    )
    finals = {
        f.dimension_id: f
        for f in FinalLabel.objects.filter(item=item, dimension__codebook__study=study).select_related("decided_by")
    }
    dimensions = dimensions_of(study=study)
    names = category_names(study=study)

    annotators = [a.annotator.username for a in assignments]
    for annotation in annotations:
        if annotation.annotator.username not in annotators:
            annotators.append(annotation.annotator.username)
    column = {name: i for i, name in enumerate(annotators)}
    by_dimension = {d.id: d for d in dimensions}
    labels: dict[int, list[Label | None]] = {d.id: [None] * len(annotators) for d in dimensions}
    for annotation in annotations:
        dimension = by_dimension.get(annotation.dimension_id)
        if dimension is None:
            continue
        labels[dimension.id][column[annotation.annotator.username]] = Label(
            value=annotation.value,
            display=_display(dimension, annotation.value, names),
            note=annotation.note,
            time_spent_ms=annotation.time_spent_ms,
            created_at=annotation.created_at,
            updated_at=annotation.updated_at,
            needs_recode=annotation.needs_recode,
            codebook_version=annotation.codebook_version,
        )
    rows = []
    for dimension in dimensions:
        final = finals.get(dimension.id)
        rows.append(
            DimensionRow(
                dimension=dimension,
                labels=labels[dimension.id],
                final=final,
                final_display=_display(dimension, final.value, names) if final else "",
            )
        )

    reproducers = list(Reproducer.objects.filter(report_id=item.report_id).order_by("-created_at", "-id"))
    runs = list(
        ReproductionRun.objects.filter(reproducer__report_id=item.report_id)
        .select_related("reproducer", "reproduction", "environment", "runner")
        .defer(*_HEAVY_RUN_FIELDS)
        .order_by("-reproduction__created_at", "-reproduction_id", "index", "side")
    )

    detail = ItemDetail(
        item=item, assignments=assignments, annotators=annotators, rows=rows, reproducers=reproducers, runs=runs
    )
    detail.history = _history(item, assignments, annotations, by_dimension, list(finals.values()))
    return detail


def _history(item, assignments, annotations, dimensions, finals) -> list[HistoryEvent]:
    """The item's timeline, oldest first (ties keep the order of the steps of the flow)."""
    events = [HistoryEvent(item.added_at, "added", "Added to the study")]
    if item.screened_at and item.screening != StudyItem.Screening.PENDING:
        text = item.get_screening_display()
        if item.exclusion_reason:
            text += f": {item.exclusion_reason}"
        who = item.screened_by.username if item.screened_by else ""
        events.append(HistoryEvent(item.screened_at, "screened", f"Screened: {text}", who))
    for a in assignments:
        events.append(HistoryEvent(a.created_at, "assigned", f"Assigned to {a.annotator.username}"))
        if a.completed_at:
            events.append(HistoryEvent(a.completed_at, "completed", "Finished the item", a.annotator.username))
    for annotation in annotations:
        dimension = dimensions.get(annotation.dimension_id)
        if dimension is None:
            continue
        who = annotation.annotator.username
        events.append(HistoryEvent(annotation.created_at, "labelled", f"Labelled {dimension.name}", who))
        if annotation.updated_at - annotation.created_at > UPDATE_GRACE:
            events.append(
                HistoryEvent(annotation.updated_at, "relabelled", f"Changed the label of {dimension.name}", who)
            )
    for final in finals:
        dimension = dimensions.get(final.dimension_id)
        if dimension is None:
            continue
        who = final.decided_by.username if final.decided_by else ""
        events.append(
            HistoryEvent(final.decided_at, "final", f"Final label of {dimension.name} decided ({final.method})", who)
        )
    events += _flag_events(item)
    order = {k: i for i, k in enumerate(("added", "flagged", "screened", "assigned", "labelled", "relabelled",
                                          "completed", "final"))}  # fmt: skip
    events.sort(key=lambda e: (e.at, order[e.kind]))
    return events
