"""Changing a codebook that already has labels: rename, merge, split, move, retire and restore.

Every operation is one transaction that locks the study first (``codebook_events.codebook_lock``,
so two changes of one codebook, or a change and a label import, run one after the other; label
saves and adjudications hold a share lock on the same row, so none of them is half-way through
while the codebook changes), then the items whose labels it rewrites (``items_lock``), rewrites
the stored canonical values (``labelling.values``: a code, or sorted codes joined by ';') of the
annotations, final labels, adjudication history and the kept labels of calibration rounds' earlier
passes (``AnnotationSnapshot``; ``round_reopen`` takes the same share lock, so no pass is copied
half-way through a change), bumps the codebook version and records a
``CodebookEvent`` with what it did and how many rows it touched.

* rename: a category's or a dimension's code and name; stored values and exports use the new code.
* merge A into B: every label holding A holds B instead (multiple-choice values de-duplicated),
  A is deleted, and the decision rule runs again on the touched items, so items whose annotators
  now agree get their automatic final label.
* split A into A1, A2, ...: A is retired (kept on the labels that hold it, and on the kept labels
  of earlier round passes: their history, counted as A by agreement), the new categories
  are added beside it, every annotation holding A is flagged ``needs_recode``: its annotator finds
  the item back at the head of their queue and picks between the new categories. Automatic final
  labels holding A are removed until then; adjudicated and imported ones are kept and counted.
* move: a category under another parent (or to the top level).
* retire / restore: a retired category is not offered for new labels; labels that hold it keep it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from labelling.models import (
    Annotation,
    AnnotationSnapshot,
    Category,
    CodebookEvent,
    Dimension,
    FinalLabel,
    FinalLabelDecision,
)
from labelling.services.codebook_events import codebook_changed, codebook_lock
from labelling.services.codebooks import category_update, code_is_valid
from labelling.services.final_labels import final_labels_recompute, items_lock
from labelling.services.results import study_results_changed
from labelling.values import SEPARATOR, decision_codes, value_codes, value_holds_code_q

Kind = CodebookEvent.Kind
BATCH = 500
MAX_NAME = 200


def recode_value(value: str, mapping: dict[str, str], *, multi: bool) -> str:
    """``value`` with each code in ``mapping`` replaced by its target (multiple choice: the codes
    de-duplicated and sorted again, as ``canonical_value`` stores them)."""
    if not value:
        return value
    if not multi:
        return mapping.get(value, value)
    return SEPARATOR.join(sorted({mapping.get(c, c) for c in value_codes(value)}))


def _holding_q(codes: Iterable[str]) -> Q:
    q = Q(pk__in=[])
    for code in codes:
        q |= value_holds_code_q(code)
    return q


def _affected_item_ids(dimension: Dimension, codes: list[str]) -> set[int]:
    q = _holding_q(codes)
    ids = set(Annotation.objects.filter(dimension=dimension).filter(q).values_list("item_id", flat=True))
    ids |= set(FinalLabel.objects.filter(dimension=dimension).filter(q).values_list("item_id", flat=True))
    for item_id, value, replaced, chosen in FinalLabelDecision.objects.filter(dimension=dimension).values_list(
        "item_id", "value", "replaced_value", "chosen_from"
    ):
        if decision_codes(value, replaced, chosen) & set(codes):
            ids.add(item_id)
    return ids


class Rewritten(NamedTuple):
    annotations: int = 0
    final_labels: int = 0
    decisions: int = 0
    snapshots: int = 0  # kept labels of earlier round passes
    items: frozenset[int] = frozenset()  # of the annotations, final labels and decisions rewritten


def _rewrite(dimension: Dimension, mapping: dict[str, str]) -> Rewritten:
    """Rewrite the stored values of ``dimension`` by ``mapping``: annotations, final labels,
    decisions and round snapshots; returns the counts and the ids of the items whose live labels
    changed (a snapshot is history: its item needs no new final label). The caller holds the locks."""
    multi = dimension.kind == Dimension.Kind.MULTI
    q = _holding_q(mapping)
    items: set[int] = set()

    def recoded(model, touched: set[int]) -> int:
        # Rows grouped by their new value: one UPDATE per distinct value (a few), not one per row.
        by_new: dict[str, list[int]] = {}
        for pk, item_id, value in (
            model.objects.filter(dimension=dimension).filter(q).values_list("id", "item_id", "value")
        ):
            new = recode_value(value, mapping, multi=multi)
            if new != value:
                by_new.setdefault(new, []).append(pk)
                touched.add(item_id)
        for new, ids in by_new.items():
            for start in range(0, len(ids), 5000):
                model.objects.filter(id__in=ids[start : start + 5000]).update(value=new)
        return sum(len(ids) for ids in by_new.values())

    annotations = recoded(Annotation, items)
    finals = recoded(FinalLabel, items)
    snapshots = recoded(AnnotationSnapshot, set())

    decisions = []
    for d in FinalLabelDecision.objects.filter(dimension=dimension).only(
        "id", "item_id", "value", "replaced_value", "chosen_from"
    ):
        value = recode_value(d.value, mapping, multi=multi)
        replaced = recode_value(d.replaced_value, mapping, multi=multi)
        chosen = list(dict.fromkeys(recode_value(str(v), mapping, multi=multi) for v in d.chosen_from or []))
        if (value, replaced, chosen) != (d.value, d.replaced_value, d.chosen_from):
            d.value, d.replaced_value, d.chosen_from = value, replaced, chosen
            decisions.append(d)
            items.add(d.item_id)
    FinalLabelDecision.objects.bulk_update(decisions, ["value", "replaced_value", "chosen_from"], batch_size=BATCH)
    return Rewritten(annotations, finals, len(decisions), snapshots, frozenset(items))


def _lock(dimension: Dimension, codes: list[str]):
    """Lock the study, then the items holding ``codes``; returns the locked study."""
    study = codebook_lock(study_id=dimension.codebook.study_id)
    items_lock(item_ids=_affected_item_ids(dimension, codes))
    return study


def _fresh_category(category: Category) -> Category:
    return Category.objects.select_related("dimension__codebook", "parent").get(pk=category.pk)


def _snapshot(category: Category) -> dict:
    return {
        "code": category.code,
        "name": category.name,
        "definition": category.definition,
        "example": category.example,
        "shortcut": category.shortcut,
        "parent": category.parent.code if category.parent_id else None,
        "retired": category.retired,
    }


def _check_code(field: str, code: str, taken: Iterable[str], what: str) -> list[str]:
    if not code_is_valid(code):
        return [
            f"'{code}' is not a valid {field}. Use lower-case letters, digits, '_' and '-' starting with a letter "
            "or digit (e.g. 'wrong_output'), at most 64 characters."
        ]
    if code in set(taken):
        return [f"{what} already has '{code}'. Choose another code."]
    return []


def _check_name(name: str) -> list[str]:
    if not name:
        return ["Give a name."]
    if len(name) > MAX_NAME:
        return [f"A name has at most {MAX_NAME} characters."]
    return []


# --------------------------------------------------------------------------- rename


@transaction.atomic
def category_rename(*, category: Category, code: str | None = None, name: str | None = None, by=None) -> CodebookEvent:
    """Give ``category`` a new code and/or name; every stored value holding the old code holds the new one."""
    category = _fresh_category(category)
    dimension = category.dimension
    new_code = category.code if code is None else str(code).strip()
    new_name = category.name if name is None else str(name).strip()
    errors: dict[str, list[str]] = {}
    if new_code != category.code:
        siblings = Category.objects.filter(dimension=dimension).exclude(pk=category.pk).values_list("code", flat=True)
        if problems := _check_code("code", new_code, siblings, f"Dimension '{dimension.code}'"):
            errors["code"] = problems
    if problems := _check_name(new_name):
        errors["name"] = problems
    if not errors and (new_code, new_name) == (category.code, category.name):
        errors["code"] = ["Nothing to rename: give a new code or a new name."]
    if errors:
        raise ValidationError(errors)

    old = {"code": category.code, "name": category.name}
    _lock(dimension, [category.code])
    touched = Rewritten()
    if new_code != category.code:
        touched = _rewrite(dimension, {category.code: new_code})
    category.code, category.name = new_code, new_name
    category.save(update_fields=["code", "name"])
    return codebook_changed(
        study_id=dimension.codebook.study_id,
        kind=Kind.CATEGORY_RENAMED,
        summary=f"Category '{old['code']}' ({old['name']}) of '{dimension.code}' renamed to '{new_code}' ({new_name}).",
        details={
            "dimension": dimension.code,
            "from": old,
            "to": {"code": new_code, "name": new_name},
            "snapshots_rewritten": touched.snapshots,
        },
        by=by,
        annotations=touched.annotations,
        final_labels=touched.final_labels,
        decisions=touched.decisions,
    )


@transaction.atomic
def dimension_rename(
    *, dimension: Dimension, code: str | None = None, name: str | None = None, by=None
) -> CodebookEvent:
    """Give ``dimension`` a new code and/or name. Labels point at the dimension, not at its code, so
    none is rewritten; exports and the API name it by the new code from now on."""
    dimension = Dimension.objects.select_related("codebook").get(pk=dimension.pk)
    new_code = dimension.code if code is None else str(code).strip()
    new_name = dimension.name if name is None else str(name).strip()
    errors: dict[str, list[str]] = {}
    if new_code != dimension.code:
        others = Dimension.objects.filter(codebook_id=dimension.codebook_id).exclude(pk=dimension.pk)
        if problems := _check_code("code", new_code, others.values_list("code", flat=True), "The codebook"):
            errors["code"] = problems
    if problems := _check_name(new_name):
        errors["name"] = problems
    if not errors and (new_code, new_name) == (dimension.code, dimension.name):
        errors["code"] = ["Nothing to rename: give a new code or a new name."]
    if errors:
        raise ValidationError(errors)
    codebook_lock(study_id=dimension.codebook.study_id)
    old = {"code": dimension.code, "name": dimension.name}
    labelled = Annotation.objects.filter(dimension=dimension).count()
    finals = FinalLabel.objects.filter(dimension=dimension).count()
    dimension.code, dimension.name = new_code, new_name
    dimension.save(update_fields=["code", "name"])
    return codebook_changed(
        study_id=dimension.codebook.study_id,
        kind=Kind.DIMENSION_RENAMED,
        summary=f"Dimension '{old['code']}' ({old['name']}) renamed to '{new_code}' ({new_name}).",
        details={"from": old, "to": {"code": new_code, "name": new_name}, "labels_now_named_by_new_code": labelled},
        by=by,
        annotations=labelled if new_code != old["code"] else 0,
        final_labels=finals if new_code != old["code"] else 0,
    )


# --------------------------------------------------------------------------- merge


def _merge_problem(source: Category, target: Category) -> str | None:
    if source.pk == target.pk:
        return "Pick two different categories: a category cannot be merged into itself."
    if source.dimension_id != target.dimension_id:
        return (
            f"'{source.code}' and '{target.code}' belong to different dimensions; only categories of one "
            "dimension can be merged."
        )
    if target.parent_id == source.pk:
        return (
            f"'{target.code}' is a sub-category of '{source.code}'. Merge the other way round "
            f"('{target.code}' into '{source.code}'), or move '{target.code}' to the top level first."
        )
    if target.parent_id is not None and source.children.exists():
        return (
            f"'{source.code}' has sub-categories and '{target.code}' is itself a sub-category, so they would "
            "nest two levels deep. Move the sub-categories first, or merge into a top-level category."
        )
    return None


@transaction.atomic
def categories_merge(*, source: Category, target: Category, by=None) -> CodebookEvent:
    """Merge ``source`` (A) into ``target`` (B): A's labels become B, A's sub-categories move under B,
    A is deleted; then the decision rule runs on the touched items (new agreements get final labels)."""
    source, target = _fresh_category(source), _fresh_category(target)
    problem = _merge_problem(source, target)
    if problem:
        raise ValidationError({"target": [problem]})
    dimension = source.dimension
    study = _lock(dimension, [source.code])
    snapshot = _snapshot(source)
    touched = _rewrite(dimension, {source.code: target.code})
    items = touched.items
    children = list(source.children.values_list("code", flat=True))
    source.children.update(parent=target)
    if source.retired is False and target.retired:
        target.retired_at = None  # B takes A's place: it is offered again
        target.save(update_fields=["retired_at"])
    source.delete()
    refresh = final_labels_recompute(
        study=study, item_ids=items, dimensions=[dimension], only={(i, dimension.pk) for i in items}
    )
    row = refresh.per_dimension.get(dimension.pk, {})
    event = codebook_changed(
        study_id=study.pk,
        kind=Kind.CATEGORIES_MERGED,
        summary=(
            f"Category '{snapshot['code']}' ({snapshot['name']}) of '{dimension.code}' merged into "
            f"'{target.code}' ({target.name}): its labels are '{target.code}' now."
        ),
        details={
            "dimension": dimension.code,
            "source": snapshot,
            "target": target.code,
            "children_moved": children,
            "items": sorted(items)[:1000],
            "final_labels_created": row.get("created", 0),
            "final_labels_changed": row.get("changed", 0),
            "final_labels_removed": row.get("removed", 0),
            "snapshots_rewritten": touched.snapshots,
        },
        by=by,
        annotations=touched.annotations,
        final_labels=touched.final_labels + row.get("created", 0) + row.get("changed", 0) + row.get("removed", 0),
        decisions=touched.decisions,
    )
    return event


# --------------------------------------------------------------------------- split


def split_targets(category: Category, into) -> tuple[list[dict], dict[str, list[str]]]:
    """Validate ``into``: each a dict with ``code`` (an existing category of the dimension, or a new
    one with ``name`` and optionally ``definition`` and ``example``)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(into, (list, tuple)) or len(into) < 2:
        return [], {"into": ["Split into at least two categories, e.g. [{'code': 'a1', 'name': 'A1'}, ...]."]}
    existing = {c.code: c for c in Category.objects.filter(dimension_id=category.dimension_id)}
    targets, seen = [], set()
    for n, spec in enumerate(into, start=1):
        where = f"into[{n}]"
        if not isinstance(spec, dict):
            errors[where] = ["Give an object with 'code' and, for a new category, 'name'."]
            continue
        code = str(spec.get("code") or "").strip()
        if code == category.code:
            errors[where] = [f"'{code}' is the category being split; name the categories it becomes."]
            continue
        if code in seen:
            errors[where] = [f"'{code}' is named twice."]
            continue
        seen.add(code)
        if code in existing:
            if existing[code].pk == category.parent_id:
                errors[where] = [f"'{code}' is the parent of '{category.code}'; split into other categories."]
                continue
            targets.append({"code": code, "existing": existing[code]})
            continue
        problems = _check_code("code", code, [], "")
        name = str(spec.get("name") or "").strip()
        problems += [f"name: {p}" for p in _check_name(name)]
        for field in ("definition", "example"):
            if spec.get(field) is not None and not isinstance(spec.get(field), str):
                problems.append(f"{field} must be text.")
        if problems:
            errors[where] = problems
            continue
        targets.append(
            {
                "code": code,
                "name": name,
                "definition": spec.get("definition") or "",
                "example": spec.get("example") or "",
            }
        )
    return targets, errors


