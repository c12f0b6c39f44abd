"""Reads about surveys: a study's list, the link behind a token, a response's stored answers.

Tokens are hashed like study invitations (``labelling.selectors.invitations.token_hash``, SHA-256).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from config.errors import ApplicationError
from labelling.selectors.invitations import token_hash
from surveys.models import Answer, Invitation, Survey
from surveys.models import Response as SurveyResponse

UNKNOWN_LINK = "This survey link is not valid. Check that you copied all of it, or ask the researchers for a new one."


def surveys_of(*, study):
    """A study's surveys with their response and invitation counts, newest first."""
    return (
        Survey.objects.filter(study=study)
        .select_related("current_version")
        .annotate(
            submitted=Count("responses", filter=Q(responses__status=SurveyResponse.Status.SUBMITTED), distinct=True),
            started=Count("responses", distinct=True),
            invited=Count("invitations", filter=Q(invitations__from_open_link=False), distinct=True),
        )
    )


@dataclass
class Link:
    """What a respondent's token opens: a survey and, for an invitation link, the invitation."""

    survey: Survey
    invitation: Invitation | None

    @property
    def is_open_link(self) -> bool:
        return self.invitation is None


def link_for_token(*, token: str, lock: bool = False) -> Link:
    """The invitation or open link behind ``token`` (its invitation row locked when ``lock``), or 404."""
    if not token or len(token) > 200:
        raise ApplicationError(UNKNOWN_LINK, status=404)
    digest = token_hash(token)
    # The definitions are large JSON documents: load only the one a caller reads (response.version's,
    # or survey.current_version's when it starts a response), never the builder's working copy.
    invitations = Invitation.objects.select_related("survey").defer("survey__definition")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(token_hash=digest).first()
    if invitation is not None:
        return Link(survey=invitation.survey, invitation=invitation)
    survey = Survey.objects.defer("definition").filter(open_link_token_hash=digest).first()
    if survey is None:
        raise ApplicationError(UNKNOWN_LINK, status=404)
    return Link(survey=survey, invitation=None)


def survey_accepts_answers(survey: Survey) -> str | None:
    """None if ``survey`` takes answers now, else why not (for a 409)."""
    if survey.status == Survey.Status.DRAFT or survey.current_version_id is None:
        return "This survey is not open yet. Try again later, or ask the researchers when it opens."
    if survey.status == Survey.Status.CLOSED:
        return "This survey is closed and takes no more answers. Thank you for your interest."
    if survey.closes_at is not None and survey.closes_at <= timezone.now():
        return f"This survey closed on {survey.closes_at:%Y-%m-%d} and takes no more answers."
    return None


def response_of(link: Link) -> SurveyResponse | None:
    if link.invitation is None:
        return None
    return SurveyResponse.objects.select_related("version").filter(invitation=link.invitation).first()


def stored_answers(response: SurveyResponse | None) -> dict:
    """{question code: value}, a matrix's rows gathered into one object."""
    if response is None:
        return {}
    out: dict = {}
    for code, row, value in Answer.objects.filter(response=response).values_list("question__code", "row_code", "value"):
        if row is None:
            out[code] = value
        else:
            out.setdefault(code, {})[row] = value
    return out
