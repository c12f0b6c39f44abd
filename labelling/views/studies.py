"""Study pages: list, create, overview (progress, make assignments), settings and members."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.errors import ApplicationError
from labelling.agreement.selectors import rounds_agreement
from labelling.codebook_templates import MAX_UPLOAD_BYTES, list_templates
from labelling.forms import (
    DecisionRuleForm,
    InvitationCreateForm,
    MemberAddForm,
    MemberRoleForm,
    StudyCreateForm,
    StudySettingsForm,
    add_service_error,
)
from labelling.models import Dimension, Membership
from labelling.permissions import can_view_agreement, can_view_study, is_owner, role_in, study_for
from labelling.selectors.invitations import invitations_of
from labelling.selectors.results import study_results_pin
from labelling.selectors.studies import members_of, studies_with_progress, study_progress
from labelling.services.assignments import assignments_make
from labelling.services.decision_rules import decision_rule_set
from labelling.services.studies import membership_remove, membership_set, study_create, study_update
from labelling.views.invitations import new_links_pop
from triage.permissions import CanCreateStudiesOrReadOnly, can_create_studies


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    return " ".join(exc.messages)


@login_required
@require_safe
def study_list(request):
    rows = studies_with_progress(user=request.user)
    return render(request, "labelling/study_list.html", {"rows": rows, "can_create": can_create_studies(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def study_create_view(request):
    if not can_create_studies(request.user):
        raise PermissionDenied(CanCreateStudiesOrReadOnly.message)
    form = StudyCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        upload = d.get("codebook_file")
        try:
            study = study_create(
                codebook=upload.read(MAX_UPLOAD_BYTES + 1) if upload else None,
                slug=d["slug"],
                name=d["name"],
                owner=request.user,
                template_slug=d["template"] or None,
                description=d["description"],
                overlap_k=d["overlap_k"],
                blind=d["blind"],
                exclusion_reasons=d["exclusion_reasons"],
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Study '{study.name}' created. Next: add reports to it.")
            return redirect("labelling:study-detail", slug=study.slug)
    status = 400 if form.errors else 200
    return render(request, "labelling/study_create.html", {"form": form, "templates": list_templates()}, status=status)


@login_required
@require_safe
def study_detail(request, slug):
    study = study_for(request.user, slug, check=can_view_study)
    study_results_pin(study)  # a read-only page: one read of the results token
    role = role_in(request.user, study)
    progress = study_progress(study=study, user=request.user, with_funnel=True)
    return render(
        request,
        "labelling/study_detail.html",
        {
            "study": study,
            "role": role,
            "progress": progress,
            "mine": progress.for_annotator(request.user.pk),
            "dimension_count": study.codebook.dimensions.count() if hasattr(study, "codebook") else 0,
            "annotator_count": len(progress.annotators),
            "rounds_figures": rounds_agreement(study=study) if can_view_agreement(request.user, study) else None,
        },
    )


@login_required
@require_POST
def assignments_make_view(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    try:
        created = assignments_make(study=study)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(request, ngettext("%d assignment made.", "%d assignments made.", created) % created)
        else:
            messages.info(request, "Every included item already has its k annotators; no assignments made.")
    return redirect("labelling:study-detail", slug=study.slug)


def _settings_context(study, settings_form=None, member_form=None, rule_form=None, new_links=None):
    initial = {
        "name": study.name,
        "description": study.description,
        "overlap_k": study.overlap_k,
        "blind": study.blind,
        "reproduction_suggestions": study.reproduction_suggestions,
        "adjudication_shows_names": study.adjudication_shows_names,
        "adjudication_outcomes_shown": study.adjudication_outcomes_shown,
        "exclusion_reasons": "\n".join(study.exclusion_reasons or []),
        "screening_overlap": study.screening_overlap,
        "screening_rule": study.screening_rule,
    }
    rule_forms = []
    dimensions = list(Dimension.objects.filter(codebook__study=study).order_by("order", "id"))
    rule_errors = []  # a posted rule form that matches no dimension shows its errors above the table
    if rule_form is not None and rule_form.data.get("dimension") not in {d.code for d in dimensions}:
        rule_errors = [m for errors in rule_form.errors.values() for m in errors]
    for dimension in dimensions:
        form = rule_form if rule_form is not None and rule_form.data.get("dimension") == dimension.code else None
        form = form or DecisionRuleForm(
            initial={
                "dimension": dimension.code,
                "rule": dimension.decision_rule,
                "threshold": dimension.majority_threshold,
            },
            auto_id=f"id_rule_{dimension.pk}_%s",
        )
        rule_forms.append((dimension, form))
    return {
        "study": study,
        "role": Membership.Role.OWNER,
        "form": settings_form or StudySettingsForm(initial=initial),
        "member_form": member_form or MemberAddForm(),
        "members": members_of(study=study),
        "roles": Membership.Role.choices,
        "rule_forms": rule_forms,
        "invitation_form": InvitationCreateForm(),
        "invitations": invitations_of(study=study),
        "new_links": new_links or [],
        "rule_errors": rule_errors,
    }


@login_required
@require_http_methods(["GET", "POST"])
def study_settings(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    form = None
    if request.method == "POST":
        form = StudySettingsForm(request.POST)
        if form.is_valid():
            try:
                study_update(study=study, data=form.service_data())
            except (ValidationError, ApplicationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("labelling:study-settings", slug=study.slug)
    context = _settings_context(study, settings_form=form, new_links=new_links_pop(request, study))
    return render(request, "labelling/study_settings.html", context)


@login_required
@require_POST
def study_decision_rule(request, slug):
    """Set one dimension's decision rule and recompute its automatic final labels."""
    study = study_for(request.user, slug, check=is_owner)
    form = DecisionRuleForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            (change,) = decision_rule_set(
                study=study,
                rule=d["rule"],
                threshold=d["threshold"],
                dimension_codes=[d["dimension"]],
                by=request.user,
            )
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Decision rule saved. {change.summary()}.")
            return redirect("labelling:study-settings", slug=study.slug)
    return render(request, "labelling/study_settings.html", _settings_context(study, rule_form=form), status=400)


@login_required
@require_POST
def study_member_add(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership_set(study=study, user=form.user, role=form.cleaned_data["role"])
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{form.user.get_username()} is now {form.cleaned_data['role']}.")
            return redirect("labelling:study-settings", slug=study.slug)
    return render(request, "labelling/study_settings.html", _settings_context(study, member_form=form), status=400)


@login_required
@require_POST
def study_member_change(request, slug, user_id):
    """Change a member's role (``action=role``) or remove them (``action=remove``)."""
    study = study_for(request.user, slug, check=is_owner)
    membership = get_object_or_404(Membership.objects.select_related("user"), study=study, user_id=user_id)
    user = membership.user
    try:
        if request.POST.get("action") == "remove":
            membership_remove(study=study, user=user)
            messages.success(request, f"{user.get_username()} removed from the study.")
        else:
            form = MemberRoleForm(request.POST)
            if not form.is_valid():
                raise ValidationError("Pick a role: owner, annotator or viewer.")
            membership_set(study=study, user=user, role=form.cleaned_data["role"])
            messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']}.")
    except (ValidationError, ApplicationError) as exc:
        messages.error(request, _error_message(exc))
    return redirect("labelling:study-settings", slug=study.slug)
