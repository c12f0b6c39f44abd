"""Items the annotators finished but disagree on, side by side (owners and viewers)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_safe

from labelling.permissions import can_read_results, role_in, study_for
from labelling.selectors.labelling import category_names, dimensions_of, disagreements_for
from labelling.values import value_codes

PAGE_SIZE = 50


@login_required
@require_safe
def disagreement_list(request, slug):
    study = study_for(request.user, slug, check=can_read_results)
    dimension_code = request.GET.get("dimension", "").strip()
    disagreements = disagreements_for(study=study, dimension_code=dimension_code or None)
    page = Paginator(disagreements, PAGE_SIZE).get_page(request.GET.get("page"))
    names = category_names(study=study)
    for disagreement in page:
        for row in disagreement.dimensions:
            for v in row.values:
                v.display = ", ".join(names.get((row.dimension.id, code), code) for code in value_codes(v.value))
    context = {
        "study": study,
        "page": page,
        "count": len(disagreements),
        "dimension_code": dimension_code,
        "dimensions": dimensions_of(study=study),
        "role": role_in(request.user, study),
    }
    return render(request, "labelling/disagreements.html", context)
