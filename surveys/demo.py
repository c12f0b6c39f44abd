"""The demo survey for ``load_demo``: generated from the demo study's codebook (the symptom
dimension), open, with a batch of invitations of which five are answered. Safe to run twice."""

from __future__ import annotations

from django.db import transaction

from surveys.generation import definition_from_codebook
from surveys.models import Survey
from surveys.services import invitations_make, response_answer, survey_create, survey_open

DEMO_SURVEY_SLUG = "dl-bugs-demo-symptoms"
DEMO_INVITATIONS = 8
# Five respondents' answers to the three statements (clear, relevant, hard to detect), whether
# they met such a bug, per symptom category; the first category gets a comment.
_ANSWERS = [
    ((5, 5, 2), "Yes"),
    ((4, 5, 3), "Yes"),
    ((4, 4, 4), "No"),
    ((3, 4, 5), "Yes"),
    ((5, 3, 2), "No"),
]


@transaction.atomic
def demo_survey_load(*, study, owner) -> str | None:
    """Make the demo survey once; returns one unused invitation token (None if it existed)."""
    if Survey.objects.filter(slug=DEMO_SURVEY_SLUG).exists():
        return None
    definition = definition_from_codebook(study=study, dimensions=["symptom"], title="Do our symptom categories fit?")
    survey = survey_create(study=study, slug=DEMO_SURVEY_SLUG, definition=definition, created_by=owner)
    survey = survey_open(survey=survey, user=owner)
    tokens = [m.token for m in invitations_make(survey=survey, count=DEMO_INVITATIONS, batch="demo mailing")]
    sections = survey.current_version.definition["sections"]
    for n, (token, (scores, met)) in enumerate(zip(tokens, _ANSWERS, strict=False)):
        answers = {}
        for s_index, section in enumerate(sections):
            matrix, met_q, comment_q = section["questions"]
            shift = (s_index + n) % 2  # some spread between categories
            answers[matrix["code"]] = {
                row["code"]: max(1, min(5, score - shift)) for row, score in zip(matrix["rows"], scores, strict=True)
            }
            answers[met_q["code"]] = met if s_index % 3 else "Yes"
            if s_index == 0 and n < 2:
                answers[comment_q["code"]] = ["Crashes are easy to spot.", "Clear, but overlaps with hangs."][n]
        response_answer(token=token, consent=True, answers=answers, submit=True)
    return tokens[len(_ANSWERS)]
