"""The annotator's labelling page: one report on the left, the codebook form on the right.

Keyboard-driven by static/js/labelling.js; the form posts to the same URL, and a good save
redirects to the next open item (POST-redirect-GET). Errors re-render the form with the
entered values kept and the message next to the dimension.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_safe

from config.errors import ApplicationError
from labelling.models import Dimension
from labelling.permissions import can_annotate, own_assignment_for, role_in, study_for
from labelling.selectors.adjudication import adjudicated_outcomes_for
from labelling.selectors.labelling import (
    assignment_for,
    category_names,
    codebook_for_labelling,
    next_item_id_for,
    own_labels_for,
    previous_item_for,
    progress_for,
    recode_flags_for,
)
from labelling.services.annotations import clamp_time_spent, item_labels_save
from labelling.values import value_codes
from triage.links import web_url
from triage.reproduction.selectors import label_suggestions_for


def _progress_context(study, user) -> dict:
    done, total = progress_for(study=study, annotator=user)
    # No assignments is not "all done": the bar stays empty and the page says there is nothing yet.
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


@login_required
@require_safe
def label_next(request, slug):
    """Send the annotator to their next open item, or say that they are done."""
    study = study_for(request.user, slug, check=can_annotate)
    item_id = next_item_id_for(study=study, annotator=request.user)
    if item_id is not None:
        return redirect("labelling:label-item", slug=study.slug, item_id=item_id)
    previous = previous_item_for(study=study, annotator=request.user, before_item=None)
    context = {
        "study": study,
        "previous_url": reverse("labelling:label-item", args=[study.slug, previous.id]) if previous else "",
        "role": role_in(request.user, study),
        **_progress_context(study, request.user),
    }
    return render(request, "labelling/label_done.html", context)


def _category_entries(entries, picked: set) -> list[dict]:
    """The dimension's categories in display order, each with its parent's key and its children's keys.

    A sub-category is picked by its own key alone; the parent's row lists those keys next to its own,
    so the keys of a family read together wherever the codebook set them.
    """
    children_keys: dict[int, list[str]] = {}
    key_of = {c.id: c.shortcut for c, _depth in entries}
    for c, _depth in entries:
        if c.parent_id is not None and c.shortcut:
            children_keys.setdefault(c.parent_id, []).append(c.shortcut)
    return [
        {
            "category": c,
            "depth": depth,
            "checked": c.code in picked,
            "child_keys": children_keys.get(c.id, []),
            "parent_key": key_of.get(c.parent_id, "") if c.parent_id is not None else "",
        }
        for c, depth in entries
        if not c.retired or c.code in picked  # retired: shown only on the labels that still hold it
    ]


def _form_input(post) -> tuple[dict, dict]:
    """(values, notes) keyed by dimension code, as the form posted them: ``value-<code>`` (repeated
    for multiple choice) and ``note-<code>``. The service decides what is valid."""
    values, notes = {}, {}
    for key in post:
        if key.startswith("value-"):
            picked = [v for v in post.getlist(key) if v.strip()]
            values[key[6:]] = picked if len(picked) > 1 else (picked[0] if picked else "")
        elif key.startswith("note-"):
            notes[key[5:]] = post.get(key, "")
    return values, notes


def _saved_input(item, user, codebook) -> tuple[dict, dict]:
    """(values, notes) keyed by dimension code: the annotator's own saved labels of the item."""
    saved = own_labels_for(item=item, annotator=user)
    values, notes = {}, {}
    for entry in codebook:
        if entry.dimension.id in saved:
            values[entry.dimension.code], notes[entry.dimension.code] = saved[entry.dimension.id]
    return values, notes


# Where " checked" goes in a cached category list: NUL cannot be in anything the list shows (PostgreSQL
# text cannot hold it, and every form and API input with a NUL is refused), so it cannot be forged.
_CHECKED = "\x00checked\x00"
FRAGMENT_CACHE_SECONDS = 3600


def _input_type(dimension) -> str:
    return {Dimension.Kind.MULTI: "checkbox", Dimension.Kind.TEXT: "text"}.get(dimension.kind, "radio")


