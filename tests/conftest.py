import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from labelling.models import Dimension, Membership
from tests.factories import CategoryFactory, DimensionFactory, MembershipFactory, StudyFactory, UserFactory


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def fuzzer(db, api_client):
    """An API client logged in with the token of a fuzzer account (may POST /api/crashes/)."""
    from rest_framework.authtoken.models import Token

    from triage.models import FuzzerAccount

    user = UserFactory(username="fuzz-bot")
    FuzzerAccount.objects.create(user=user, name="fuzz")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api_client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Factories hash a password for every user; PBKDF2 makes that ~0.3 s each. MD5 in tests only."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty Django cache (e.g. the cached labelling progress)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def site_user(username: str, group: str):
    """A user in one of the site groups (curator, researcher); the groups are made if missing
    (a transactional test's flush removes the ones the migration made)."""
    from triage.permissions import site_group_membership_set

    user = UserFactory(username=username)
    site_group_membership_set(user=user, group=group, member=True)
    return user


@pytest.fixture
def small_study(db):
    """A study with two dimensions (single choice with 3 categories, multiple choice with 3),
    an owner, two annotators and a viewer; an outsider, a curator and a researcher who are in no
    study. Returns a dict of the pieces."""
    study = StudyFactory(slug="small", name="Small study", overlap_k=2)
    codebook = study.codebook
    symptom = DimensionFactory(codebook=codebook, code="symptom", name="Symptom", kind=Dimension.Kind.SINGLE, order=1)
    symptoms = [("crash", "Crash"), ("hang", "Hang"), ("wrong_output", "Incorrect Functionality")]
    for i, (code, name) in enumerate(symptoms):
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
        # site roles, members of no study (triage/permissions.py)
        "curator": site_user("carol", "curator"),
        "researcher": site_user("rita", "researcher"),
    }
    MembershipFactory(study=study, user=people["owner"], role=Membership.Role.OWNER)
    MembershipFactory(study=study, user=people["ann1"], role=Membership.Role.ANNOTATOR)
    MembershipFactory(study=study, user=people["ann2"], role=Membership.Role.ANNOTATOR)
    MembershipFactory(study=study, user=people["viewer"], role=Membership.Role.VIEWER)
    return {"study": study, "symptom": symptom, "component": component, **people}


@pytest.fixture
def labelling_study(small_study):
    """small_study plus three included items, each assigned to both annotators (alice, bob);
    ``items`` in assignment order. (Labelling-page tests.)"""
    from tests.factories import AssignmentFactory, StudyItemFactory

    study = small_study["study"]
    items = [StudyItemFactory(study=study) for _ in range(3)]
    for item in items:
        AssignmentFactory(item=item, annotator=small_study["ann1"])
        AssignmentFactory(item=item, annotator=small_study["ann2"])
    return {**small_study, "items": items}


@pytest.fixture
def requires_bwrap():
    """The real bubblewrap, never a fake: without /usr/bin/bwrap a test skips with a reason that says
    how to install it; under CI=true a missing bubblewrap fails the run instead."""
    if not Path("/usr/bin/bwrap").exists():
        message = "bubblewrap is missing: install it with `apt-get install -y bubblewrap`."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
