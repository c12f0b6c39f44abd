from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from labelling.models import Membership, Study
from tests.conftest import site_user
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command("create_study", *args, stdout=out)
    return out.getvalue()


def test_creates_a_study_from_a_template_with_owner_name_and_k():
    owner = site_user("olivia", "researcher")
    out = _run("keras-silent", "--template", "silent-bugs", "--owner", "olivia", "--name", "Keras silent", "--k", "3")
    study = Study.objects.get(slug="keras-silent")
    assert (study.name, study.overlap_k, study.template_slug) == ("Keras silent", 3, "silent-bugs")
    assert study.codebook.dimensions.count() == 9
    assert Membership.objects.get(study=study).user == owner
    assert "Created study 'keras-silent'" in out and "9 dimensions" in out


def test_defaults_to_the_first_superuser_and_the_template_name():
    UserFactory(username="plain")
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    _run("tf", "--template", "dl-framework-bugs")
    study = Study.objects.get(slug="tf")
    assert study.created_by == admin and study.name.startswith("DL framework bugs")
    assert study.overlap_k == 2


def test_unknown_template_lists_the_valid_ones():
    UserFactory(username="olivia")
    with pytest.raises(CommandError) as err:
        _run("x", "--template", "nope", "--owner", "olivia")
    assert "dl-framework-bugs" in str(err.value) and "silent-bugs" in str(err.value)
    assert not Study.objects.exists()


def test_unknown_owner_lists_the_valid_users():
    UserFactory(username="olivia")
    with pytest.raises(CommandError) as err:
        _run("x", "--template", "silent-bugs", "--owner", "ghost")
    assert "ghost" in str(err.value) and "olivia" in str(err.value)
    assert not Study.objects.exists()


def test_no_owner_and_no_superuser_says_what_to_do():
    with pytest.raises(CommandError, match="--owner"):
        _run("x", "--template", "silent-bugs")


def test_an_owner_without_the_researcher_role_is_refused_with_the_fix():
    UserFactory(username="olivia")
    with pytest.raises(CommandError, match="site_group add olivia researcher"):
        _run("x", "--template", "silent-bugs", "--owner", "olivia")
    assert not Study.objects.exists()


def test_duplicate_slug_and_bad_k_are_command_errors():
    site_user("olivia", "researcher")
    _run("x", "--template", "silent-bugs", "--owner", "olivia")
    with pytest.raises(CommandError, match="Choose another slug"):
        _run("x", "--template", "silent-bugs", "--owner", "olivia")
    with pytest.raises(CommandError, match="at least 1"):
        _run("y", "--template", "silent-bugs", "--owner", "olivia", "--k", "0")
    assert Study.objects.count() == 1
