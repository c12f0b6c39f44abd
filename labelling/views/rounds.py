"""Calibration rounds pages: the study's rounds (with a form to make one, owners), one round (its
items, passes, progress, agreement per pass), and closing and re-opening it (owners).

Everyone in the study sees the rounds; the agreement figures follow ``can_view_agreement``
(owners and viewers), everyone's progress ``sees_others_labels``; an annotator of a blind study
sees only their own progress in a round.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from config.errors import ApplicationError
from labelling.agreement.selectors import rounds_agreement
from labelling.forms import RoundForm, RoundReopenForm, add_service_error
from labelling.models import CalibrationRound
from labelling.permissions import (
    can_manage_rounds,
    can_read_results,
    can_view_agreement,
    can_view_study,
    role_in,
    sees_others_labels,
    study_for,
)
from labelling.selectors.rounds import round_for, round_items_of, round_passes, round_progress, rounds_of
from labelling.services.rounds import round_close, round_create, round_reopen

ITEMS_SHOWN = 200


def _rounds_page(request, study, form=None, status=200):
    others = sees_others_labels(request.user, study)
    rounds = [(r, round_progress(round=r, user=request.user, others_shown=others)) for r in rounds_of(study=study)]
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "rounds": rounds,
        "form": form or RoundForm(),
        "can_manage": can_manage_rounds(request.user, study),
        "figures": rounds_agreement(study=study) if can_view_agreement(request.user, study) else None,
    }
    return render(request, "labelling/rounds.html", context, status=status)


@login_required
@require_safe
def rounds(request, slug):
    study = study_for(request.user, slug, check=can_view_study)
    return _rounds_page(request, study)


@login_required
@require_POST
def round_create_view(request, slug):
    study = study_for(request.user, slug, check=can_manage_rounds)
    form = RoundForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            created = round_create(
                study=study,
                name=d["name"],
                description=d["description"],
                source=d["source"],
                filters=form.to_filter(),
                size=d["size"],
                seed=d["seed"],
                item_ids=d["item_ids"],
                starts_at=d["starts_at"],
                ends_at=d["ends_at"],
                created_by=request.user,
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Round '{created.name}' made with {created.round_items.count()} items.")
            return redirect("labelling:round-detail", slug=study.slug, pk=created.pk)
    return _rounds_page(request, study, form=form, status=400)


def _detail_page(request, study, round_, reopen_form=None, status=200):
    user = request.user
    figures = None
    if can_view_agreement(user, study):
        figures = [row for row in rounds_agreement(study=study) if row["round"]["id"] == round_.pk]
    items = list(round_items_of(round=round_)[: ITEMS_SHOWN + 1])
    context = {
        "study": study,
        "role": role_in(user, study),
        "round": round_,
        "passes": round_passes(round=round_),
        "progress": round_progress(round=round_, user=user, others_shown=sees_others_labels(user, study)),
        "figures": figures,
        "items": items[:ITEMS_SHOWN],
        "more_items": len(items) > ITEMS_SHOWN,
        "item_links": can_read_results(user, study),
        "can_manage": can_manage_rounds(user, study),
        "reopen_form": reopen_form or RoundReopenForm(),
        "is_closed": round_.status == CalibrationRound.Status.CLOSED,
    }
    return render(request, "labelling/round_detail.html", context, status=status)


@login_required
@require_safe
def round_detail(request, slug, pk):
    study = study_for(request.user, slug, check=can_view_study)
    return _detail_page(request, study, round_for(study=study, round_id=pk))


@login_required
@require_POST
def round_close_view(request, slug, pk):
    study = study_for(request.user, slug, check=can_manage_rounds)
    round_ = round_for(study=study, round_id=pk)
    try:
        round_close(round=round_, closed_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Round '{round_.name}' closed.")
    return redirect("labelling:round-detail", slug=study.slug, pk=round_.pk)


@login_required
@require_POST
def round_reopen_view(request, slug, pk):
    study = study_for(request.user, slug, check=can_manage_rounds)
    round_ = round_for(study=study, round_id=pk)
    form = RoundReopenForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, study, round_, reopen_form=form, status=400)
    try:
        new_pass = round_reopen(round=round_, reopened_by=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Round '{round_.name}' re-opened: pass {new_pass.number} begins; the labels of pass "
            f"{new_pass.number - 1} are kept in its history and its assignments are open again.",
        )
    return redirect("labelling:round-detail", slug=study.slug, pk=round_.pk)
