"""Label files with broken quotes (issue 10, point 7): refused with the line where the quoted
value starts and how to fix it, nothing imported; a legal multi-line note is still read."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from labelling.models import Annotation
from tests.factories import ReportFactory

HEADER = "source_id,annotator,dimension,value,note\n"


@pytest.fixture
def study(small_study):
    for n in range(1, 10):
        ReportFactory(source_id=f"gh#{n}")
    return small_study


def ten_lines(line3: str) -> str:
    """A header and 9 labels by alice (lines 2-10), line 3 replaced by ``line3``."""
    lines = [HEADER] + [f"gh#{n},alice,symptom,crash,note {n}\n" for n in range(1, 10)]
    lines[2] = line3
    assert len(lines) == 10
    return "".join(lines)


UNTERMINATED = ten_lines('gh#2,alice,symptom,hang,"a note that is never closed\n')


def _post(api_client, user, text):
    api_client.force_authenticate(user)
    upload = SimpleUploadedFile("labels.csv", text.encode("utf-8"), content_type="text/csv")
    return api_client.post(reverse("labelling-api:labels-import", args=["small"]), {"file": upload}, format="multipart")


def test_an_unterminated_quote_is_a_400_naming_its_line_and_nothing_is_imported(api_client, study):
    response = _post(api_client, study["owner"], UNTERMINATED)
    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["message"]
    (problem,) = body["details"]
    assert (problem["line"], problem["field"]) == (3, "file")
    assert "the quoted value that starts on this line has no closing quote" in problem["message"]
    assert 'write a quote inside a quoted value twice ("")' in problem["message"]
    assert not Annotation.objects.exists()


def test_the_import_command_names_the_line(study, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(UNTERMINATED, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("import_labels", "--study", "small", str(path), stdout=io.StringIO())
    assert "line 3 (file): The file is not valid CSV here: the quoted value" in str(caught.value)
    assert not Annotation.objects.exists()


def test_text_after_a_closing_quote_is_refused_with_its_line(api_client, study):
    response = _post(api_client, study["owner"], ten_lines('gh#2,alice,symptom,hang,"quoted" then more\n'))
    assert response.status_code == 400
    (problem,) = response.json()["details"]
    assert problem["line"] == 3 and "followed by more text" in problem["message"]
    assert not Annotation.objects.exists()


def test_a_legal_multi_line_note_with_doubled_quotes_is_imported(api_client, study):
    text = ten_lines('gh#2,alice,symptom,hang,"first line\nsecond, with ""quotes"""\n')
    response = _post(api_client, study["owner"], text)
    assert response.status_code == 200, response.json()
    assert Annotation.objects.count() == 9
    assert Annotation.objects.get(item__report__source_id="gh#2").note == 'first line\nsecond, with "quotes"'
