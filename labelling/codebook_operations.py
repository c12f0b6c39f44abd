"""The codebook operations as the page and the API offer them: read the input (codes, names, a list
of new categories), say what the operation would touch (the confirm step), then run the one service
(``labelling.services.codebook_evolution``). Input handling only; the services validate again and
write.

Each operation takes a dict of plain values, as a JSON body or a form gives them:

* ``rename`` (category or dimension): ``code`` and/or ``name``;
* ``merge`` (category): ``target``, the code of the category of the same dimension it merges into;
* ``split`` (category): ``into``, a list of ``{code, name, definition, example}`` (two or more; a
  code of an existing category of the dimension names that one);
* ``move`` (category): ``parent``, a category code, or empty/null for the top level;
* ``retire``, ``restore`` (category): nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from labelling.models import Category, CodebookEvent, Dimension
from labelling.selectors.codebook import category_impact, dimension_impact
from labelling.services import codebook_evolution as evolution

CATEGORY_OPERATIONS = ("rename", "merge", "split", "move", "retire", "restore")
DIMENSION_OPERATIONS = ("rename",)


@dataclass
class Plan:
    """An operation read from its input: what it is, on what, with which arguments, and what it touches."""

    operation: str
    subject: Category | Dimension
    kwargs: dict
    impact: dict
    description: str

    def as_dict(self) -> dict:
        return {"operation": self.operation, "description": self.description, "impact": self.impact}


def _text(data: dict, field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({field: [f"'{field}' must be text."]})
    return value.strip()


def _sibling(category: Category, code, field: str) -> Category:
    if not isinstance(code, str) or not code.strip():
        raise ValidationError({field: [f"Give '{field}': the code of a category of '{category.dimension.code}'."]})
    found = Category.objects.filter(dimension_id=category.dimension_id, code=code.strip()).first()
    if found is None:
        codes = ", ".join(Category.objects.filter(dimension_id=category.dimension_id).values_list("code", flat=True))
        raise ValidationError(
            {field: [f"'{code.strip()}' is not a category of '{category.dimension.code}'. Use one of: {codes}."]}
        )
    return found


def split_lines(text: str) -> list[dict]:
    """The page's split form: one new category per line, ``code | name | definition``."""
    into = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        into.append({"code": parts[0], "name": parts[1] if len(parts) > 1 else "", "definition": " | ".join(parts[2:])})
    return into


def _describe(operation: str, subject, kwargs: dict, impact: dict) -> str:
    labels = (
        f"{impact['annotations']} annotation(s) by {impact['annotators']} annotator(s), "
        f"{impact['final_labels']} final label(s) and {impact['decisions']} adjudication(s) "
        f"on {impact['items']} item(s)"
        if "annotators" in impact
        else ""
    )
    history = (
        f" {impact['snapshots']} label(s) kept from earlier passes of calibration rounds"
        if impact.get("snapshots")
        else ""
    )
    if operation == "rename" and isinstance(subject, Dimension):
        return (
            f"Rename dimension '{subject.code}' to '{kwargs.get('code') or subject.code}' "
            f"({kwargs.get('name') or subject.name}). {impact['annotations']} annotation(s) and "
            f"{impact['final_labels']} final label(s) are then exported under the new code; none is rewritten."
        )
    if operation == "rename":
        rewrites = kwargs.get("code") not in (None, subject.code)
        return (
            f"Rename category '{subject.code}' to '{kwargs.get('code') or subject.code}' "
            f"({kwargs.get('name') or subject.name})."
            + (f" Rewrites {labels} to the new code." if rewrites else " Codes stay; no label is rewritten.")
            + (f"{history} are rewritten too." if rewrites and history else "")
        )
    if operation == "merge":
        target = kwargs["target"]
        return (
            f"Merge '{subject.code}' ({subject.name}) into '{target.code}' ({target.name}): rewrites {labels} to "
            f"'{target.code}', deletes '{subject.code}', and runs the decision rule again on those items "
            "(items whose annotators now agree get their final label)."
            + (f"{history} are rewritten too." if history else "")
        )
    if operation == "split":
        into = ", ".join(f"'{t.get('code')}'" for t in kwargs["into"] if isinstance(t, dict))
        return (
            f"Split '{subject.code}' ({subject.name}) into {into}: '{subject.code}' is retired, and {labels} are "
            f"flagged; their {impact['annotators']} annotator(s) find the items back in their queue to choose. "
            f"{impact['protected_final_labels']} adjudicated or imported final label(s) keep '{subject.code}'."
            + (f"{history} keep '{subject.code}' (their history)." if history else "")
        )
    if operation == "move":
        parent = kwargs["parent"]
        where = f"under '{parent.code}'" if parent else "to the top level"
        return f"Move '{subject.code}' ({subject.name}) {where}. No label changes."
    if operation == "retire":
        return (
            f"Retire '{subject.code}' ({subject.name}) and its sub-categories: not offered for new labels; "
            f"{labels} keep it."
        )
    return f"Restore '{subject.code}' ({subject.name}): offered for new labels again."


