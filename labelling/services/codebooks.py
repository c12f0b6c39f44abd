"""Writes to a study's codebook: dimensions and their categories.

Annotations and final labels store category codes (see ``labelling.values``), so anything that
would strand a stored value is refused with a message that says what to do instead: changing
the kind of a dimension that has labels, changing the code of a category in use, deleting a
category in use ("merge it first").
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.errors import ApplicationError
from config.text import count
from labelling import decision_rules
from labelling.decision_rules import threshold_parse
from labelling.models import (
    Annotation,
    AnnotationSnapshot,
    Category,
    Codebook,
    CodebookEvent,
    Dimension,
    FinalLabel,
    code_validator,
)
from labelling.services.codebook_events import codebook_changed
from labelling.values import value_holds_code_q

Kind = CodebookEvent.Kind

# Keys the labelling page keeps for itself: help, note, definitions (Shift+d) and white space.
RESERVED_SHORTCUTS = {"?", "n", "D", " ", "\n", "\r", "\t"}
DIMENSION_FIELDS = {"code", "name", "kind", "description", "required", "max_choices", "order"}
CATEGORY_FIELDS = {"code", "name", "definition", "example", "parent", "order", "shortcut"}


def _codebook_changed(codebook_id: int, *, kind: str, summary: str, details: dict | None = None, by=None) -> None:
    """Bump the study's codebook version (cached copies of the old codebook are then unused) and
    record the change in the codebook's history (``codebook_events``)."""
    study_id = Codebook.objects.filter(pk=codebook_id).values_list("study_id", flat=True).get()
    codebook_changed(study_id=study_id, kind=kind, summary=summary, details=details, by=by)


def code_is_valid(code: str) -> bool:
    try:
        code_validator(code)
    except ValidationError:
        return False
    return bool(code) and len(code) <= 64


def category_usage(*, category: Category) -> tuple[int, int]:
    """How many annotations and final labels hold ``category``'s code."""
    q = value_holds_code_q(category.code)
    annotations = Annotation.objects.filter(dimension_id=category.dimension_id).filter(q).count()
    finals = FinalLabel.objects.filter(dimension_id=category.dimension_id).filter(q).count()
    return annotations, finals


def category_history_usage(*, category: Category) -> int:
    """How many labels kept from earlier passes of calibration rounds hold ``category``'s code."""
    q = value_holds_code_q(category.code)
    return AnnotationSnapshot.objects.filter(dimension_id=category.dimension_id).filter(q).count()


def _dimension_label_count(dimension: Dimension) -> int:
    return (
        Annotation.objects.filter(dimension=dimension).count() + FinalLabel.objects.filter(dimension=dimension).count()
    )


# --------------------------------------------------------------------------- dimensions


def _check_dimension(dimension: Dimension, *, changing_kind_from: str | None) -> None:
    errors: dict[str, list[str]] = {}
    if not code_is_valid(dimension.code):
        errors.setdefault("code", []).append(
            f"'{dimension.code}' is not a valid code. Use lower-case letters, digits, '_' and '-' "
            "starting with a letter or digit (e.g. 'root_cause')."
        )
    elif (
        Dimension.objects.filter(codebook_id=dimension.codebook_id, code=dimension.code)
        .exclude(pk=dimension.pk)
        .exists()
    ):
        errors.setdefault("code", []).append(
            f"The codebook already has a dimension '{dimension.code}'. Choose another code."
        )
    if dimension.kind not in Dimension.Kind.values:
        errors.setdefault("kind", []).append(
            f"'{dimension.kind}' is not a kind. Use one of: {', '.join(Dimension.Kind.values)}."
        )
    if dimension.max_choices is not None:
        if dimension.kind != Dimension.Kind.MULTI:
            errors.setdefault("max_choices", []).append(
                "Only multiple-choice dimensions have a maximum number of choices; leave it empty."
            )
        elif dimension.max_choices < 1:
            errors.setdefault("max_choices", []).append("The maximum number of choices must be at least 1.")
    if errors:
        raise ValidationError(errors)

    if changing_kind_from is not None and dimension.pk:
        used = _dimension_label_count(dimension)
        if used:
            raise ApplicationError(
                f"Dimension '{dimension.code}' already has {count(used, 'label')}, so its kind cannot change from "
                f"{changing_kind_from} to {dimension.kind}. Create a new dimension instead.",
                details={"kind": [f"{count(used, 'label uses', 'labels use')} this dimension."]},
            )
        categories = list(dimension.categories.all())
        if dimension.kind == Dimension.Kind.TEXT and categories:
            raise ApplicationError(
                f"Dimension '{dimension.code}' has {len(categories)} categories; a free-text dimension has "
                "none. Delete its categories first.",
                details={"kind": ["Free-text dimensions have no categories."]},
            )
        if dimension.kind == Dimension.Kind.ORDINAL:
            if any(c.parent_id for c in categories):
                raise ApplicationError(
                    f"Dimension '{dimension.code}' has sub-categories; an ordinal scale is flat. "
                    "Remove the sub-categories' parents first.",
                    details={"kind": ["An ordinal scale has no sub-categories."]},
                )
            orders = [c.order for c in categories]
            if len(orders) != len(set(orders)):
                raise ApplicationError(
                    f"Categories of '{dimension.code}' share order numbers; an ordinal scale needs a distinct "
                    "position for each category. Give each category its own order first.",
                    details={"kind": ["Ordinal categories need distinct orders."]},
                )


