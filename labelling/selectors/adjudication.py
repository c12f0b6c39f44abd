"""Reads of the adjudication queue: the next disagreement with everything the adjudicator weighs
(the report, each annotator's value and note, the reproduction verdicts, the codebook's
definitions), and the history of decisions.

Who may read it is the callers' business (``can_adjudicate``); the labels are read through
``item_detail_for`` and ``disagreements_for`` like on the item and disagreement pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet

from labelling.models import Assignment, FinalLabel, FinalLabelDecision, Study
from labelling.permissions import sees_adjudicated_outcomes
from labelling.selectors.item_detail import ItemDetail, item_detail_for
from labelling.selectors.labelling import (
    DISAGREEMENT_COUNT_CAP,
    CodebookDimension,
    Disagreement,
    category_names,
    codebook_for_labelling,
    disagreement_count,
    disagreements_for,
)
from labelling.values import value_codes


@dataclass
class GivenValue:
    annotator: str  # the username, or "Annotator N" unless the study shows names
    value: str
    display: str
    note: str


@dataclass
class AdjudicationDimension:
    codebook: CodebookDimension
    values: list[GivenValue]

    @property
    def dimension(self):
        return self.codebook.dimension

    @property
    def distinct_values(self) -> list[GivenValue]:
        """One entry per distinct value, first annotator's display (the choices offered)."""
        seen, result = set(), []
        for v in self.values:
            if v.value not in seen:
                seen.add(v.value)
                result.append(v)
        return result


@dataclass
class AdjudicationItem:
    detail: ItemDetail
    dimensions: list[AdjudicationDimension]
    remaining: int  # disagreements left, this one included; above DISAGREEMENT_COUNT_CAP: "more than the cap"
    remaining_capped: bool = False
    codebook: list[CodebookDimension] = field(default_factory=list)

    @property
    def item(self):
        return self.detail.item


def _alias(study: Study, names: list[str]) -> dict[str, str]:
    if study.adjudication_shows_names:
        return {n: n for n in names}
    return {n: f"Annotator {i}" for i, n in enumerate(names, start=1)}


def adjudication_next_for(*, study: Study, user, after: int | None = None) -> AdjudicationItem | None:
    """The first item (by id, after item ``after`` if given, wrapping round) that has a
    disagreement on any dimension, with what the adjudication page shows; None when there is none.

    Bounded: a keyset read of the first recorded disagreement after ``after`` (``disagreements_for``
    with ``limit=1``), once more from the start when there is none after it; ``remaining`` is the
    capped ``disagreement_count`` (above ``DISAGREEMENT_COUNT_CAP``: more than that many). It never
    lists every disagreement of the study."""
    found = disagreements_for(study=study, after=after, limit=1)
    if not found and after is not None:
        found = disagreements_for(study=study, limit=1)
    if not found:
        return None
    chosen: Disagreement = found[0]
    detail = item_detail_for(study=study, item_id=chosen.item.pk, user=user)
    codebook = codebook_for_labelling(study=study)
    by_id = {entry.dimension.id: entry for entry in codebook}
    names = category_names(study=study)
    order: list[str] = []
    for row in chosen.dimensions:
        for v in row.values:
            if v.annotator not in order:
                order.append(v.annotator)
    alias = _alias(study, order)
    dimensions = []
    for row in chosen.dimensions:
        entry = by_id.get(row.dimension.id)
        if entry is None:
            continue
        values = []
        for v in row.values:
            if row.dimension.has_categories:
                display = ", ".join(names.get((row.dimension.id, c), c) for c in value_codes(v.value)) or "(none)"
            else:
                display = v.value or "(none)"
            values.append(GivenValue(annotator=alias[v.annotator], value=v.value, display=display, note=v.note))
        dimensions.append(AdjudicationDimension(codebook=entry, values=values))
    remaining = max(disagreement_count(study=study), 1)  # this one at least
    capped = remaining > DISAGREEMENT_COUNT_CAP
    return AdjudicationItem(
        detail=detail,
        dimensions=dimensions,
        remaining=min(remaining, DISAGREEMENT_COUNT_CAP),
        remaining_capped=capped,
        codebook=codebook,
    )


def adjudicated_outcomes_for(*, study: Study, annotator) -> QuerySet[FinalLabel]:
    """The adjudicated final labels of the items ``annotator`` finished, if they may read them
    (``sees_adjudicated_outcomes``: the study is not blind and shows them); otherwise none."""
    qs = (
        FinalLabel.objects.filter(
            item__study=study, dimension__codebook__study=study, method=FinalLabel.Method.ADJUDICATED
        )
        .select_related("item__report", "dimension", "decided_by")
        .order_by("item_id", "dimension__order", "dimension_id")
    )
    if not sees_adjudicated_outcomes(annotator, study):
        return qs.none()
    finished = Assignment.objects.filter(item=OuterRef("item"), annotator=annotator, completed_at__isnull=False)
    return qs.filter(Exists(finished))


def decisions_of(*, study: Study) -> QuerySet[FinalLabelDecision]:
    """Every adjudication of the study, oldest first, with item, report, dimension and adjudicator."""
    return (
        FinalLabelDecision.objects.filter(item__study=study)
        .select_related("item__report", "dimension", "decided_by")
        .order_by("decided_at", "id")
    )


@dataclass
class DecisionRow:
    decision: FinalLabelDecision
    value: str  # the chosen value, categories by name
    chosen_from: list[str]
    replaced: str


def item_decisions_for(*, study: Study, item_id: int) -> list[DecisionRow]:
    """The adjudication history of one item (oldest first), values shown by category name: who
    decided, when, what was chosen between what, why, and what final label it replaced. Readers:
    ``can_read_decisions`` (the caller checks)."""
    names = category_names(study=study)

    def shown(decision, value: str) -> str:
        if not value:
            return "(empty)"
        if not decision.dimension.has_categories:
            return value
        return ", ".join(names.get((decision.dimension_id, c), c) for c in value_codes(value))

    rows = []
    for d in decisions_of(study=study).filter(item_id=item_id):
        replaced = f"{d.get_replaced_method_display()}: {shown(d, d.replaced_value)}" if d.replaced_method else ""
        rows.append(
            DecisionRow(
                decision=d,
                value=shown(d, d.value),
                chosen_from=[shown(d, v) for v in d.chosen_from],
                replaced=replaced,
            )
        )
    return rows
