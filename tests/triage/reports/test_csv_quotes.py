"""Report files in CSV with broken quotes (issue 10, point 7): the file is refused with the line
where the quoted value starts and how to fix it, and nothing is written; legal quoting still works."""

import pytest
from django.core.management import CommandError, call_command

from config.errors import ApplicationError
from tests.factories import ReportFactory
from triage.models import Report
from triage.reports.services import reports_import

pytestmark = pytest.mark.django_db

HEADER = "source_id,framework,title,body\n"


def ten_lines(line3: str) -> str:
    """A header and 9 reports (lines 2-10), line 3 replaced by ``line3``."""
    lines = [HEADER] + [f"q#{n},jax,Report {n},Body {n}\n" for n in range(2, 11)]
    lines[2] = line3
    assert len(lines) == 10
    return "".join(lines)


UNTERMINATED = ten_lines('q#3,jax,"Quoted title that is never closed,Body 3\n')


def _only_problem(exc_info) -> dict:
    (problem,) = exc_info.value.details
    return problem


def test_an_unterminated_quote_refuses_the_file_with_its_line(write_file):
    existing = ReportFactory(source_id="q#2", title="Before")
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=write_file("reports.csv", UNTERMINATED))
    problem = _only_problem(exc_info)
    assert problem["line"] == 3
    assert "no closing quote" in problem["message"]
    assert 'close the quote, and write a quote inside a quoted value twice ("")' in problem["message"]
    assert "nothing was imported" in exc_info.value.message
    existing.refresh_from_db()
    assert existing.title == "Before" and Report.objects.count() == 1  # nothing written, nothing changed


def test_the_import_command_prints_the_line_and_writes_nothing(write_file, capsys):
    path = write_file("reports.csv", UNTERMINATED)
    with pytest.raises(CommandError, match="1 problem; nothing was imported"):
        call_command("import_reports", str(path))
    err = capsys.readouterr().err
    assert "line 3: cannot be read as CSV: the quoted value that starts on this line has no closing quote" in err
    assert Report.objects.count() == 0


def test_the_quote_is_found_on_its_own_line_after_a_legal_multi_line_body(write_file):
    text = HEADER + 'q#1,jax,One,"body on\ntwo lines"\nq#2,jax,Two,"ok\nbody","extra never closed\nq#3,jax,Three,\n'
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=write_file("reports.csv", text))
    assert _only_problem(exc_info)["line"] == 5
    assert Report.objects.count() == 0


def test_text_after_a_closing_quote_is_refused_with_its_line(write_file):
    with pytest.raises(ApplicationError) as exc_info:
        reports_import(source=write_file("reports.csv", ten_lines('q#3,jax,"Quoted" and more,Body 3\n')))
    problem = _only_problem(exc_info)
    assert problem["line"] == 3 and "followed by more text" in problem["message"]
    assert Report.objects.count() == 0


def test_an_unterminated_quote_in_the_header_is_refused(write_file):
    with pytest.raises(ApplicationError, match=r"The CSV header \(line 1\) cannot be read: the quoted value"):
        reports_import(source=write_file("reports.csv", 'source_id,"framework,title\nq#1,jax,One\n'))


def test_legal_multi_line_and_doubled_quotes_are_still_imported(write_file):
    text = ten_lines('q#3,jax,"Title, with ""quotes""","line one\nline two\n\nline four"\n')
    result = reports_import(source=write_file("reports.csv", text))
    assert result.created == 9
    third = Report.objects.get(source_id="q#3")
    assert third.title == 'Title, with "quotes"' and third.body == "line one\nline two\n\nline four"
    assert Report.objects.get(source_id="q#10").title == "Report 10"