def _category_fragments(study, codebook) -> dict[int, list[str]]:
    """{dimension id: its category list's HTML, split where each category's " checked" goes}.

    The list is the same for every item and annotator, so it is rendered once per codebook
    version and language and kept in Django's cache (``CACHES``; the default is a cache per
    process, ``CACHE_URL`` makes it shared) under (study id, ``codebook_version``, language):
    a codebook change bumps the version, so a stale copy is never asked for again.
    """
    key = f"labelling:categories-html:{study.pk}:{study.codebook_version}:{get_language() or ''}"
    fragments = cache.get(key)
    if fragments is None:
        fragments = {}
        for entry in codebook:
            if entry.dimension.kind != Dimension.Kind.TEXT:
                html = _render_categories(entry.dimension, _category_entries(entry.entries, set()), marker=_CHECKED)
                fragments[entry.dimension.id] = html.split(_CHECKED)
        cache.set(key, fragments, FRAGMENT_CACHE_SECONDS)
    return fragments


def _render_categories(dimension, categories: list[dict], *, marker: str) -> str:
    context = {"d": dimension, "input_type": _input_type(dimension), "categories": categories, "marker": marker}
    return render_to_string("labelling/_label_categories.html", context)


def _categories_html(parts: list[str], categories: list[dict]) -> str | None:
    """The cached list with " checked" on the picked categories (``parts`` has one piece more than
    there are categories; anything else is not this codebook's list, and None is returned)."""
    if len(parts) != len(categories) + 1:
        return None
    pieces = [parts[0]]
    for entry, after in zip(categories, parts[1:], strict=True):
        pieces.append(" checked" if entry["checked"] else "")
        pieces.append(after)
    return mark_safe("".join(pieces))  # noqa: S308 - rendered by the template (escaped) and cached as is


def _dimension_rows(
    codebook, values: dict, notes: dict, errors: dict, fragments: dict | None = None, recode: dict | None = None
) -> list[dict]:
    recode = recode or {}
    rows = []
    for entry in codebook:
        dimension = entry.dimension
        raw = values.get(dimension.code, "")
        if dimension.kind == Dimension.Kind.TEXT:
            text, picked = raw if isinstance(raw, str) else "", set()
        else:
            text = ""
            picked = set(raw) if isinstance(raw, (list, tuple)) else set(value_codes(raw))
        categories = _category_entries(entry.entries, picked)
        html = ""
        if dimension.kind != Dimension.Kind.TEXT:
            html = _categories_html((fragments or {}).get(dimension.id, []), categories)
            if html is None:  # not cached (or not of this codebook): rendered with this item's picks
                html = _render_categories(dimension, categories, marker="")
        rows.append(
            {
                "dimension": dimension,
                "input_type": _input_type(dimension),
                "categories": categories,
                "categories_html": html,
                "text": text,
                "note": notes.get(dimension.code, ""),
                "errors": errors.get(dimension.code, []),
                "recode": recode.get(dimension.id),
            }
        )
    return rows


def _attach_suggestions(rows: list[dict], suggestions: list[dict]) -> list[dict]:
    """Give each dimension row the reproduction suggestions whose category is in the study's codebook.

    Shown with an Accept button only: nothing is preselected, the annotator decides and saves. Two or
    more categories suggested for one single-choice dimension are conflicting evidence: the row says so
    and lists them together, each with the runs behind it.
    """
    for row in rows:
        code = row["dimension"].code
        categories = {entry["category"].code: entry["category"] for entry in row["categories"]}
        row["suggestions"] = [
            {"category": categories[s["category_code"]], "reason": s["reason"], "runs": s.get("runs", [])}
            for s in suggestions
            if s["dimension_code"] == code and s.get("category_code") in categories
        ] + [
            {"text": s["text"], "reason": s["reason"], "runs": s.get("runs", [])}
            for s in suggestions
            if s["dimension_code"] == code and "text" in s and row["input_type"] == "text"
        ]
        row["conflicting"] = row["input_type"] == "radio" and len(row["suggestions"]) > 1
    return rows


