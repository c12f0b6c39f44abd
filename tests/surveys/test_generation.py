"""Generating a survey from both shipped codebook templates."""

import pytest

from labelling.codebook_templates import load_template
from labelling.services.studies import study_create
from surveys.generation import DEFAULT_STATEMENTS, definition_from_codebook
from surveys.services import survey_create
from surveys.validation import definition_validate, questions_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _flat(categories):
    for c in categories:
        yield c
        yield from _flat(c.get("children", []))


@pytest.mark.parametrize(
    ("template", "dimensions"),
    [
        ("dl-framework-bugs", ["root_cause", "symptom", "component", "stage"]),
        ("silent-bugs", ["effect", "threat_level"]),
    ],
)
def test_generated_from_each_template(template, dimensions):
    owner = UserFactory()
    study = study_create(slug=f"s-{template}", name=template, owner=owner, template_slug=template)
    definition = definition_from_codebook(study=study, dimensions=dimensions)
    definition_validate(definition)  # raises on any problem
    survey = survey_create(study=study, slug=f"survey-{template}", definition=definition, created_by=owner)
    questions = questions_of(survey.definition)
    shipped = {d["code"]: d for d in load_template(template)["dimensions"]}
    for code in dimensions:
        dim = shipped[code]
        categories = list(_flat(dim["categories"]))
        asked = [q for q in questions if q.get("category", "").startswith(f"{code}/")]
        if dim["kind"] == "ordinal":
            # one Likert per level, in the scale's order
            assert [q["kind"] for q in asked] == ["likert"] * len(categories)
            assert [q["category"] for q in asked] == [f"{code}/{c['code']}" for c in categories]
        else:
            assert len(asked) == 3 * len(categories)
            for c in categories:
                mine = [q for q in asked if q["category"] == f"{code}/{c['code']}"]
                assert [q["kind"] for q in mine] == ["matrix", "single", "text"]
                assert [r["text"] for r in mine[0]["rows"]] == [t for _, t in DEFAULT_STATEMENTS]
                assert mine[1]["text"] == "Have you met such a bug?" and mine[1]["options"] == ["Yes", "No"]
                section = survey.definition["sections"][mine[0]["section"]]
                if c.get("definition"):
                    assert c["definition"].strip() in section["description"]
                if c.get("example"):
                    assert c["example"].strip() in section["description"]


def test_unknown_and_text_dimensions_are_refused(small_study):
    from config.errors import ApplicationError
    from tests.factories import DimensionFactory

    DimensionFactory(codebook=small_study["study"].codebook, code="notes", kind="text")
    with pytest.raises(ApplicationError, match="no dimension 'nope'; use one of: symptom, component"):
        definition_from_codebook(study=small_study["study"], dimensions=["nope"])
    with pytest.raises(ApplicationError, match="no categories"):
        definition_from_codebook(study=small_study["study"], dimensions=["notes"])
