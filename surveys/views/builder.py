"""The study owner's survey pages: the list of a study's surveys, a new survey (generated from the
codebook or pasted), the definition editor with validation feedback, opening and closing,
invitations (made in batches, listed, their links shown once or downloaded as CSV) and the open link.
"""

from __future__ import annotations

import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config import csvsafe
from config.errors import ApplicationError
from labelling.permissions import role_in, study_for
from surveys.forms import DefinitionForm, InvitationsForm, SettingsForm, SurveyNewForm
from surveys.generation import definition_from_codebook
from surveys.permissions import can_build_survey, can_list_surveys, survey_for
from surveys.selectors import surveys_of
from surveys.services import (
    OPEN_LINK_BATCH,
    invitations_make,
    open_link_make,
    open_link_remove,
    survey_close,
    survey_create,
    survey_definition_update,
    survey_open,
    survey_settings_update,
)

STARTER = {
    "title": "Untitled survey",
    "intro": "",
    "consent": "",
    "sections": [
        {
            "title": "About you",
            "questions": [
                {"code": "years", "kind": "number", "text": "Years of experience with deep learning?", "min": 0}
            ],
        }
    ],
}


def _respond_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("surveys:respond", args=[token]))


def _context(request, survey, **extra):
    return {"survey": survey, "study": survey.study, "role": role_in(request.user, survey.study), **extra}


@login_required
@require_http_methods(["GET", "POST"])
def survey_list(request, slug):
    """GET (owner, viewer): the study's surveys. POST (owner): create one."""
    check = can_build_survey if request.method == "POST" else can_list_surveys
    study = study_for(request.user, slug, check=check)
    form = SurveyNewForm(request.POST or None, study=study)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            d = form.cleaned_data
            try:
                if d["dimensions"]:
                    definition = definition_from_codebook(study=study, dimensions=d["dimensions"], title=d["title"])
                elif d["definition"].strip():
                    definition = json.loads(d["definition"])
                else:
                    definition = {**STARTER, "title": d["title"] or STARTER["title"]}
                survey = survey_create(study=study, slug=d["slug"], definition=definition, created_by=request.user)
            except json.JSONDecodeError as exc:
                form.add_error("definition", f"This is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                for d_ in exc.details[1:20]:
                    form.add_error(None, f"{d_['where']}: {d_['message']}")
            else:
                messages.success(request, f"Survey '{survey.title}' made as a draft; edit it, then open it.")
                return redirect("surveys:survey-edit", survey=survey.slug)
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "surveys": surveys_of(study=study),
        "form": form,
        "can_build": can_build_survey(request.user, study),
    }
    return render(request, "surveys/list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def survey_edit(request, survey):
    """The definition editor: saving a draft changes it; saving an open survey makes a new version."""
    survey = survey_for(request.user, survey)
    form = DefinitionForm(request.POST or None, initial={"definition": json.dumps(survey.definition, indent=2)})
    problems: list[dict] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            document = json.loads(form.cleaned_data["definition"])
            before = survey.current_version_id
            survey = survey_definition_update(survey=survey, definition=document, user=request.user)
        except json.JSONDecodeError as exc:
            problems = [{"where": f"line {exc.lineno}, column {exc.colno}", "message": f"This is not JSON: {exc.msg}."}]
        except ApplicationError as exc:
            problems = exc.details or [{"where": "survey", "message": exc.message}]
        else:
            if survey.current_version_id != before:
                messages.success(request, f"Saved as version {survey.current_version.number}; new answers use it.")
            else:
                messages.success(request, "Saved.")
            return redirect("surveys:survey-edit", survey=survey.slug)
        status = 400
    elif request.method == "POST":
        status = 400
    versions = survey.versions.annotate(answered=Count("responses")).order_by("-number")
    return render(
        request,
        "surveys/edit.html",
        _context(request, survey, form=form, problems=problems, versions=versions),
        status=status,
    )


@login_required
@require_POST
def survey_status(request, survey):
    survey = survey_for(request.user, survey)
    action = request.POST.get("action")
    try:
        if action == "open":
            survey = survey_open(survey=survey, user=request.user)
            messages.success(request, f"Open: respondents answer version {survey.current_version.number}.")
        elif action == "close":
            survey_close(survey=survey)
            messages.success(request, "Closed: the links take no more answers.")
        else:
            messages.error(request, "Choose 'open' or 'close'.")
            return redirect("surveys:survey-edit", survey=survey.slug)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("surveys:survey-edit", survey=survey.slug)


def _invitations_context(request, survey, **extra):
    batches = (
        survey.invitations.values("batch", "from_open_link")
        .annotate(made=Count("id"), used=Count("id", filter=Q(used_at__isnull=False)))
        .order_by("from_open_link", "batch")
    )
    return _context(
        request,
        survey,
        batches=batches,
        form=extra.pop("form", None) or InvitationsForm(),
        settings_form=extra.pop("settings_form", None)
        or SettingsForm(initial={"closes_at": survey.closes_at, "open_link_cap": survey.open_link_cap}),
        open_link_batch=OPEN_LINK_BATCH,
        **extra,
    )


@login_required
@require_http_methods(["GET", "POST"])
def survey_invitations(request, survey):
    """GET: batches made and used. POST: make a batch; its links are shown once or downloaded as CSV."""
    survey = survey_for(request.user, survey)
    if request.method == "GET":
        return render(request, "surveys/invitations.html", _invitations_context(request, survey))
    form = InvitationsForm(request.POST)
    if not form.is_valid():
        return render(request, "surveys/invitations.html", _invitations_context(request, survey, form=form), status=400)
    try:
        made = invitations_make(survey=survey, count=form.cleaned_data["count"], batch=form.cleaned_data["batch"])
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return render(request, "surveys/invitations.html", _invitations_context(request, survey, form=form), status=400)
    links = [{"url": _respond_url(request, m.token), "batch": m.invitation.batch} for m in made]
    if request.POST.get("output") == "csv":
        out = io.StringIO()
        writer = csvsafe.writer(out)
        writer.writerow(["survey", "batch", "url"])
        writer.writerows([survey.slug, link["batch"], link["url"]] for link in links)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{survey.slug}-invitations.csv"'
        return response
    return render(request, "surveys/invitations.html", _invitations_context(request, survey, new_links=links))


@login_required
@require_POST
def survey_settings(request, survey):
    survey = survey_for(request.user, survey)
    form = SettingsForm(request.POST)
    if not form.is_valid():
        return render(
            request, "surveys/invitations.html", _invitations_context(request, survey, settings_form=form), status=400
        )
    try:
        survey_settings_update(survey=survey, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Closing date and open link cap saved.")
    return redirect("surveys:survey-invitations", survey=survey.slug)


@login_required
@require_POST
def survey_open_link(request, survey):
    """Make (or replace) the open link, shown once; or remove it."""
    survey = survey_for(request.user, survey)
    if request.POST.get("action") == "remove":
        open_link_remove(survey=survey)
        messages.success(request, "The open link is removed; it no longer works.")
        return redirect("surveys:survey-invitations", survey=survey.slug)
    token = open_link_make(survey=survey, cap=survey.open_link_cap)
    survey.refresh_from_db()
    return render(
        request,
        "surveys/invitations.html",
        _invitations_context(request, survey, open_link=_respond_url(request, token)),
    )