@transaction.atomic
def category_split(*, category: Category, into, by=None) -> CodebookEvent:
    """Split ``category`` (A) into the categories of ``into`` (new ones are added beside A; existing
    ones of the dimension may be named too). A is retired; annotations holding it are flagged for
    their annotators to recode."""
    category = _fresh_category(category)
    dimension = category.dimension
    if dimension.kind == Dimension.Kind.TEXT:
        raise ValidationError({"category": ["Free-text dimensions have no categories to split."]})
    if category.children.exists():
        raise ValidationError(
            {
                "category": [
                    f"'{category.code}' has sub-categories; split a category without any. Its sub-categories "
                    "already divide it: merge or move them instead."
                ]
            }
        )
    if category.retired:
        raise ValidationError({"category": [f"'{category.code}' is retired; restore it before splitting it."]})
    targets, errors = split_targets(category, into)
    if errors:
        raise ValidationError(errors)

    study = _lock(dimension, [category.code])
    snapshot = _snapshot(category)
    order = (Category.objects.filter(dimension=dimension).aggregate(m=Max("order"))["m"] or 0) + 1
    made = []
    for target in targets:
        if "existing" in target:
            continue
        new = Category(
            dimension=dimension,
            code=target["code"],
            name=target["name"],
            definition=target["definition"],
            example=target["example"],
            parent=category.parent,
            order=order if dimension.kind == Dimension.Kind.ORDINAL else category.order,
        )
        order += 1
        new.full_clean()
        new.save()
        made.append(new.code)
    category.retired_at = timezone.now()
    category.save(update_fields=["retired_at"])

    flagged = Annotation.objects.filter(dimension=dimension).filter(value_holds_code_q(category.code))
    flagged_items = set(flagged.values_list("item_id", flat=True))
    kept_finals = (
        FinalLabel.objects.filter(
            dimension=dimension, method__in=[FinalLabel.Method.ADJUDICATED, FinalLabel.Method.IMPORTED]
        )
        .filter(value_holds_code_q(category.code))
        .count()
    )
    # History is history: an earlier pass's kept labels keep A (retired, so still a category).
    snapshots_kept = (
        AnnotationSnapshot.objects.filter(dimension=dimension).filter(value_holds_code_q(category.code)).count()
    )
    codes = [t["code"] for t in targets]
    event = codebook_changed(
        study_id=study.pk,
        kind=Kind.CATEGORY_SPLIT,
        summary=f"Category '{category.code}' ({category.name}) of '{dimension.code}' split into "
        f"{', '.join(repr(c) for c in codes)}.",
        details={
            "dimension": dimension.code,
            "source": snapshot,
            "into": codes,
            "created": made,
            "items": sorted(flagged_items)[:1000],
            "final_labels_kept": kept_finals,
            "snapshots_kept": snapshots_kept,
        },
        by=by,
        results_changed_here=False,  # below, once the flagged labels' final labels are recomputed
    )
    n_flagged = flagged.update(needs_recode=True, recode_event=event)
    refresh = final_labels_recompute(
        study=study, item_ids=flagged_items, dimensions=[dimension], only={(i, dimension.pk) for i in flagged_items}
    )
    removed = refresh.per_dimension.get(dimension.pk, {}).get("removed", 0)
    event.annotations_touched = n_flagged
    event.final_labels_touched = removed
    event.details["final_labels_removed"] = removed
    event.summary = (f"{event.summary[:-1]}: the labels that held it are flagged for their annotators to recode.")[:500]
    event.save(update_fields=["annotations_touched", "final_labels_touched", "details", "summary"])
    study_results_changed(study_ids=[study.pk])  # last: final labels removed, labels flagged
    return event


