"""Who may read a survey's results and import responses into it (one function per rule).

Survey results are about the study's categories, not about anyone's labels, so blind labelling
does not enter into it; still, they are the study's results: owners, viewers and adjudicators
read them (staff count as owners), annotators and non-members do not. Importing responses
writes answers into the survey: owners only.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from labelling.models import Membership
from labelling.permissions import can_view_study, is_owner, role_in
from surveys.models import Survey

Role = Membership.Role
SURVEY_RESULTS_ROLES = {Role.OWNER, Role.VIEWER, Role.ADJUDICATOR}


def can_read_survey_results(user, study) -> bool:
    return role_in(user, study) in SURVEY_RESULTS_ROLES


def can_import_survey_responses(user, study) -> bool:
    return is_owner(user, study)


def survey_results_for(user, slug: str, *, check=can_read_survey_results) -> Survey:
    """A survey by slug: 404 for a non-member of its study, 403 for a member whose role may not."""
    survey = get_object_or_404(Survey.objects.select_related("study", "current_version"), slug=slug)
    if not can_view_study(user, survey.study):
        raise Http404("No such survey.")
    if not check(user, survey.study):
        if check is can_read_survey_results:
            raise PermissionDenied("Survey results are for the study's owners, viewers and adjudicators.")
        raise PermissionDenied("Only the study's owner may import responses into its surveys.")
    return survey