def plan(operation: str, subject: Category | Dimension, data: dict) -> Plan:
    """Read ``data`` for ``operation`` on ``subject``; ValidationError naming the field otherwise."""
    if not isinstance(data, dict):
        raise ValidationError({"": ["Send a JSON object with the operation's fields."]})
    if isinstance(subject, Dimension):
        if operation not in DIMENSION_OPERATIONS:
            raise ValidationError({"operation": [f"Dimensions can be: {', '.join(DIMENSION_OPERATIONS)}."]})
        kwargs = {"code": _text(data, "code") or None, "name": _text(data, "name") or None}
        impact = dimension_impact(dimension=subject)
    else:
        if operation not in CATEGORY_OPERATIONS:
            raise ValidationError({"operation": [f"Categories can be: {', '.join(CATEGORY_OPERATIONS)}."]})
        if operation == "rename":
            kwargs = {"code": _text(data, "code") or None, "name": _text(data, "name") or None}
        elif operation == "merge":
            kwargs = {"target": _sibling(subject, data.get("target"), "target")}
        elif operation == "split":
            into = data.get("into")
            if isinstance(into, str):
                into = split_lines(into)
            _targets, errors = evolution.split_targets(subject, into)
            if errors:
                raise ValidationError(errors)
            kwargs = {"into": into}
        elif operation == "move":
            parent = data.get("parent")
            kwargs = {"parent": _sibling(subject, parent, "parent") if parent not in (None, "") else None}
        else:
            kwargs = {}
        impact = category_impact(category=subject)
    return Plan(operation, subject, kwargs, impact, _describe(operation, subject, kwargs, impact))


class _Rehearsal(Exception):
    def __init__(self, event: CodebookEvent):
        self.event = event


def rehearse(p: Plan, *, by) -> dict:
    """Run the operation and roll it back (the confirm step): the validation errors it would raise
    and the history entry it would record, counts included, with nothing written."""
    from labelling.selectors.codebook import event_as_dict

    try:
        with transaction.atomic():
            raise _Rehearsal(apply(p, by=by))
    except _Rehearsal as rehearsal:
        event = rehearsal.event
    return event_as_dict(event, with_counts=True)


def apply(p: Plan, *, by) -> CodebookEvent:
    """Run the planned operation (one transaction, see ``codebook_evolution``)."""
    if isinstance(p.subject, Dimension):
        return evolution.dimension_rename(dimension=p.subject, by=by, **p.kwargs)
    service = {
        "rename": evolution.category_rename,
        "merge": lambda category, by, target: evolution.categories_merge(source=category, target=target, by=by),
        "split": evolution.category_split,
        "move": evolution.category_move,
        "retire": evolution.category_retire,
        "restore": evolution.category_restore,
    }[p.operation]
    return service(category=p.subject, by=by, **p.kwargs)
