"""The definition schema: the issue's example passes; each mistake is named by section and question."""

import pytest

from config.errors import ApplicationError
from surveys.validation import DEFAULT_CONSENT, definition_validate, questions_of
from tests.surveys.conftest import example


def _problems(document):
    with pytest.raises(ApplicationError) as caught:
        definition_validate(document)
    return [f"{d['where']}: {d['message']}" for d in caught.value.details]


def test_the_issue_example_is_valid_and_normalised():
    clean = definition_validate(example())
    questions = questions_of(clean)
    assert [q["code"] for q in questions] == ["familiar", "tools", "scale", "wrong_shape", "years", "comments"]
    assert [q["section"] for q in questions] == [0, 0, 0, 1, 1, 1]
    assert questions[1]["required"] is False  # the default
    assert questions[3]["category"] == "effect/wrong_shape"


def test_missing_consent_gets_the_default_text():
    doc = example()
    del doc["consent"]
    assert definition_validate(doc)["consent"] == DEFAULT_CONSENT


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["sections"][0]["questions"][0].pop("options"),
            "Section 1 ('About you'), question 1 ('familiar'): 'options'",
        ),
        (
            lambda d: d["sections"][1]["questions"][0].update(min=5, max=1),
            "Section 2 ('Wrong shape'), question 1 ('wrong_shape'): 'min' (5) must be below 'max' (1)",
        ),
        (
            lambda d: d["sections"][1]["questions"][2].update(code="familiar"),
            "question 3 ('familiar'): The code 'familiar' is used by an earlier question",
        ),
        (lambda d: d["sections"][0]["questions"][1].update(kind="dropdown"), "'kind' must be one of"),
        (lambda d: d["sections"][0]["questions"][1].update(optoins=["a"]), "'optoins' is not a key here"),
        (
            lambda d: d["sections"][1]["questions"][1].update(condition={"question": "comments", "equals": "x"}),
            "not an earlier question",
        ),
        (
            lambda d: d["sections"][1]["questions"][1].update(condition={"question": "familiar", "equals": "Maybe"}),
            "'Maybe' is not an option of 'familiar'",
        ),
        (
            lambda d: d["sections"][1]["questions"][0]["rows"].append({"code": "clear", "text": "again"}),
            "row 3: Row code 'clear' is used twice",
        ),
        (
            lambda d: d["sections"][1]["questions"][0].update(category="wrong shape"),
            "'category' must be 'dimension/category'",
        ),
        (lambda d: d["sections"][1].update(questions=[]), "Section 2 ('Wrong shape'): 'questions' must be a list"),
        (lambda d: d.update(sections=[]), "survey: 'sections' must be a list"),
        (lambda d: d["sections"][0]["questions"][2].update(max=20), "at most 11 points"),
        (lambda d: d["sections"][0]["questions"][0].update(required="yes"), "'required' must be true or false"),
        (lambda d: d["sections"][1]["questions"][1].update(min="zero"), "'min' must be a number, not text"),
    ],
)
def test_each_mistake_names_where_and_what_to_fix(change, expected):
    doc = example()
    change(doc)
    problems = _problems(doc)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_listed_not_only_the_first():
    doc = example()
    doc["title"] = ""
    doc["sections"][0]["questions"][1]["options"] = []
    doc["sections"][1]["questions"][1]["max"] = "x"
    assert len(_problems(doc)) == 3


def test_not_an_object():
    with pytest.raises(ApplicationError, match="JSON object"):
        definition_validate([1, 2])
