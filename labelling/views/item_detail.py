"""The item page: one study item with its report, assignments, every label, final labels,
reproduction verdicts and history (owners and viewers: the results access)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from labelling.permissions import can_read_decisions, can_read_results, is_owner, role_in, study_for
from labelling.selectors.adjudication import item_decisions_for
from labelling.selectors.item_detail import item_detail_for


@login_required
@require_safe
def item_detail(request, slug: str, item_id: int):
    study = study_for(request.user, slug, check=can_read_results)
    detail = item_detail_for(study=study, item_id=item_id, user=request.user)
    if detail is None:
        raise Http404("This study has no such item.")
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "is_owner": is_owner(request.user, study),
        "detail": detail,
        "item": detail.item,
        "report": detail.item.report,
        "decisions": item_decisions_for(study=study, item_id=item_id)
        if can_read_decisions(request.user, study)
        else [],
    }
    return render(request, "labelling/item_detail.html", context)
