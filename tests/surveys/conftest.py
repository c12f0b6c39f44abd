import copy

import pytest

from surveys.services import invitations_make, survey_create, survey_open

# The example document, every question kind, plus a condition.
EXAMPLE = {
    "title": "Silent bugs in Keras",
    "intro": "We study **silent bugs**.",
    "consent": "Your answers are anonymous. <script>alert('x')</script>",
    "sections": [
        {
            "title": "About you",
            "description": "A few questions about *your* work.",
            "questions": [
                {
                    "code": "familiar",
                    "kind": "single",
                    "text": "Do you use Keras?",
                    "options": ["Yes", "No"],
                    "required": True,
                },
                {"code": "tools", "kind": "multi", "text": "Which tools?", "options": ["a", "b", "c"]},
                {
                    "code": "scale",
                    "kind": "likert",
                    "text": "How often do you meet silent bugs?",
                    "min": 1,
                    "max": 5,
                    "min_label": "Never",
                    "max_label": "Daily",
                },
            ],
        },
        {
            "title": "Wrong shape",
            "description": "The output has a wrong shape.",
            "questions": [
                {
                    "code": "wrong_shape",
                    "kind": "matrix",
                    "text": "Agree?",
                    "min": 1,
                    "max": 5,
                    "rows": [{"code": "clear", "text": "Clear"}, {"code": "relevant", "text": "Relevant"}],
                    "category": "effect/wrong_shape",
                    "required": True,
                },
                {
                    "code": "years",
                    "kind": "number",
                    "text": "Years with Keras?",
                    "min": 0,
                    "max": 50,
                    "condition": {"question": "familiar", "equals": "Yes"},
                },
                {"code": "comments", "kind": "text", "text": "Comments", "long": True, "required": False},
            ],
        },
    ],
}
FULL_ANSWERS = {
    "familiar": "Yes",
    "tools": ["a"],
    "scale": 4,
    "wrong_shape": {"clear": 5, "relevant": 4},
    "years": 3,
    "comments": "Nice survey",
}


def example():
    return copy.deepcopy(EXAMPLE)


@pytest.fixture
def open_survey(small_study):
    """The example survey of the small study, open, with three invitation links."""
    survey = survey_create(study=small_study["study"], slug="keras", definition=example(), created_by=None)
    survey = survey_open(survey=survey, user=small_study["owner"])
    tokens = [m.token for m in invitations_make(survey=survey, count=3, batch="mail")]
    return {**small_study, "survey": survey, "tokens": tokens}
