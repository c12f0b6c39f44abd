"""labelling/management/commands/import_labels.py: output and exit status of the CLI."""

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labelling.models import Annotation, FinalLabel, Membership
from tests.factories import ReportFactory, StudyItemFactory

HEADER = "source_id,annotator,dimension,value,note\n"


@pytest.fixture
def study(small_study):
    StudyItemFactory(study=small_study["study"], report=ReportFactory(source_id="gh#1"))
    ReportFactory(source_id="gh#2")
    return small_study


def write(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_prints_the_summary(study, tmp_path):
    path = write(
        tmp_path,
        HEADER + "gh#1,alice,symptom,crash,\ngh#1,rater_a,symptom,Crash,\ngh#2,rater_b,component,layers;model,\n"
        "gh#2,,symptom,hang,\n",
    )
    out = io.StringIO()
    call_command("import_labels", "--study", "small", path, "--create-annotators", stdout=out)
    text = out.getvalue()
    assert "Labels imported:" in text
    assert "items added to the study: 1" in text
    assert "annotations: 3 created, 0 updated, 0 unchanged" in text
    assert "final labels: 1 set, 0 unchanged" in text
    assert "created 2 accounts: rater_a, rater_b (no password; set one in the admin)" in text
    assert "new annotators of the study: rater_a, rater_b" in text
    assert Annotation.objects.count() == 3 and FinalLabel.objects.filter(method="imported").count() == 1

    again = io.StringIO()
    call_command("import_labels", "--study", "small", path, stdout=again)
    assert "annotations: 0 created, 0 updated, 3 unchanged" in again.getvalue()
    assert "nothing changed" in again.getvalue()


def test_annotators_who_are_not_in_the_study_are_refused_without_create_annotators(study, tmp_path):
    path = write(
        tmp_path, HEADER + "gh#1,alice,symptom,crash,\ngh#1,rater_a,symptom,crash,\ngh#1,mallory,symptom,hang,\n"
    )
    with pytest.raises(CommandError) as exc:
        call_command("import_labels", "--study", "small", path, stdout=io.StringIO())
    message = str(exc.value)
    assert "2 problems" in message and "nothing was imported" in message
    assert "line 3 (annotator): No account is named 'rater_a'" in message and "--create-annotators" in message
    assert "line 4 (annotator): 'mallory' is not a member of this study" in message
    assert Annotation.objects.count() == 0
    assert not get_user_model().objects.filter(username="rater_a").exists()
    assert not Membership.objects.filter(user__username="mallory").exists()

    # --create-annotators creates rater_a; it never enrols mallory, who has an account.
    with pytest.raises(CommandError, match="'mallory' is not a member"):
        call_command("import_labels", "--study", "small", path, "--create-annotators", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="rater_a").exists()


def test_help_says_who_may_receive_labels():
    from labelling.management.commands.import_labels import Command

    parser = Command().create_parser("manage.py", "import_labels")
    text = parser.format_help()
    assert "--create-annotators" in text and "must already be an annotator of the study" in " ".join(text.split())


def test_dry_run_writes_nothing(study, tmp_path):
    path = write(tmp_path, HEADER + "gh#1,alice,symptom,crash,\n")
    out = io.StringIO()
    call_command("import_labels", "--study", "small", path, "--dry-run", stdout=out)
    assert out.getvalue().startswith("Dry run: nothing was written")
    assert "annotations: 1 created" in out.getvalue()
    assert Annotation.objects.count() == 0


def test_a_bad_file_is_a_command_error_listing_each_line(study, tmp_path):
    path = write(tmp_path, HEADER + "gh#1,alice,symptom,crash,\ngh#9,alice,symptom,crash,\ngh#1,bob,symptom,boom,\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_labels", "--study", "small", path, stdout=io.StringIO())
    message = str(exc.value)
    assert "2 problems" in message and "nothing was imported" in message
    assert "line 3 (source_id): Unknown report 'gh#9'" in message
    assert "line 4 (value): 'boom' is not a category of 'symptom'" in message
    assert Annotation.objects.count() == 0


def test_unknown_study_and_missing_file_are_command_errors(study, tmp_path):
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("import_labels", "--study", "nope", write(tmp_path, HEADER), stdout=io.StringIO())
    with pytest.raises(CommandError, match="No file at"):
        call_command("import_labels", "--study", "small", str(tmp_path / "missing.csv"), stdout=io.StringIO())


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_exit_status_is_non_zero_on_a_bad_file(study, tmp_path):
    """Run the real command in a process: a bad file exits 1 with the problems on stderr, a good one 0."""
    env = {**os.environ, "DATABASE_URL": _database_url()}
    command = [sys.executable, "manage.py", "import_labels", "--study", "small"]
    bad = write(tmp_path, HEADER + "gh#1,alice,symptom,boom,\n")
    proc = subprocess.run([*command, bad], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "line 2 (value): 'boom' is not a category of 'symptom'" in proc.stderr
    good = write(tmp_path, HEADER + "gh#1,alice,symptom,hang,\n")
    proc = subprocess.run([*command, good], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "annotations: 1 created" in proc.stdout
    assert Annotation.objects.get().value == "hang"
