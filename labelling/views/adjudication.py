"""The Adjudicate page (owners and adjudicators): the next item with a disagreement, each
annotator's value and note, the reproduction verdicts and the codebook's definitions; pick a
value, write the rationale, Enter saves and goes on. Keyboard-driven by static/js/adjudicate.js.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.params import id_param
from labelling.models import Dimension, StudyItem
from labelling.permissions import can_adjudicate, role_in, study_for
from labelling.selectors.adjudication import adjudication_next_for
from labelling.services.adjudication import item_adjudicate
from triage.links import web_url


def _posted(post, codes: list[str]) -> dict[str, tuple[object, str]]:
    """{code: (value, rationale)} of the dimensions the form shows: ``value-<code>`` (repeated for
    multiple choice, the picked values joined), ``text-<code>`` (free text typed instead) and
    ``rationale-<code>``."""
    decisions = {}
    for code in codes:
        text = post.get(f"text-{code}", "").strip()
        picked = [v for v in post.getlist(f"value-{code}") if v.strip()]
        value = text or (";".join(picked) if picked else "")
        decisions[code] = (value, post.get(f"rationale-{code}", ""))
    return decisions


def _rows(found, posted: dict, errors: dict) -> list[dict]:
    rows = []
    shortcut = 1
    for row in found.dimensions:
        d = row.dimension
        value, rationale = posted.get(d.code, ("", ""))
        picked = set(str(value).split(";")) if value else set()
        given: list[dict] = []
        for v in row.distinct_values:
            key = str(shortcut) if shortcut <= 9 else ""
            shortcut += 1
            given.append({"value": v.value, "display": v.display, "key": key, "checked": value == v.value})
        given_picked = any(g["checked"] for g in given)
        rows.append(
            {
                "row": row,
                "dimension": d,
                "given": given,
                "input_type": "checkbox" if d.kind == Dimension.Kind.MULTI else "radio",
                "categories": [
                    {"category": c, "depth": depth, "checked": c.code in picked and not given_picked}
                    for c, depth in row.codebook.entries
                ],
                "text": value if d.kind == Dimension.Kind.TEXT and not given_picked else "",
                "rationale": rationale,
                "errors": errors.get(d.code, []),
            }
        )
    return rows


def _render(request, study, found, *, posted=None, errors=None, general_error="", status=200):
    if found is None:
        context = {"study": study, "role": role_in(request.user, study), "found": None}
        return render(request, "labelling/adjudicate.html", context, status=status)
    report = found.item.report
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "found": found,
        "item": found.item,
        "report": report,
        "source_url": web_url(report.url),
        "rows": _rows(found, posted or {}, errors or {}),
        "general_error": general_error,
        "skip_url": reverse("labelling:adjudicate", args=[study.slug]) + f"?after={found.item.pk}",
        "save_url": reverse("labelling:adjudicate-save", args=[study.slug, found.item.pk]),
    }
    return render(request, "labelling/adjudicate.html", context, status=status)


@login_required
@require_safe
def adjudicate(request, slug):
    study = study_for(request.user, slug, check=can_adjudicate)
    after = id_param(request.GET.get("after"))
    return _render(request, study, adjudication_next_for(study=study, user=request.user, after=after))


@login_required
@require_POST
def adjudicate_save(request, slug, item_id):
    study = study_for(request.user, slug, check=can_adjudicate)
    item = StudyItem.objects.filter(study=study, pk=item_id).select_related("report").first()
    if item is None:
        raise Http404("This study has no such item.")
    found = adjudication_next_for(study=study, user=request.user, after=item.pk - 1)
    if found is None or found.item.pk != item.pk:
        # Decided meanwhile (another adjudicator, another tab): go on with what is left.
        return redirect("labelling:adjudicate", slug=study.slug)
    codes = [row.dimension.code for row in found.dimensions]
    posted = _posted(request.POST, codes)
    try:
        item_adjudicate(study=study, item=item, decisions=posted, adjudicator=request.user)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        general = "Nothing was saved: fix the dimensions marked below and save again."
        return _render(request, study, found, posted=posted, errors=errors, general_error=general, status=400)
    return redirect(reverse("labelling:adjudicate", args=[study.slug]) + f"?after={item.pk}")
