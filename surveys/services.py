"""Writes about surveys: create, edit (versioned once open), open and close, links, answers.

Each function validates everything first and then writes in one transaction. Opening a survey
freezes its definition as a ``SurveyVersion`` with its ``Question`` rows; editing an open (or
closed) survey makes a new version when the document changed, so answers always refer to the
version they answered. Answering locks the invitation row: two submits on one link give one
response, the other a 409.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.errors import ApplicationError
from surveys.answers import AnswerProblem, answers_merge, missing_required
from surveys.models import Answer, Invitation, Question, Survey, SurveyVersion
from surveys.models import Response as SurveyResponse
from surveys.selectors import link_for_token, response_of, stored_answers, survey_accepts_answers, token_hash
from surveys.validation import definition_validate, questions_of

MAX_INVITATIONS = 5000
OPEN_LINK_BATCH = "open link"


def _today():
    return timezone.now().date()


def _check_slug(slug: str) -> None:
    try:
        validate_slug(slug)
    except ValidationError:
        raise ApplicationError(
            f"'{slug}' is not a usable survey slug: use letters, digits, '-' and '_' (e.g. 'category-feedback')."
        ) from None
    if len(slug) > 80:
        raise ApplicationError("A survey slug has at most 80 characters.")
    if Survey.objects.filter(slug=slug).exists():
        raise ApplicationError(f"A survey with the slug '{slug}' exists already; choose another slug.", status=409)


@transaction.atomic
def survey_create(*, study, slug: str, definition, created_by) -> Survey:
    """A draft survey of ``study`` defined by ``definition`` (validated)."""
    clean = definition_validate(definition)
    _check_slug(slug)
    survey = Survey(study=study, slug=slug, title=clean["title"], definition=clean, created_by=created_by)
    survey.full_clean()
    survey.save()
    return survey


def version_make(*, survey: Survey, definition: dict, created_by) -> SurveyVersion:
    number = (survey.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = SurveyVersion.objects.create(survey=survey, number=number, definition=definition, created_by=created_by)
    Question.objects.bulk_create(
        [
            Question(
                version=version,
                code=q["code"],
                kind=q["kind"],
                text=q["text"],
                section=q["section"],
                position=q["position"],
                required=q["required"],
                options=q.get("options", []),
                min_value=q.get("min"),
                max_value=q.get("max"),
                min_label=q.get("min_label", ""),
                max_label=q.get("max_label", ""),
                rows=q.get("rows", []),
                long=q.get("long", False),
                condition=q.get("condition"),
                category=q.get("category", ""),
            )
            for q in questions_of(definition)
        ]
    )
    survey.current_version = version
    return version


def _locked(survey: Survey) -> Survey:
    return Survey.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=survey.pk)


@transaction.atomic
def survey_definition_update(*, survey: Survey, definition, user) -> Survey:
    """Replace the definition. A draft just changes; a survey that has been opened gets a new
    version when the document differs from the current version's."""
    clean = definition_validate(definition)
    survey = _locked(survey)
    survey.definition = clean
    survey.title = clean["title"]
    fields = ["definition", "title", "updated_at"]
    if survey.current_version is not None and survey.current_version.definition != clean:
        version_make(survey=survey, definition=clean, created_by=user)
        fields.append("current_version")
    survey.save(update_fields=fields)
    return survey


@transaction.atomic
def survey_open(*, survey: Survey, user) -> Survey:
    """Open for answers: the definition is frozen as a version (the first, or a new one if it changed)."""
    survey = _locked(survey)
    clean = definition_validate(survey.definition)
    if survey.current_version is None or survey.current_version.definition != clean:
        version_make(survey=survey, definition=clean, created_by=user)
    if survey.closes_at is not None and survey.closes_at <= timezone.now():
        raise ApplicationError(
            f"The closing date {survey.closes_at:%Y-%m-%d %H:%M} UTC is past: set a later one (or none) first.",
            status=409,
        )
    survey.status = Survey.Status.OPEN
    survey.save(update_fields=["status", "current_version", "updated_at"])
    return survey


