"""Invitation links: the owner makes and withdraws them (study settings), anyone opens one.

``/invite/<token>/`` is public. A visitor who is not logged in sets a username and password
(the account and the membership are made together) or logs in and comes back to accept; one
who is logged in accepts with a button. Links are shown once, right after they are made.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError
from labelling.forms import InvitationCreateForm, InvitationSignupForm, add_service_error
from labelling.models import StudyInvitation
from labelling.permissions import is_owner, study_for
from labelling.selectors.invitations import invitation_for_token
from labelling.services.invitations import (
    invitation_accept,
    invitation_accept_with_signup,
    invitation_revoke,
    invitations_create,
)

SESSION_KEY = "bugsift_new_invitation_links"


def invitation_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("labelling:invite", args=[token]))


def new_links_pop(request, study) -> list[dict]:
    """The links made just now for ``study`` (shown once, then forgotten)."""
    links = request.session.get(SESSION_KEY, {})
    mine = links.pop(study.slug, [])
    if mine:
        request.session[SESSION_KEY] = links
    return mine


@login_required
@require_POST
def invitations_create_view(request, slug):
    study = study_for(request.user, slug, check=is_owner)
    form = InvitationCreateForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Invitation not made: {error}")
        return redirect("labelling:study-settings", slug=study.slug)
    d = form.cleaned_data
    try:
        made = invitations_create(
            study=study, role=d["role"], count=d["count"], days=d["days"], created_by=request.user
        )
    except (ValidationError, ApplicationError) as exc:
        messages.error(request, exc.message if isinstance(exc, ApplicationError) else " ".join(exc.messages))
        return redirect("labelling:study-settings", slug=study.slug)
    links = request.session.get(SESSION_KEY, {})
    links[study.slug] = [
        {"url": invitation_url(request, m.token), "role": m.invitation.role, "id": m.invitation.pk} for m in made
    ]
    request.session[SESSION_KEY] = links
    return redirect(reverse("labelling:study-settings", args=[study.slug]) + "#invitations")


@login_required
@require_POST
def invitation_revoke_view(request, slug, pk):
    study = study_for(request.user, slug, check=is_owner)
    invitation = get_object_or_404(StudyInvitation, study=study, pk=pk)
    try:
        invitation_revoke(invitation=invitation)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Invitation withdrawn: its link no longer works.")
    return redirect(reverse("labelling:study-settings", args=[study.slug]) + "#invitations")


@require_http_methods(["GET", "POST"])
def invite(request, token):
    """The public page behind an invitation link."""
    try:
        invitation = invitation_for_token(token=token)
    except ApplicationError as exc:
        return render(request, "labelling/invite.html", {"problem": exc.message}, status=exc.status)
    form = None
    if not request.user.is_authenticated:
        form = InvitationSignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                membership = invitation_accept(token=token, user=request.user)
            elif form.is_valid():
                d = form.cleaned_data
                membership = invitation_accept_with_signup(
                    token=token, username=d["username"], password=d["password"], email=d["email"]
                )
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                membership = None
        except ValidationError as exc:
            if form is None:
                raise
            add_service_error(form, exc)
            membership = None
        except ApplicationError as exc:
            return render(request, "labelling/invite.html", {"problem": exc.message}, status=exc.status)
        if membership is not None:
            messages.success(
                request, f"Welcome to '{membership.study.name}': you are {membership.get_role_display().lower()}."
            )
            return redirect("labelling:study-detail", slug=membership.study.slug)
    status = 400 if form is not None and form.is_bound else 200
    login_url = f"{reverse('login')}?next={reverse('labelling:invite', args=[token])}"
    return render(
        request,
        "labelling/invite.html",
        {"invitation": invitation, "study": invitation.study, "form": form, "login_url": login_url},
        status=status,
    )
