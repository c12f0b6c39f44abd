import pytest
from rest_framework.test import APIClient

from labelling.models import Dimension, Membership
from tests.factories import CategoryFactory, DimensionFactory, MembershipFactory, StudyFactory, UserFactory


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def small_study(db):
    """A study with two dimensions (single choice with 3 categories, multiple choice with 3),
    an owner, two annotators and a viewer. Returns a dict of the pieces."""
    study = StudyFactory(slug="small", name="Small study", overlap_k=2)
    codebook = study.codebook
    symptom = DimensionFactory(codebook=codebook, code="symptom", name="Symptom", kind=Dimension.Kind.SINGLE, order=1)
    for i, (code, name) in enumerate([("crash", "Crash"), ("hang", "Hang"), ("wrong_output", "Incorrect Functionality")]):
        CategoryFactory(dimension=symptom, code=code, name=name, order=i, shortcut=str(i + 1))
    component = DimensionFactory(
        codebook=codebook, code="component", name="Component", kind=Dimension.Kind.MULTI, max_choices=2, order=2
    )
    for i, (code, name) in enumerate([("layers", "Layers"), ("model", "Model"), ("optimizer", "Optimizer")]):
        CategoryFactory(dimension=component, code=code, name=name, order=i, shortcut="abc"[i])
    people = {
        "owner": UserFactory(username="olivia"),
        "ann1": UserFactory(username="alice"),
        "ann2": UserFactory(username="bob"),
        "viewer": UserFactory(username="victor"),
        "outsider": UserFactory(username="mallory"),
    }
    MembershipFactory(study=study, user=people["owner"], role=Membership.Role.OWNER)
    MembershipFactory(study=study, user=people["ann1"], role=Membership.Role.ANNOTATOR)
    MembershipFactory(study=study, user=people["ann2"], role=Membership.Role.ANNOTATOR)
    MembershipFactory(study=study, user=people["viewer"], role=Membership.Role.VIEWER)
    return {"study": study, "symptom": symptom, "component": component, **people}
