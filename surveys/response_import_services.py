"""Write imported responses (``surveys.response_import``) in one transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from surveys.models import Answer, Question, Response, Survey
from surveys.response_import import read_responses


@transaction.atomic
def survey_responses_import(*, survey: Survey, source, mapping: dict | None = None) -> dict:
    """Check every row of ``source`` against the survey's current version, then store them all as
    submitted responses to that version, or nothing: any bad row raises ``ApplicationError`` with
    every problem (line, column, message) in ``details``.

    Imported responses have no invitation; their consent and submission days are the file's
    ``submitted`` column (today when it is not mapped or empty).
    """
    survey = Survey.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=survey.pk)
    version = survey.current_version
    if version is None:
        raise ApplicationError(
            f"Survey '{survey.slug}' has not been opened yet, so it has no version to import answers into. "
            "Open it first (its questions are frozen as version 1), then import.",
            status=409,
        )
    responses, errors = read_responses(source, version.definition, mapping)
    if errors:
        raise ApplicationError(
            f"Nothing was imported: {len(errors)} problem(s) in the file; the first is {errors[0]}.",
            details=[e.as_dict() for e in errors],
        )
    questions = {q.code: q for q in Question.objects.filter(version=version)}
    missing = sorted({code for r in responses for code in r.answers if code not in questions})
    if missing:  # the definition and its question rows disagree: never half-write
        raise ApplicationError(f"The survey's version {version.number} has no question rows for {', '.join(missing)}.")
    today = timezone.localdate()
    made = Response.objects.bulk_create(
        [
            Response(
                survey=survey,
                version=version,
                status=Response.Status.SUBMITTED,
                consent_at=r.submitted or today,
                submitted_at=r.submitted or today,
            )
            for r in responses
        ]
    )
    answers = []
    for response, imported in zip(made, responses, strict=True):
        for code, value in imported.answers.items():
            question = questions[code]
            if question.kind == Question.Kind.MATRIX:
                answers += [
                    Answer(response=response, question=question, row_code=row, value=point, number=point)
                    for row, point in value.items()
                ]
            else:
                number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                answers.append(Answer(response=response, question=question, value=value, number=number))
    Answer.objects.bulk_create(answers, batch_size=2000)
    return {"imported": len(made), "answers": len(answers), "version": version.number}