@transaction.atomic
def dimension_create(
    *,
    codebook: Codebook,
    code: str,
    name: str,
    kind: str = Dimension.Kind.SINGLE,
    description: str = "",
    required: bool = True,
    max_choices: int | None = None,
    order: int | None = None,
    by=None,
) -> Dimension:
    if order is None:
        order = (codebook.dimensions.aggregate(m=Max("order"))["m"] or 0) + 1
    dimension = Dimension(
        codebook=codebook,
        code=(code or "").strip(),
        name=(name or "").strip(),
        kind=kind,
        description=description or "",
        required=required,
        max_choices=max_choices,
        order=order,
    )
    _check_dimension(dimension, changing_kind_from=None)
    dimension.full_clean()
    dimension.save()
    _codebook_changed(
        dimension.codebook_id,
        kind=Kind.DIMENSION_ADDED,
        summary=f"Dimension '{dimension.code}' ({dimension.name}, {dimension.get_kind_display()}) added.",
        details={"dimension": dimension.code, "name": dimension.name, "kind": dimension.kind},
        by=by,
    )
    return dimension


@transaction.atomic
def dimension_update(*, dimension: Dimension, data: dict, by=None) -> Dimension:
    """Change the fields in ``data`` (a subset of code, name, kind, description, required,
    max_choices, order)."""
    unknown = set(data) - DIMENSION_FIELDS
    if unknown:
        raise ValueError(f"dimension_update got unknown fields: {sorted(unknown)}")
    dimension = Dimension.objects.select_for_update().get(pk=dimension.pk)
    old_kind, old_code = dimension.kind, dimension.code
    before = {field: getattr(dimension, field) for field in DIMENSION_FIELDS}
    changed = []
    for field, value in data.items():
        if field in {"code", "name"} and isinstance(value, str):
            value = value.strip()
        if getattr(dimension, field) != value:
            setattr(dimension, field, value)
            changed.append(field)
    if "kind" in changed and dimension.kind != Dimension.Kind.MULTI and "max_choices" not in data:
        dimension.max_choices = None
        changed.append("max_choices")
    if not changed:
        return dimension
    if "code" in changed and _dimension_label_count(dimension):
        raise ApplicationError(
            f"Dimension '{old_code}' already has labels, so its code changes only by a rename, which records "
            "the change in the codebook's history: use Rename (POST .../codebook/dimensions/ID/rename/).",
            details={"code": ["The code of a dimension with labels cannot change."]},
        )
    _check_dimension(dimension, changing_kind_from=old_kind if "kind" in changed else None)
    dimension.full_clean()
    dimension.save(update_fields=changed)
    _codebook_changed(
        dimension.codebook_id,
        kind=Kind.DIMENSION_CHANGED,
        summary=f"Dimension '{dimension.code}' changed: {', '.join(changed)}.",
        details={
            "dimension": dimension.code,
            "changes": {f: [_jsonable(before[f]), _jsonable(getattr(dimension, f))] for f in changed},
        },
        by=by,
    )
    return dimension


