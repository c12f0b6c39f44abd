"""Set the decision rule of a study's dimensions and recompute their automatic final labels.

``decision_rule_set`` stores the rule (and the majority threshold) of the named dimensions, or
of every dimension, then recomputes the automatic final labels of those dimensions for every
item of the study, 1,000 items at a time, in one transaction. The study row is locked first and
then every item (``final_labels.items_lock``, in id order, as label imports do), so saves on the
labelling page and imports wait for it and it waits for them, never in a cycle. Adjudicated and
imported final labels are never touched; switching to ``adjudication`` removes the automatic ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from labelling import decision_rules
from labelling.models import CodebookEvent, Dimension, Study, StudyItem
from labelling.services.codebook_events import codebook_changed
from labelling.services.final_labels import final_labels_recompute, items_lock
from labelling.services.results import study_results_changed


@dataclass
class RuleChange:
    """What setting the rule did to one dimension."""

    dimension: str  # code
    rule: str
    threshold: Decimal
    previous_rule: str
    previous_threshold: Decimal
    created: int = 0
    changed: int = 0
    removed: int = 0
    protected: int = 0  # adjudicated or imported final labels left as they were

    def as_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "rule": self.rule,
            "threshold": str(self.threshold),
            "previous_rule": self.previous_rule,
            "previous_threshold": str(self.previous_threshold),
            "created": self.created,
            "changed": self.changed,
            "removed": self.removed,
            "protected": self.protected,
        }

    def summary(self) -> str:
        rule = self.rule if self.rule != decision_rules.MAJORITY else f"majority (more than {self.threshold})"
        was = (
            ""
            if (self.rule, self.threshold) == (self.previous_rule, self.previous_threshold)
            else f" (was {self.previous_rule}"
            + (f" {self.previous_threshold}" if self.previous_rule == decision_rules.MAJORITY else "")
            + ")"
        )
        return (
            f"{self.dimension}: {rule}{was}: {self.created} final labels created, {self.changed} changed, "
            f"{self.removed} removed; {self.protected} adjudicated or imported kept"
        )


def _dimensions(study: Study, codes: Iterable[str] | None) -> list[Dimension]:
    dimensions = list(Dimension.objects.filter(codebook__study=study).order_by("order", "id"))
    codes = [str(c).strip() for c in (codes or []) if str(c).strip()]
    if not codes:
        if not dimensions:
            raise ValidationError({"dimensions": ["This study's codebook has no dimensions yet."]})
        return dimensions
    by_code = {d.code: d for d in dimensions}
    unknown = [c for c in codes if c not in by_code]
    if unknown:
        valid = ", ".join(by_code) or "(none yet)"
        raise ValidationError(
            {
                "dimensions": [
                    f"Unknown dimension{'s' if len(unknown) > 1 else ''} {', '.join(repr(c) for c in unknown)}; "
                    f"this study's dimensions are: {valid}."
                ]
            }
        )
    return [by_code[c] for c in dict.fromkeys(codes)]


@transaction.atomic
def decision_rule_set(
    *,
    study: Study,
    rule: str | None = None,
    threshold=None,
    dimension_codes: Iterable[str] | None = None,
    by=None,
) -> list[RuleChange]:
    """Give the dimensions ``dimension_codes`` (all when empty) the decision ``rule`` (unchanged
    when None) and, for ``majority``, the ``threshold`` (unchanged when None), then recompute
    their automatic final labels for the whole study. Raises ValidationError, having written
    nothing, for an unknown rule, a bad threshold or an unknown dimension."""
    errors: dict[str, list[str]] = {}
    if rule is not None:
        rule = str(rule).strip().lower()
        problem = decision_rules.rule_error(rule)
        if problem:
            errors["rule"] = [problem]
    if threshold is not None and threshold != "":
        try:
            threshold = decision_rules.threshold_parse(threshold)
        except ValueError as exc:
            errors["threshold"] = [str(exc)]
    else:
        threshold = None
    if errors:
        raise ValidationError(errors)

    Study.objects.select_for_update().filter(pk=study.pk).first()  # the study before its items, as imports do
    dimensions = _dimensions(study, dimension_codes)
    items_lock(item_ids=StudyItem.objects.filter(study=study).values_list("id", flat=True))

    changes: list[RuleChange] = []
    changed = False
    for dimension in dimensions:
        change = RuleChange(
            dimension=dimension.code,
            rule=rule or dimension.decision_rule,
            threshold=threshold if threshold is not None else dimension.majority_threshold,
            previous_rule=dimension.decision_rule,
            previous_threshold=dimension.majority_threshold,
        )
        if (change.rule, change.threshold) != (change.previous_rule, change.previous_threshold):
            dimension.decision_rule = change.rule
            dimension.majority_threshold = change.threshold
            dimension.full_clean()
            dimension.save(update_fields=["decision_rule", "majority_threshold"])
            changed = True
        changes.append(change)
    if changed:  # cached copies of the codebook (labelling page) are keyed by the version
        moved = [c for c in changes if (c.rule, c.threshold) != (c.previous_rule, c.previous_threshold)]
        codebook_changed(
            study_id=study.pk,
            kind=CodebookEvent.Kind.DECISION_RULE_CHANGED,
            summary="Decision rule changed: "
            + "; ".join(f"{c.dimension} {c.previous_rule} -> {c.rule}" for c in moved)
            + ".",
            details={
                "changes": [
                    {
                        "dimension": c.dimension,
                        "rule": [c.previous_rule, c.rule],
                        "threshold": [str(c.previous_threshold), str(c.threshold)],
                    }
                    for c in moved
                ]
            },
            by=by,
            results_changed_here=False,  # at the end, once the final labels are recomputed
        )

    item_ids = list(StudyItem.objects.filter(study=study).order_by("id").values_list("id", flat=True))
    counts = final_labels_recompute(study=study, item_ids=item_ids, dimensions=dimensions)
    for change, dimension in zip(changes, dimensions, strict=True):
        row = counts.per_dimension.get(dimension.id, {})
        change.created = row.get("created", 0)
        change.changed = row.get("changed", 0)
        change.removed = row.get("removed", 0)
        change.protected = row.get("protected", 0)
    study_results_changed(study_ids=[study.pk])  # the recomputed final labels
    return changes
