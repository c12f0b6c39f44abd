"""Screening page (owner only for now): include or exclude the next pending item, revisit decisions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.errors import ApplicationError
from config.params import id_param
from labelling.forms import ScreeningForm, add_service_error
from labelling.models import StudyItem
from labelling.permissions import is_owner, role_in, study_for
from labelling.selectors.studies import screened_items, screening_item, screening_next, study_progress
from labelling.services.screening import item_screen


def _item_or_404(study, item_id):
    try:
        return screening_item(study=study, item_id=item_id)
    except StudyItem.DoesNotExist as exc:
        raise Http404("No such item in this study.") from exc


def _page(request, study, *, item, form=None, status=200):
    page = Paginator(screened_items(study=study), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "labelling/screening.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "item": item,
            "form": form or ScreeningForm(initial={"reason": item.exclusion_reason if item else ""}),
            "reasons": study.exclusion_reasons or [],
            "progress": study_progress(study=study, user=request.user),
            "page": page,
        },
        status=status,
    )


@login_required
@require_safe
def screening(request, slug):
    """The next pending item, or ``?item=<id>`` to revisit one."""
    study = study_for(request.user, slug, check=is_owner)
    item_id = request.GET.get("item")
    if item_id:
        if id_param(item_id) is None:
            raise Http404("No such item in this study.")
        item = _item_or_404(study, id_param(item_id))
    else:
        item = screening_next(study=study)
    return _page(request, study, item=item)


@login_required
@require_POST
def screening_decide(request, slug, item_id):
    study = study_for(request.user, slug, check=is_owner)
    item = _item_or_404(study, item_id)
    form = ScreeningForm(request.POST)
    if form.is_valid():
        try:
            item = item_screen(
                item=item,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
                screened_by=request.user,
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            what = (
                "included" if item.screening == StudyItem.Screening.INCLUDED else f"excluded ({item.exclusion_reason})"
            )
            messages.success(request, f"'{item.report.title[:80]}' {what}.")
            return redirect(reverse("labelling:screening", kwargs={"slug": study.slug}))
    return _page(request, study, item=item, form=form, status=400)