@transaction.atomic
def survey_close(*, survey: Survey) -> Survey:
    survey = _locked(survey)
    if survey.status == Survey.Status.DRAFT:
        raise ApplicationError("This survey was never opened; there is nothing to close.", status=409)
    survey.status = Survey.Status.CLOSED
    survey.save(update_fields=["status", "updated_at"])
    return survey


@transaction.atomic
def survey_settings_update(*, survey: Survey, closes_at: datetime | None, open_link_cap: int | None) -> Survey:
    """The closing date (None: open until closed by hand) and the open link's response cap (None: no cap)."""
    if open_link_cap is not None and (isinstance(open_link_cap, bool) or open_link_cap < 1):
        raise ApplicationError("The response cap of the open link must be a whole number of at least 1, or empty.")
    survey = _locked(survey)
    survey.closes_at = closes_at
    survey.open_link_cap = open_link_cap
    survey.save(update_fields=["closes_at", "open_link_cap", "updated_at"])
    return survey


@transaction.atomic
def open_link_make(*, survey: Survey, cap: int | None = None) -> str:
    """Make (or replace: the old link stops working) the survey's open link; returns its token, shown once."""
    if cap is not None and (isinstance(cap, bool) or cap < 1):
        raise ApplicationError("The response cap of the open link must be a whole number of at least 1, or empty.")
    survey = _locked(survey)
    token = secrets.token_urlsafe(32)
    survey.open_link_token_hash = token_hash(token)
    survey.open_link_cap = cap
    survey.save(update_fields=["open_link_token_hash", "open_link_cap", "updated_at"])
    return token


@transaction.atomic
def open_link_remove(*, survey: Survey) -> Survey:
    survey = _locked(survey)
    survey.open_link_token_hash = None
    survey.save(update_fields=["open_link_token_hash", "updated_at"])
    return survey


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


@transaction.atomic
def invitations_make(*, survey: Survey, count: int, batch: str = "") -> list[NewInvitation]:
    """``count`` one-response links in batch ``batch``; their tokens are returned once, never stored."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_INVITATIONS:
        raise ApplicationError(f"Make between 1 and {MAX_INVITATIONS} invitations at a time (asked for {count}).")
    batch = (batch or "").strip()
    if len(batch) > 100:
        raise ApplicationError("A batch label has at most 100 characters.")
    if batch == OPEN_LINK_BATCH:
        raise ApplicationError(f"'{OPEN_LINK_BATCH}' names the responses of the open link; choose another label.")
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    made = Invitation.objects.bulk_create(
        [Invitation(survey=survey, token_hash=token_hash(t), batch=batch) for t in tokens]
    )
    return [NewInvitation(invitation=i, token=t) for i, t in zip(made, tokens, strict=True)]


# ---------------------------------------------------------------------------------- answering


@dataclass(frozen=True)
class Answered:
    """What an answer call did: ``status`` is declined (nothing stored), in_progress or submitted;
    ``token`` is the respondent's own link token when the open link made one for them."""

    status: str
    response: SurveyResponse | None
    token: str | None = None
    missing: tuple[str, ...] = ()


def _problems_error(problems: list[AnswerProblem]) -> ApplicationError:
    details = [{"question": p.code, "message": p.message} for p in problems]
    more = f" (and {len(problems) - 1} more; see details)" if len(problems) > 1 else ""
    return ApplicationError(f"{problems[0].message}{more} Nothing was stored.", details=details)


def _open_link_submitted(survey: Survey) -> int:
    return SurveyResponse.objects.filter(
        survey=survey, invitation__from_open_link=True, status=SurveyResponse.Status.SUBMITTED
    ).count()