def _jsonable(value):
    if isinstance(value, Category):
        return value.code
    return value


@transaction.atomic
def dimension_delete(*, dimension: Dimension, by=None) -> None:
    used = _dimension_label_count(dimension)
    if used:
        raise ApplicationError(
            f"{count(used, 'label uses', 'labels use')} dimension '{dimension.code}', so it cannot be deleted. "
            "Mark it not required instead, or export the labels first.",
            status=409,
        )
    codebook_id, code = dimension.codebook_id, dimension.code
    categories = list(dimension.categories.values_list("code", flat=True))
    dimension.delete()
    _codebook_changed(
        codebook_id,
        kind=Kind.DIMENSION_DELETED,
        summary=f"Dimension '{code}' deleted (it had no labels).",
        details={"dimension": code, "categories": categories},
        by=by,
    )


# --------------------------------------------------------------------------- categories


def _check_category(category: Category, *, dimension: Dimension) -> None:
    errors: dict[str, list[str]] = {}
    if dimension.kind == Dimension.Kind.TEXT:
        raise ApplicationError(
            f"'{dimension.code}' is a free-text dimension, which has no categories. "
            "Change its kind to single, multiple choice or ordinal first.",
            details={"dimension": ["Free-text dimensions have no categories."]},
        )
    siblings = list(Category.objects.filter(dimension=dimension).exclude(pk=category.pk))
    if not code_is_valid(category.code):
        errors.setdefault("code", []).append(
            f"'{category.code}' is not a valid code. Use lower-case letters, digits, '_' and '-' "
            "starting with a letter or digit (e.g. 'wrong_output')."
        )
    elif any(s.code == category.code for s in siblings):
        errors.setdefault("code", []).append(
            f"Dimension '{dimension.code}' already has a category '{category.code}'. Choose another code."
        )
    if not category.name:
        errors.setdefault("name", []).append("Give the category a name.")

    shortcut = category.shortcut
    if shortcut:
        if len(shortcut) != 1:
            errors.setdefault("shortcut", []).append("A shortcut is one character, e.g. '1' or 'c'.")
        elif shortcut in RESERVED_SHORTCUTS or shortcut.isspace():
            errors.setdefault("shortcut", []).append(
                "'?' (help), 'n' (note), 'D' (definitions), Enter and the space bar are reserved by the labelling "
                "page; pick another key."
            )
        else:
            clash = next((s for s in siblings if s.shortcut == shortcut), None)
            if clash is not None:
                errors.setdefault("shortcut", []).append(
                    f"'{shortcut}' already picks '{clash.code}' in this dimension; pick another key."
                )

    parent = category.parent
    if parent is not None:
        if parent.dimension_id != dimension.pk:
            errors.setdefault("parent", []).append("The parent must be a category of the same dimension.")
        elif category.pk and parent.pk == category.pk:
            errors.setdefault("parent", []).append("A category cannot be its own parent.")
        elif parent.parent_id is not None:
            errors.setdefault("parent", []).append(
                f"'{parent.code}' is itself a sub-category; only one level of nesting is allowed. "
                "Pick a top-level category as the parent."
            )
        elif category.pk and any(s.parent_id == category.pk for s in siblings):
            errors.setdefault("parent", []).append(
                f"'{category.code}' has sub-categories, so it cannot become a sub-category itself. "
                "Move its sub-categories first."
            )
        elif dimension.kind == Dimension.Kind.ORDINAL:
            errors.setdefault("parent", []).append("An ordinal scale is flat: its categories have no parent.")
    if dimension.kind == Dimension.Kind.ORDINAL and any(s.order == category.order for s in siblings):
        taken = ", ".join(str(s.order) for s in sorted(siblings, key=lambda s: s.order))
        errors.setdefault("order", []).append(
            f"On an ordinal scale each category has its own position; {category.order} is taken (taken: {taken})."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def category_create(
    *,
    dimension: Dimension,
    code: str,
    name: str,
    definition: str = "",
    example: str = "",
    parent: Category | None = None,
    order: int | None = None,
    shortcut: str = "",
    by=None,
) -> Category:
    if order is None:
        order = (dimension.categories.aggregate(m=Max("order"))["m"] or 0) + 1
    category = Category(
        dimension=dimension,
        code=(code or "").strip(),
        name=(name or "").strip(),
        definition=definition or "",
        example=example or "",
        parent=parent,
        order=order,
        shortcut=shortcut or "",
    )
    _check_category(category, dimension=dimension)
    category.full_clean()
    category.save()
    _codebook_changed(
        dimension.codebook_id,
        kind=Kind.CATEGORY_ADDED,
        summary=f"Category '{category.code}' ({category.name}) added to '{dimension.code}'"
        + (f" under '{parent.code}'." if parent is not None else "."),
        details={
            "dimension": dimension.code,
            "category": category.code,
            "name": category.name,
            "parent": parent.code if parent is not None else None,
        },
        by=by,
    )
    return category


@transaction.atomic
def category_update(*, category: Category, data: dict, by=None) -> Category:
    """Change the fields in ``data`` (a subset of code, name, definition, example, parent, order,
    shortcut). A code in use by labels cannot change."""
    unknown = set(data) - CATEGORY_FIELDS
    if unknown:
        raise ValueError(f"category_update got unknown fields: {sorted(unknown)}")
    category = Category.objects.select_for_update().select_related("dimension").get(pk=category.pk)
    old = Category(dimension_id=category.dimension_id, code=category.code)
    before = {f: category.parent if f == "parent" else getattr(category, f) for f in CATEGORY_FIELDS}
    changed = []
    for field, value in data.items():
        if field in {"code", "name"} and isinstance(value, str):
            value = value.strip()
        if field in {"definition", "example", "shortcut"} and value is None:
            value = ""
        current = category.parent if field == "parent" else getattr(category, field)
        if current != value:
            setattr(category, field, value)
            changed.append(field)
    if not changed:
        return category
    if "code" in changed:
        annotations, finals = category_usage(category=old)
        if annotations or finals:
            raise ApplicationError(
                f"{count(annotations, 'annotation')} and {count(finals, 'final label')} use code '{old.code}', "
                "so it changes only by a rename, which rewrites those labels and records the change in the "
                "codebook's history: use Rename (POST .../codebook/categories/ID/rename/).",
                details={"code": ["The code of a category in use cannot change."]},
            )
        if kept := category_history_usage(category=old):
            raise ApplicationError(
                f"Code '{old.code}' is held by {count(kept, 'label')} kept from earlier passes of calibration "
                "rounds, so it changes only by a rename, which rewrites them too: use Rename "
                "(POST .../codebook/categories/ID/rename/).",
                details={"code": ["The code of a category in use cannot change."]},
            )
    _check_category(category, dimension=category.dimension)
    category.full_clean()
    category.save(update_fields=changed)
    _codebook_changed(
        category.dimension.codebook_id,
        kind=Kind.CATEGORY_MOVED if changed == ["parent"] else Kind.CATEGORY_CHANGED,
        summary=f"Category '{category.code}' of '{category.dimension.code}' changed: {', '.join(changed)}.",
        details={
            "dimension": category.dimension.code,
            "category": category.code,
            "changes": {f: [_jsonable(before[f]), _jsonable(getattr(category, f))] for f in changed},
        },
        by=by,
    )
    return category


@transaction.atomic
def category_delete(*, category: Category, by=None) -> None:
    children = category.children.count()
    if children:
        raise ApplicationError(
            f"'{category.code}' has {children} sub-categories. Delete them or move them to another parent first.",
            status=409,
        )
    annotations, finals = category_usage(category=category)
    if annotations:
        raise ApplicationError(
            f"{count(annotations, 'annotation uses', 'annotations use')} '{category.code}'; merge it first.",
            status=409,
            details={"annotations": annotations, "final_labels": finals},
        )
    if finals:
        raise ApplicationError(
            f"{finals} final labels use '{category.code}'; merge it first.",
            status=409,
            details={"annotations": annotations, "final_labels": finals},
        )
    if kept := category_history_usage(category=category):
        raise ApplicationError(
            f"'{category.code}' is held by {count(kept, 'label')} kept from earlier passes of calibration "
            "rounds (agreement on those passes counts them); merge it into another category first, or retire it.",
            status=409,
            details={"annotations": 0, "final_labels": 0, "round_history_labels": kept},
        )
    codebook_id, dimension_code = category.dimension.codebook_id, category.dimension.code
    snapshot = {"code": category.code, "name": category.name, "definition": category.definition}
    category.delete()
    _codebook_changed(
        codebook_id,
        kind=Kind.CATEGORY_DELETED,
        summary=f"Category '{snapshot['code']}' of '{dimension_code}' deleted (no label used it).",
        details={"dimension": dimension_code, "category": snapshot},
        by=by,
    )


# --------------------------------------------------------------------------- templates


def codebook_fill_from_template(*, codebook: Codebook, template: dict, by=None) -> tuple[int, int]:
    """Copy a template's dimensions and categories into an empty codebook (bulk, three inserts).

    Called inside ``study_create``'s transaction; returns (dimensions, categories) created.
    """
    from labelling.codebook_templates import template_problems

    problems = template_problems(template)
    if problems:
        raise ApplicationError(
            f"Codebook template '{template.get('slug')}' cannot be copied: {problems[0]}",
            details=problems,
        )
    dims_spec = template.get("dimensions", [])
    now = timezone.now()
    dimensions = [
        Dimension(
            codebook=codebook,
            code=d["code"],
            name=d.get("name") or d["code"],
            kind=d.get("kind", Dimension.Kind.SINGLE),
            description=d.get("description") or "",
            required=bool(d.get("required", True)),
            max_choices=d.get("max_choices") if d.get("kind") == Dimension.Kind.MULTI else None,
            order=i + 1,
            decision_rule=d.get("decision_rule") or Dimension.Rule.UNANIMOUS,
            majority_threshold=threshold_parse(d.get("majority_threshold") or decision_rules.DEFAULT_THRESHOLD),
        )
        for i, d in enumerate(dims_spec)
    ]
    dimensions = Dimension.objects.bulk_create(dimensions)

    def _category(dim: Dimension, spec: dict, order: int, parent: Category | None = None) -> Category:
        return Category(
            dimension=dim,
            code=spec["code"],
            name=spec.get("name") or spec["code"],
            definition=spec.get("definition") or "",
            example=spec.get("example") or "",
            shortcut=spec.get("shortcut") or "",
            order=order,
            parent=parent,
            retired_at=now if spec.get("retired") else None,
        )

    # Orders follow the tree depth-first (parent, its children, next parent...), so a flat
    # list ordered by ``order`` reads like the tree.
    tops: list[Category] = []
    children_specs: list[tuple[int, Dimension, list[tuple[int, dict]]]] = []
    for dim, spec in zip(dimensions, dims_spec, strict=True):
        position = 0
        for cat_spec in spec.get("categories") or []:
            position += 1
            tops.append(_category(dim, cat_spec, position))
            kids = []
            for child in cat_spec.get("children") or []:
                position += 1
                kids.append((position, child))
            children_specs.append((len(tops) - 1, dim, kids))
    tops = Category.objects.bulk_create(tops)
    children = [
        _category(dim, child, position, parent=tops[index])
        for index, dim, kids in children_specs
        for position, child in kids
    ]
    Category.objects.bulk_create(children)
    where = f"template '{template['slug']}'" if template.get("slug") else "an uploaded codebook"
    _codebook_changed(
        codebook.pk,
        kind=Kind.CREATED,
        summary=f"Codebook created from {where}: {len(dimensions)} dimensions, {len(tops) + len(children)} categories.",
        details={"template": template.get("slug") or None, "dimensions": [d.code for d in dimensions]},
        by=by,
    )
    return len(dimensions), len(tops) + len(children)
