"""Who may do what with surveys. Every survey view and endpoint asks these, nowhere else.

Building a survey (its definition, opening and closing it, invitations, the open link) is for
the owner of its study (and staff, who own every study: ``labelling.permissions.role_in``).
Owners and viewers see the list of a study's surveys (the results pages build on it).
Answering is public: whoever holds a link answers through it, without an account.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from labelling.permissions import can_read_results, can_view_study, is_owner
from surveys.models import Survey


def can_build_survey(user, study) -> bool:
    return is_owner(user, study)


def can_list_surveys(user, study) -> bool:
    return can_read_results(user, study)


def survey_for(user, slug: str, *, check=can_build_survey) -> Survey:
    """A survey by slug with ``check`` applied to its study: a non-member of the study gets 404,
    a member without the right 403."""
    survey = get_object_or_404(Survey.objects.select_related("study", "current_version"), slug=slug)
    if not can_view_study(user, survey.study):
        raise Http404("No such survey.")
    if not check(user, survey.study):
        raise PermissionDenied("Only the study's owner may change its surveys.")
    return survey