# --------------------------------------------------------------------------- move, retire, restore


@transaction.atomic
def category_move(*, category: Category, parent: Category | None, by=None) -> CodebookEvent:
    """Put ``category`` under ``parent`` (None: the top level). Labels are unchanged."""
    category = _fresh_category(category)
    if parent is not None and parent.dimension_id != category.dimension_id:
        raise ValidationError({"parent": ["The parent must be a category of the same dimension."]})
    if (parent.pk if parent else None) == category.parent_id:
        raise ValidationError({"parent": ["The category is already there: pick another parent."]})
    codebook_lock(study_id=category.dimension.codebook.study_id)
    category_update(category=category, data={"parent": parent}, by=by)
    return CodebookEvent.objects.filter(study_id=category.dimension.codebook.study_id).order_by("-version").first()


def _retire(category: Category, *, retired: bool, by) -> CodebookEvent:
    category = _fresh_category(category)
    if category.retired == retired:
        state = "already retired" if retired else "not retired"
        raise ValidationError({"category": [f"'{category.code}' is {state}."]})
    dimension = category.dimension
    codebook_lock(study_id=dimension.codebook.study_id)
    now = timezone.now() if retired else None
    family = [category, *category.children.all()] if retired else [category]
    family = [c for c in family if c.retired != retired]
    for c in family:
        c.retired_at = now
    Category.objects.bulk_update(family, ["retired_at"])
    annotations, finals = (
        Annotation.objects.filter(dimension=dimension).filter(value_holds_code_q(category.code)).count(),
        FinalLabel.objects.filter(dimension=dimension).filter(value_holds_code_q(category.code)).count(),
    )
    codes = [c.code for c in family]
    if retired:
        summary = (
            f"Category '{category.code}' ({category.name}) of '{dimension.code}' retired"
            + (f" with its sub-categories {', '.join(codes[1:])}" if len(codes) > 1 else "")
            + ": no longer offered for new labels; the labels that hold it keep it."
        )
    else:
        summary = f"Category '{category.code}' ({category.name}) of '{dimension.code}' restored: offered again."
    return codebook_changed(
        study_id=dimension.codebook.study_id,
        kind=Kind.CATEGORY_RETIRED if retired else Kind.CATEGORY_RESTORED,
        summary=summary,
        details={"dimension": dimension.code, "categories": codes, "labels_holding_it": annotations + finals},
        by=by,
    )


@transaction.atomic
def category_retire(*, category: Category, by=None) -> CodebookEvent:
    """Stop offering ``category`` (and its sub-categories) for new labels; stored labels keep it."""
    return _retire(category, retired=True, by=by)


@transaction.atomic
def category_restore(*, category: Category, by=None) -> CodebookEvent:
    """Offer a retired category again."""
    return _retire(category, retired=False, by=by)