def _previous_url(study, user, assignment) -> str:
    if hasattr(assignment, "previous_item_id"):
        previous_id = assignment.previous_item_id
    else:  # a POST that is shown again with its errors
        previous = previous_item_for(study=study, annotator=user, before_item=assignment.item)
        previous_id = previous.id if previous else None
    return reverse("labelling:label-item", args=[study.slug, previous_id]) if previous_id else ""


@login_required
@require_http_methods(["GET", "POST"])
def label_item(request, slug, item_id):
    """One item of the annotator's queue. Only the annotator's own assignments exist here (else 404)."""
    posted = request.method == "POST"
    if posted:
        # A successful save redirects at once: one query for the study, the role and the assignment,
        # without the report (read only if the form is shown again) or the "previous item".
        assignment = own_assignment_for(request.user, slug, item_id, check=can_annotate)
        study = assignment.study if assignment is not None else None
    else:
        study = study_for(request.user, slug, check=can_annotate)
        assignment = assignment_for(study=study, annotator=request.user, item_id=item_id)
    if assignment is None:
        raise Http404("This item is not in your labelling queue.")
    item = assignment.item
    item.study = study
    errors: dict[str, list[str]] = {}
    general_error = ""
    status = 200

    time_spent_ms = 0
    if posted:
        values, notes = _form_input(request.POST)
        time_spent_ms = clamp_time_spent(request.POST.get("time_spent_ms"))
        try:
            item_labels_save(
                item=item,
                annotator=request.user,
                values=values,
                notes=notes,
                time_spent_ms=time_spent_ms,
            )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            general_error = "Nothing was saved: fix the dimensions marked below and save again."
            status = 400
        except ApplicationError as exc:
            general_error, status = exc.message, exc.status
        else:
            following = next_item_id_for(study=study, annotator=request.user)
            if following is None:
                return redirect("labelling:label-next", slug=study.slug)
            return redirect("labelling:label-item", slug=study.slug, item_id=following)
    codebook = codebook_for_labelling(study=study)
    if not posted:
        values, notes = _saved_input(item, request.user, codebook)

    rows = _attach_suggestions(
        _dimension_rows(
            codebook,
            values,
            notes,
            errors,
            _category_fragments(study, codebook),
            recode_flags_for(item=item, annotator=request.user),
        ),
        # The study's switch (off by default while blind) decides whether suggestions are read at all.
        label_suggestions_for(item.report) if study.reproduction_suggestions else [],
    )
    if assignment.completed_at is not None:
        # Only once the study is not blind and shows them (the selector asks sees_adjudicated_outcomes).
        outcomes = {
            f.dimension_id: f for f in adjudicated_outcomes_for(study=study, annotator=request.user).filter(item=item)
        }
        names = category_names(study=study) if outcomes else {}
        for row in rows:
            final = outcomes.get(row["dimension"].id)
            if final is not None:
                row["outcome"] = final
                row["outcome_display"] = (
                    ", ".join(names.get((final.dimension_id, c), c) for c in value_codes(final.value))
                    if row["dimension"].has_categories
                    else final.value
                )
    report = item.report
    context = {
        "study": study,
        "item": item,
        "report": report,
        "source_url": web_url(report.url),
        "source_labels": [label.name for label in report.source_labels.all()],
        "dimensions": rows,
        # Listed by name under the top message, each a link to its dimension (the page focuses the first).
        "invalid_dimensions": [row for row in rows if row["errors"]],
        "unknown_errors": [
            m for code, ms in errors.items() if code not in {e.dimension.code for e in codebook} for m in ms
        ],
        "general_error": general_error,
        "completed": assignment.completed_at is not None,
        "time_spent_ms": time_spent_ms,  # kept across a re-rendered form; the page adds its own time
        "previous_url": _previous_url(study, request.user, assignment),
        "role": role_in(request.user, study),
        **_progress_context(study, request.user),
    }
    return render(request, "labelling/label.html", context, status=status)
