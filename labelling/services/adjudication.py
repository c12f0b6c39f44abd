"""Adjudication: an owner or adjudicator decides the final label of one item's dimension.

The FinalLabel becomes (value, ``adjudicated``, by, rationale) and a FinalLabelDecision row
records the decision: the annotators' values it chose between, the rationale, and the method
and value of the final label it replaced. Deciding again later adds a row, so every earlier
decision stays in the history.

Concurrency: like every writer of an item's final labels (``labelling.services.final_labels``)
it calls ``items_lock`` first, so two adjudicators saving the same item at once run one after
the other: both history rows are written, each one records what the other had decided before it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labelling.models import (
    Annotation,
    Assignment,
    Category,
    Dimension,
    FinalLabel,
    FinalLabelDecision,
    Study,
    StudyItem,
)
from labelling.services.codebook_events import codebook_read_lock
from labelling.services.disagreements import disagreement_settle
from labelling.services.final_labels import items_lock
from labelling.services.results import study_results_changed
from labelling.values import SEPARATOR, canonical_value, value_codes

MAX_RATIONALE = 10_000


def _normalised(dimension: Dimension, value: str) -> str:
    if dimension.kind == Dimension.Kind.MULTI:
        return SEPARATOR.join(sorted({c.strip() for c in value.split(SEPARATOR) if c.strip()}))
    return value


def given_values(*, item: StudyItem, dimension: Dimension) -> list[str]:
    """The distinct values the item's assigned annotators gave ``dimension`` (a missing label is
    ""), in the order of the annotators' assignments."""
    annotators = list(Assignment.objects.filter(item=item).order_by("id").values_list("annotator_id", flat=True))
    values = dict(Annotation.objects.filter(item=item, dimension=dimension).values_list("annotator_id", "value"))
    result: list[str] = []
    for annotator_id in annotators:
        value = _normalised(dimension, values.get(annotator_id, ""))
        if value not in result:
            result.append(value)
    return result


@transaction.atomic
def final_label_adjudicate(
    *, study: Study, item: StudyItem, dimension: Dimension, value, rationale: str, adjudicator
) -> FinalLabelDecision:
    """Make ``value`` the adjudicated final label of ``item``'s ``dimension``; returns the history row.

    ``value`` is one of the annotators' values or any category of the dimension (by code or
    name; a list or ``;``-joined codes for multiple choice; the text for free text). The
    rationale is required. Raises ValidationError keyed by field; nothing is written then.
    The caller checks ``can_adjudicate``.
    """
    errors = {}
    if item.study_id != study.pk:
        raise ValidationError({"item": "This item is not in the study."})
    if dimension.codebook.study_id != study.pk:
        raise ValidationError({"dimension": "This dimension is not in the study's codebook."})
    rationale = (rationale or "").strip()
    if not rationale:
        errors["rationale"] = "Write why this value is the final label (the rationale is required)."
    elif len(rationale) > MAX_RATIONALE:
        errors["rationale"] = f"The rationale is too long: at most {MAX_RATIONALE} characters."
    elif "\x00" in rationale:
        errors["rationale"] = "The rationale contains a NUL character."
    canonical = ""
    try:
        canonical = canonical_value(dimension, value)
    except (ValueError, TypeError) as exc:
        errors["value"] = str(exc)
    if "value" not in errors and "\x00" in canonical:
        errors["value"] = "The value contains a NUL character."
    if errors:
        raise ValidationError(errors)

    codebook_read_lock(study_id=study.pk)  # a codebook change (merge, split) waits, or this waits for it
    items_lock(item_ids=[item.pk])
    chosen_from = given_values(item=item, dimension=dimension)
    if canonical == "" and "" not in chosen_from:
        raise ValidationError({"value": "Pick a value: one of the annotators' values or a category."})
    given_codes = {code for v in chosen_from for code in value_codes(v)}
    retired = Category.objects.filter(
        dimension=dimension, code__in=value_codes(canonical), retired_at__isnull=False
    ).exclude(code__in=given_codes)
    if retired.exists():
        names = ", ".join(f"{c.name} ('{c.code}')" for c in retired)
        raise ValidationError(
            {"value": f"{names} is retired in this codebook: pick one of the annotators' values or another category."}
        )
    current = FinalLabel.objects.filter(item=item, dimension=dimension).first()
    now = timezone.now()
    decision = FinalLabelDecision(
        item=item,
        dimension=dimension,
        value=canonical,
        chosen_from=chosen_from,
        rationale=rationale,
        replaced_method=current.method if current else "",
        replaced_value=current.value if current else "",
        decided_by=adjudicator,
        decided_at=now,
    )
    decision.full_clean()
    decision.save()
    if current is None:
        final = FinalLabel(item=item, dimension=dimension)
    else:
        final = current
    final.value = canonical
    final.method = FinalLabel.Method.ADJUDICATED
    final.decided_by = adjudicator
    final.rationale = rationale
    final.full_clean(validate_unique=False)
    if current is None:
        final.save()
    else:
        final.save(update_fields=["value", "method", "decided_by", "rationale", "decided_at"])
    disagreement_settle(item_id=item.pk, dimension_id=dimension.pk)  # it has a final label now
    study_results_changed(study_ids=[study.pk])  # last: the final labels' counts and charts change
    return decision


@transaction.atomic
def item_adjudicate(
    *, study: Study, item: StudyItem, decisions: dict[str, tuple[object, str]], adjudicator
) -> list[FinalLabelDecision]:
    """Several dimensions of one item at once (the adjudication page): ``decisions`` maps a
    dimension code to (value, rationale). All are written or none: the ValidationError is keyed
    by dimension code, each with its messages."""
    if not decisions:
        raise ValidationError({"": "Decide at least one dimension."})
    dimensions = {
        d.code: d
        for d in Dimension.objects.filter(codebook__study=study, code__in=list(decisions)).select_related("codebook")
    }
    errors: dict[str, list[str]] = {}
    made = []
    for code, (value, rationale) in decisions.items():
        dimension = dimensions.get(code)
        if dimension is None:
            errors[code] = [f"The codebook has no dimension '{code}'."]
            continue
        try:
            with transaction.atomic():
                made.append(
                    final_label_adjudicate(
                        study=study,
                        item=item,
                        dimension=dimension,
                        value=value,
                        rationale=rationale,
                        adjudicator=adjudicator,
                    )
                )
        except ValidationError as exc:
            errors[code] = [m for ms in exc.message_dict.values() for m in ms]
    if errors:
        raise ValidationError(errors)
    return made
