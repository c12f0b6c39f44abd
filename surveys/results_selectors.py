"""Reads for survey results: the tally in SQL aggregates, the responses for the exports, the
response rate per invitation batch and the responses per day.

Only submitted responses count. Results are over every version of the survey, matched by
question code and shown with the definition of the current version (or of the one version
asked for with ``version=N``); answers to a question that the shown definition no longer has
are left out, and an option no longer listed is counted after the listed ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, F, Q

from config.errors import ApplicationError
from surveys.exports import ResponseRecord
from surveys.models import Answer, Invitation, Question, Response, Survey, SurveyVersion
from surveys.results import Tally, survey_results

EXPORT_CHUNK = 2000


def results_definition(*, survey: Survey, version: int | None = None) -> tuple[dict, SurveyVersion | None]:
    """The definition the results are shown with, and the version they are restricted to (None: all)."""
    if version is None:
        current = survey.current_version
        return (current.definition if current else survey.definition), None
    chosen = SurveyVersion.objects.filter(survey=survey, number=version).first()
    if chosen is None:
        numbers = list(survey.versions.values_list("number", flat=True))
        raise ApplicationError(
            f"Survey '{survey.slug}' has no version {version}; its versions are: "
            f"{', '.join(map(str, numbers)) or 'none (it has not been opened)'}.",
            details=[{"field": "version", "message": "Choose one of the survey's version numbers."}],
        )
    return chosen.definition, chosen


def submitted_responses(*, survey: Survey, version: SurveyVersion | None = None):
    responses = Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED)
    return responses.filter(version=version) if version is not None else responses


def survey_tally(*, survey: Survey, version: SurveyVersion | None = None) -> Tally:
    """The :class:`surveys.results.Tally` of the survey's submitted responses, counted by the database.

    Choices, scale points and numbers are GROUP BY counts; a multiple-choice answer is counted
    per combination of options in SQL and split into options here; the distinct responses per
    question (and matrix row) are COUNT(DISTINCT). Text answers are read in response order.
    """
    responses = submitted_responses(survey=survey, version=version)
    answers = Answer.objects.filter(response__in=responses)
    tally = Tally(responses=responses.count())

    answered = answers.values(code=F("question__code"), row=F("row_code")).annotate(n=Count("response", distinct=True))
    tally.answered = {(a["code"], a["row"]): a["n"] for a in answered}
    matrix_answered = (
        answers.filter(question__kind=Question.Kind.MATRIX)
        .values(code=F("question__code"))
        .annotate(n=Count("response", distinct=True))
    )
    tally.answered.update({(a["code"], None): a["n"] for a in matrix_answered})

    choices = answers.filter(question__kind__in=[Question.Kind.SINGLE, Question.Kind.MULTI])
    for a in choices.values("value", code=F("question__code")).annotate(n=Count("id")).order_by():
        for option in a["value"] if isinstance(a["value"], list) else [a["value"]]:
            tally.counts[(a["code"], None)][str(option)] += a["n"]

    scales = answers.filter(question__kind__in=[Question.Kind.LIKERT, Question.Kind.MATRIX])
    for a in scales.values("number", code=F("question__code"), row=F("row_code")).annotate(n=Count("id")).order_by():
        point = int(a["number"]) if a["number"] is not None and float(a["number"]).is_integer() else a["number"]
        tally.counts[(a["code"], a["row"])][point] += a["n"]

    numbers = answers.filter(question__kind=Question.Kind.NUMBER, number__isnull=False)
    for a in numbers.values("number", code=F("question__code")).annotate(n=Count("id")).order_by():
        tally.numbers[a["code"]].extend([a["number"]] * a["n"])

    texts = answers.filter(question__kind=Question.Kind.TEXT).order_by("response_id")
    for code, value in texts.values_list("question__code", "value").iterator(chunk_size=EXPORT_CHUNK):
        if value not in (None, ""):
            tally.texts[code].append(str(value))
    return tally


def results_for(*, survey: Survey, version: int | None = None) -> dict:
    """The results document of ``surveys.results.survey_results``, with the survey and version named."""
    definition, chosen = results_definition(survey=survey, version=version)
    out = {"survey": survey.slug, "version": chosen.number if chosen else None}
    out.update(survey_results(definition, survey_tally(survey=survey, version=chosen)))
    return out


def response_records(*, survey: Survey, version: SurveyVersion | None = None) -> Iterator[ResponseRecord]:
    """Every submitted response with its answers in the answering API's shape, in id order, read in chunks."""
    responses = submitted_responses(survey=survey, version=version).order_by("id")
    last = 0
    while True:
        chunk = list(responses.filter(id__gt=last).values_list("id", "submitted_at")[:EXPORT_CHUNK])
        if not chunk:
            return
        answers: dict = defaultdict(dict)
        rows = Answer.objects.filter(response_id__in=[r[0] for r in chunk]).values_list(
            "response_id", "question__code", "question__kind", "row_code", "value"
        )
        for response_id, code, kind, row, value in rows.order_by("response_id", "id"):
            if kind == Question.Kind.MATRIX:
                answers[response_id].setdefault(code, {})[row] = value
            else:
                answers[response_id][code] = value
        for response_id, submitted in chunk:
            yield ResponseRecord(response_id, submitted, answers.get(response_id, {}))
        last = chunk[-1][0]


def response_rate_by_batch(*, survey: Survey) -> list[dict]:
    """Invitations made and responses submitted per batch; the open link and imports on their own rows."""
    submitted = Q(response__status=Response.Status.SUBMITTED)
    rows = (
        Invitation.objects.filter(survey=survey)
        .values("batch", "from_open_link")
        .annotate(invited=Count("id"), responded=Count("id", filter=submitted))
        .order_by("from_open_link", "batch")
    )
    out = []
    for r in rows:
        label = "Open link" if r["from_open_link"] else (r["batch"] or "(no batch)")
        rate = round(100.0 * r["responded"] / r["invited"], 1) if r["invited"] and not r["from_open_link"] else None
        out.append({"batch": label, "invited": r["invited"], "responded": r["responded"], "rate": rate})
    without = submitted_responses(survey=survey).filter(invitation__isnull=True).count()
    if without:
        out.append({"batch": "Imported or unlinked", "invited": None, "responded": without, "rate": None})
    return out


def responses_per_day(*, survey: Survey) -> list[dict]:
    """Submitted responses per day (dates are stored rounded to the day), with the running total."""
    per_day = submitted_responses(survey=survey).values("submitted_at").annotate(n=Count("id")).order_by("submitted_at")
    total, out = 0, []
    for r in per_day:
        total += r["n"]
        out.append(
            {"day": r["submitted_at"].isoformat() if r["submitted_at"] else "", "responses": r["n"], "total": total}
        )
    return out
