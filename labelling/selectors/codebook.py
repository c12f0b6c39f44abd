"""Reads about a study's codebook as a whole: its history, what a change would touch, and the
codebook as JSON in the template format (``labelling.codebook_templates``) for export."""

from __future__ import annotations

from django.db.models import QuerySet

from labelling.models import (
    Annotation,
    AnnotationSnapshot,
    Category,
    CodebookEvent,
    Dimension,
    FinalLabel,
    FinalLabelDecision,
    Study,
)
from labelling.selectors.studies import codebook_tree
from labelling.values import decision_codes, value_holds_code_q

EXPORT_FORMAT = "bugsift-codebook/1"


def codebook_history(*, study: Study) -> QuerySet[CodebookEvent]:
    """The study's codebook events, the latest first, with who made them."""
    return CodebookEvent.objects.filter(study=study).select_related("created_by").order_by("-version", "-id")


def category_impact(*, category: Category) -> dict:
    """What a change of ``category``'s stored labels would touch: annotations, final labels (and how
    many of those are adjudicated or imported), adjudication history rows, items, and the labels kept
    in calibration rounds' earlier passes (``snapshots``)."""
    q = value_holds_code_q(category.code)
    annotations = Annotation.objects.filter(dimension_id=category.dimension_id).filter(q)
    finals = FinalLabel.objects.filter(dimension_id=category.dimension_id).filter(q)
    decisions = 0
    items = set(annotations.values_list("item_id", flat=True)) | set(finals.values_list("item_id", flat=True))
    for item_id, value, replaced, chosen in FinalLabelDecision.objects.filter(
        dimension_id=category.dimension_id
    ).values_list("item_id", "value", "replaced_value", "chosen_from"):
        if category.code in decision_codes(value, replaced, chosen):
            decisions += 1
            items.add(item_id)
    return {
        "category": category.code,
        "annotations": annotations.count(),
        "annotators": annotations.values("annotator_id").distinct().count(),
        "final_labels": finals.count(),
        "protected_final_labels": finals.filter(
            method__in=[FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED]
        ).count(),
        "decisions": decisions,
        "items": len(items),
        "snapshots": AnnotationSnapshot.objects.filter(dimension_id=category.dimension_id).filter(q).count(),
    }


def dimension_impact(*, dimension: Dimension) -> dict:
    return {
        "dimension": dimension.code,
        "annotations": Annotation.objects.filter(dimension=dimension).count(),
        "final_labels": FinalLabel.objects.filter(dimension=dimension).count(),
    }


def _category_json(category: Category, children: list[Category]) -> dict:
    out = {
        "code": category.code,
        "name": category.name,
        "definition": category.definition,
        "example": category.example,
        "shortcut": category.shortcut,
    }
    if category.retired:
        out["retired"] = True
    if children:
        out["children"] = [_category_json(c, []) for c in children]
    return out


def codebook_export(*, study: Study) -> dict:
    """The study's codebook in the template format, which ``study_create(codebook=...)``, the study
    create page and ``create_study --codebook-file`` read back. ``exported_from`` says where it
    comes from; the rest is the codebook itself."""
    codebook = study.codebook
    dimensions = []
    for dim in codebook_tree(codebook=codebook):
        dimensions.append(
            {
                "code": dim.code,
                "name": dim.name,
                "kind": dim.kind,
                "description": dim.description,
                "required": dim.required,
                "max_choices": dim.max_choices,
                "decision_rule": dim.decision_rule,
                "majority_threshold": str(dim.majority_threshold),
                "categories": [_category_json(top, children) for top, children in dim.tree],
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "slug": study.template_slug or study.slug,
        "name": codebook.name,
        "description": codebook.description,
        "source": codebook.source,
        "exported_from": {"study": study.slug, "codebook_version": study.codebook_version},
        "dimensions": dimensions,
    }


# Details computed from the labels (item ids, counts): shown only to whoever ``sees_others_labels``.
LABEL_DETAILS = {
    "items",
    "labels_holding_it",
    "labels_now_named_by_new_code",
    "final_labels_kept",
    "final_labels_created",
    "final_labels_changed",
    "final_labels_removed",
    "snapshots_rewritten",
    "snapshots_kept",
}


def event_as_dict(event: CodebookEvent, *, with_counts: bool) -> dict:
    """One history entry as JSON. ``with_counts`` False (an annotator of a blind study): no counts
    and no details computed from the labels, only what changed in the codebook."""
    details = event.details or {}
    if not with_counts:
        details = {k: v for k, v in details.items() if k not in LABEL_DETAILS}
    return {
        "version": event.version,
        "kind": event.kind,
        "kind_display": event.get_kind_display(),
        "summary": event.summary,
        "details": details,
        "annotations_touched": event.annotations_touched if with_counts else None,
        "final_labels_touched": event.final_labels_touched if with_counts else None,
        "decisions_touched": event.decisions_touched if with_counts else None,
        "created_by": event.created_by.get_username() if event.created_by_id else None,
        "created_at": event.created_at.isoformat(),
    }


def codebook_export_file(*, study: Study) -> tuple[str, str]:
    """(file name, JSON text) of the codebook export, as the page and the API send it."""
    import json

    body = json.dumps(codebook_export(study=study), indent=2, ensure_ascii=False) + "\n"
    return f"{study.slug}-codebook-v{study.codebook_version}.json", body
