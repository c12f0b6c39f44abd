"""create_survey and survey_invitations."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from surveys.models import Invitation, Survey
from surveys.services import survey_open
from tests.surveys.conftest import example

pytestmark = pytest.mark.django_db


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_from_file_and_from_codebook(small_study, tmp_path):
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(example()))
    out, _ = _run("create_survey", "keras", "--study", "small", "--from", str(path))
    assert "2 sections, 6 questions" in out
    out, _ = _run("create_survey", "cats", "--study", "small", "--from-codebook", "symptom")
    assert "3 sections, 9 questions" in out
    assert set(Survey.objects.values_list("slug", flat=True)) == {"keras", "cats"}


def test_create_errors_say_what_to_fix(small_study, tmp_path):
    with pytest.raises(CommandError, match="No study 'nope'"):
        _run("create_survey", "x", "--study", "nope", "--from-codebook", "symptom")
    bad = example()
    bad["sections"][0]["questions"][2]["min"] = 7
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(CommandError, match=r"question 3 \('scale'\): 'min' \(7\) must be below 'max' \(5\)"):
        _run("create_survey", "x", "--study", "small", "--from", str(path))
    path.write_text("{")
    with pytest.raises(CommandError, match="is not JSON"):
        _run("create_survey", "x", "--study", "small", "--from", str(path))
    assert Survey.objects.count() == 0


def test_invitations_print_one_working_url_per_line(small_study):
    _run("create_survey", "cats", "--study", "small", "--from-codebook", "symptom")
    survey_open(survey=Survey.objects.get(), user=None)
    out, err = _run("survey_invitations", "cats", "--count", "4", "--batch", "list", "--base-url", "https://x.org/")
    urls = out.split()
    assert len(urls) == 4 and len(set(urls)) == 4
    assert all(u.startswith("https://x.org/s/") for u in urls)
    assert Invitation.objects.filter(batch="list").count() == 4
    token = urls[0].rstrip("/").rsplit("/", 1)[1]
    assert APIClient().get(f"/api/surveys/respond/{token}/").status_code == 200
    with pytest.raises(CommandError, match="between 1 and 5000"):
        _run("survey_invitations", "cats", "--count", "0")
