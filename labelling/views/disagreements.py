"""Items the annotators finished but disagree on, side by side (owners and viewers)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from labelling.models import Dimension
from labelling.permissions import can_read_results, role_in, study_for
from labelling.selectors.labelling import category_names, dimensions_of, disagreements_for
from labelling.values import value_codes

PAGE_SIZE = 50


def _after(raw: str) -> int:
    """The keyset cursor of ``?after=``: the last item id of the previous page; anything that is
    not a positive whole number starts at the first page (as a bad ``?page=`` used to)."""
    return int(raw) if raw.isdigit() else 0


EMPTY = mark_safe('<span class="muted">(empty)</span>')


def _cell(v, *, text: bool) -> str:
    """One annotator's value and note as the table cell shows them (escaped), built here rather
    than in the template: a page has up to 50 items x dimensions x annotators of them, and the
    template language's lookups were most of the page's time."""
    if not v.value:
        shown = EMPTY
    elif text:
        shown = conditional_escape(v.value)
    else:
        shown = format_html('<span title="{}">{}</span>', v.value, v.display)
    if v.note:
        return format_html('{}<br><small class="muted">{}</small>', shown, v.note)
    return shown


@login_required
@require_safe
def disagreement_list(request, slug):
    """One page of disagreements in item order, ``?after=<item id>`` for the next one.

    Keyset pages rather than numbered ones: a page asks the database for its 50 items (and one
    more, to know whether there is a next page) and never for all of them, so it costs the
    same in a study of 1,000 items as in one of 100,000. Hence no total count and no "page x
    of y": the badge counts the disagreements on this page, with a "+" when more follow.
    """
    study = study_for(request.user, slug, check=can_read_results)
    dimension_code = request.GET.get("dimension", "").strip()
    after = _after(request.GET.get("after", "").strip())
    found = disagreements_for(study=study, dimension_code=dimension_code or None, after=after, limit=PAGE_SIZE + 1)
    disagreements, has_next = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    names = category_names(study=study)
    for disagreement in disagreements:
        for row in disagreement.dimensions:
            for v in row.values:
                v.display = ", ".join(names.get((row.dimension.id, code), code) for code in value_codes(v.value))
                v.cell = _cell(v, text=row.dimension.kind == Dimension.Kind.TEXT)
    context = {
        "study": study,
        "disagreements": disagreements,
        "count": len(disagreements),
        "has_next": has_next,
        "next_after": disagreements[-1].item.id if has_next else None,
        "is_first_page": after == 0,
        "dimension_code": dimension_code,
        "dimensions": dimensions_of(study=study),
        "role": role_in(request.user, study),
    }
    return render(request, "labelling/disagreements.html", context)
