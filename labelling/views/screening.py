"""Screening page: include or exclude the next item, revisit decisions.

One screener per item (the default): the owner screens and one vote decides. Several: owners
and annotators each vote blind on the items they have not voted on yet, the study's rule
decides, and the owner decides the conflicts (items whose votes decide nothing under the rule).
"""

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
from labelling.permissions import can_screen, is_owner, role_in, sees_others_labels, study_for
from labelling.selectors.screening import (
    item_vote_count,
    own_screening_count,
    own_vote,
    screening_conflicts,
    screening_next_for,
    votes_of_item,
    votes_visible_to,
)
from labelling.selectors.studies import screened_items, screening_item, study_progress
from labelling.services.screening import screening_owner_decide, screening_vote


def _item_or_404(study, item_id):
    try:
        return screening_item(study=study, item_id=item_id)
    except StudyItem.DoesNotExist as exc:
        raise Http404("No such item in this study.") from exc


def _page(request, study, *, item, form=None, resolve_form=None, status=200):
    owner = is_owner(request.user, study)
    k = study.screening_overlap
    several = k > 1
    sees_all = sees_others_labels(request.user, study)
    if owner or not several:
        listing = screened_items(study=study)
    else:
        listing = votes_visible_to(study=study, user=request.user).filter(screener=request.user)
    page = Paginator(listing, 25).get_page(request.GET.get("page"))
    mine = own_vote(item=item, user=request.user) if item is not None else None
    # A new screener cannot vote on an item that has its k votes (the service says 409).
    can_vote = item is not None and (not several or mine is not None or item_vote_count(item=item) < k)
    initial_reason = mine.reason if mine else (item.exclusion_reason if item and owner else "")
    return render(
        request,
        "labelling/screening.html",
        {
            "study": study,
            "role": role_in(request.user, study),
            "owner": owner,
            "several": several,
            "sees_all": sees_all,
            "item": item,
            "mine": mine,
            "can_vote": can_vote,
            "votes": votes_of_item(item=item, user=request.user) if item is not None and several else [],
            "form": form or ScreeningForm(initial={"reason": initial_reason}),
            "resolve_form": resolve_form or ScreeningForm(initial={"reason": item.exclusion_reason if item else ""}),
            "reasons": study.exclusion_reasons or [],
            "progress": study_progress(study=study, user=request.user),
            "own_votes": own_screening_count(study=study, user=request.user) if several else 0,
            "conflicts": list(screening_conflicts(study=study)[:100]) if owner and several else [],
            "page": page,
        },
        status=status,
    )


def _visible_item(request, study, item_id):
    """An item the user may open on the page: any for an owner; for another screener an item they
    voted on or that is still pending (never its decision, which comes from the others' votes)."""
    item = _item_or_404(study, item_id)
    if not is_owner(request.user, study) and item.screening != StudyItem.Screening.PENDING:
        if own_vote(item=item, user=request.user) is None:
            raise Http404("No such item in your screening.")
    return item


@login_required
@require_safe
def screening(request, slug):
    """The next item to screen, or ``?item=<id>`` to revisit one."""
    study = study_for(request.user, slug, check=can_screen)
    item_id = request.GET.get("item")
    if item_id:
        if id_param(item_id) is None:
            raise Http404("No such item in this study.")
        item = _visible_item(request, study, id_param(item_id))
    else:
        item = screening_next_for(study=study, user=request.user)
    return _page(request, study, item=item)


@login_required
@require_POST
def screening_decide(request, slug, item_id):
    """The user's vote on the item (with one screener per item, the decision)."""
    study = study_for(request.user, slug, check=can_screen)
    item = _visible_item(request, study, item_id)
    form = ScreeningForm(request.POST)
    if form.is_valid():
        try:
            item = screening_vote(
                item=item,
                screener=request.user,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            if study.screening_overlap > 1:
                what = "include" if form.cleaned_data["decision"] == "include" else "exclude"
                messages.success(request, f"Your vote on '{item.report.title[:80]}': {what}.")
            else:
                what = (
                    "included"
                    if item.screening == StudyItem.Screening.INCLUDED
                    else f"excluded ({item.exclusion_reason})"
                )
                messages.success(request, f"'{item.report.title[:80]}' {what}.")
            return redirect(reverse("labelling:screening", kwargs={"slug": study.slug}))
    return _page(request, study, item=item, form=form, status=400)


@login_required
@require_POST
def screening_resolve(request, slug, item_id):
    """The owner's decision on an item (a conflict, or overriding the screeners' rule)."""
    study = study_for(request.user, slug, check=is_owner)
    item = _item_or_404(study, item_id)
    form = ScreeningForm(request.POST)
    if form.is_valid():
        try:
            item = screening_owner_decide(
                item=item,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
                decided_by=request.user,
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            included = item.screening == StudyItem.Screening.INCLUDED
            what = "included" if included else f"excluded ({item.exclusion_reason})"
            messages.success(request, f"Owner's decision on '{item.report.title[:80]}': {what}.")
            return redirect(reverse("labelling:screening", kwargs={"slug": study.slug}))
    return _page(request, study, item=item, resolve_form=form, status=400)