def _check_cap(survey: Survey) -> None:
    if survey.open_link_cap is not None and _open_link_submitted(survey) >= survey.open_link_cap:
        raise ApplicationError(
            f"This survey's open link has reached its limit of {survey.open_link_cap} responses and takes no more.",
            status=409,
        )


def _answers_write(*, response: SurveyResponse, answers: dict, touched: set[str]) -> None:
    """Rewrite the answers to the ``touched`` questions (given now, or dropped) from ``answers``."""
    if not touched:
        return
    questions = {q.code: q for q in Question.objects.filter(version=response.version, code__in=touched)}
    Answer.objects.filter(response=response, question__code__in=touched).delete()
    rows = []
    for code, value in answers.items():
        if code not in touched:
            continue
        question = questions[code]
        if question.kind == Question.Kind.MATRIX:
            rows.extend(
                Answer(response=response, question=question, row_code=row, value=v, number=v)
                for row, v in value.items()
            )
        else:
            number = value if question.kind in (Question.Kind.LIKERT, Question.Kind.NUMBER) else None
            rows.append(Answer(response=response, question=question, value=value, number=number))
    Answer.objects.bulk_create(rows)


@transaction.atomic
def response_answer(*, token: str, consent: bool | None, answers: dict, submit: bool, strict: bool = True) -> Answered:
    """Take a respondent's consent and answers through their link, and submit when ``submit``.

    A first call must carry the consent: declining stores nothing. Answers merge into those
    saved before (save and come back); submitting checks every required question that is shown.
    Any problem raises ApplicationError (404 unknown link, 409 closed or used, 400 naming the
    question) and nothing is stored.
    """
    if not isinstance(answers, dict):
        raise ApplicationError("'answers' must be an object of question codes and answers.")
    link = link_for_token(token=token, lock=True)
    survey = link.survey
    closed = survey_accepts_answers(survey)
    if closed:
        raise ApplicationError(closed, status=409)
    response = response_of(link)
    if response is not None and response.status == SurveyResponse.Status.SUBMITTED:
        raise ApplicationError(
            "This link's answers were already submitted; each link answers once. Thank you!", status=409
        )
    if response is None:
        if consent is False:
            return Answered(status="declined", response=None)
        if consent is not True:
            raise ApplicationError(
                'Give your consent first: send "consent": true (or false to decline; nothing is stored then).',
                details=[{"question": "consent", "message": "Missing: true to take part, false to decline."}],
            )
    version = response.version if response is not None else survey.current_version
    questions = questions_of(version.definition)
    stored = stored_answers(response)
    merged, problems = answers_merge(questions=questions, stored=stored, given=answers, strict=strict)
    if problems:
        raise _problems_error(problems)
    missing = missing_required(questions=questions, answers=merged)
    if submit and missing:
        raise _problems_error(
            [AnswerProblem(q["code"], f"'{q['code']}' is required: answer it before submitting.") for q in missing]
        )
    new_token = None
    if response is None:
        if link.is_open_link:
            survey = _locked(survey)
            _check_cap(survey)
            new_token = secrets.token_urlsafe(32)
            invitation = Invitation.objects.create(
                survey=survey, token_hash=token_hash(new_token), batch=OPEN_LINK_BATCH, from_open_link=True
            )
        else:
            invitation = link.invitation
        response = SurveyResponse.objects.create(
            survey=survey, version=version, invitation=invitation, consent_at=_today()
        )
    touched = (set(answers) & (set(merged) | set(stored))) | (set(stored) - set(merged))
    _answers_write(response=response, answers=merged, touched=touched)
    if submit:
        if response.invitation.from_open_link:
            _check_cap(_locked(survey))
        response.status = SurveyResponse.Status.SUBMITTED
        response.submitted_at = _today()
        response.save(update_fields=["status", "submitted_at"])
        response.invitation.used_at = _today()
        response.invitation.save(update_fields=["used_at"])
    return Answered(
        status=response.status, response=response, token=new_token, missing=tuple(q["code"] for q in missing)
    )
